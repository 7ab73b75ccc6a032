//! Work in flight: requests run to completion in their own tasks even when their client hangs
//! up, so shutdown and tests need a way to wait until all of them have finished.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Counts running requests; cheap to clone, every clone counts the same requests.
#[derive(Clone, Debug, Default)]
pub struct InFlight(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    running: AtomicUsize,
    idle: Notify,
}

/// Held while one request runs; dropping it marks the request finished.
#[derive(Debug)]
pub struct Running(Arc<Inner>);

impl InFlight {
    pub fn enter(&self) -> Running {
        self.0.running.fetch_add(1, Ordering::SeqCst);
        Running(Arc::clone(&self.0))
    }

    pub fn running(&self) -> usize {
        self.0.running.load(Ordering::SeqCst)
    }

    /// Returns once no request is running.
    pub async fn idle(&self) {
        loop {
            let notified = self.0.idle.notified();
            tokio::pin!(notified);
            // Registered before the count is read, so a request ending in between wakes it.
            notified.as_mut().enable();
            if self.running() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_waits_for_every_running_request() {
        let in_flight = InFlight::default();
        in_flight.idle().await;
        let first = in_flight.enter();
        let second = in_flight.enter();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let waiter = tokio::spawn({
            let in_flight = in_flight.clone();
            async move {
                let _ = started_tx.send(());
                in_flight.idle().await;
            }
        });
        started_rx.await.unwrap();
        drop(first);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "idle while a request still runs");
        drop(second);
        waiter.await.unwrap();
        assert_eq!(in_flight.running(), 0);
    }
}
