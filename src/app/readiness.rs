//! The readiness probe behind `/readyz`: at most one database probe runs at a time, and every
//! caller is answered within [`READINESS_WAIT`] whatever the database does.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

/// Each check's name and outcome; a failed check says why (never a secret).
pub type Checks = Vec<(&'static str, Result<(), String>)>;

/// How long `/readyz` waits for a probe before answering "not ready". Under a second, so an
/// orchestrator's probe (often a one-second timeout) always gets an answer.
pub const READINESS_WAIT: Duration = Duration::from_millis(800);

type Outcome = watch::Receiver<Option<Checks>>;

/// The probe in progress, shared by every `/readyz` request that arrives while it runs, so a
/// flood of probes against a slow database costs one database round trip, not one each.
#[derive(Debug, Clone, Default)]
pub struct ReadinessProbe {
    running: Arc<Mutex<Option<Outcome>>>,
}

impl ReadinessProbe {
    /// The outcome of the probe in progress, or of `probe` started now in its own task (so a
    /// caller that gives up waiting does not cancel it), bounded by [`READINESS_WAIT`].
    pub async fn run<F>(&self, probe: impl FnOnce() -> F) -> Checks
    where
        F: Future<Output = Checks> + Send + 'static,
    {
        let mut outcome = self.join_or_start(probe);
        match tokio::time::timeout(READINESS_WAIT, outcome.wait_for(Option::is_some)).await {
            Ok(Ok(checks)) => checks.clone().unwrap_or_else(no_answer),
            // Timed out, or the probe task died without an answer.
            _ => no_answer(),
        }
    }

    fn join_or_start<F>(&self, probe: impl FnOnce() -> F) -> Outcome
    where
        F: Future<Output = Checks> + Send + 'static,
    {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(outcome) = running.as_ref() {
            return outcome.clone();
        }
        let (sender, outcome) = watch::channel(None);
        *running = Some(outcome.clone());
        let finished = Finished(Arc::clone(&self.running));
        let probe = probe();
        tokio::spawn(async move {
            let checks = probe.await;
            // Cleared before the outcome is published, so a request that arrives after it is
            // known starts a fresh probe instead of reusing a stale one.
            drop(finished);
            let _ = sender.send(Some(checks));
        });
        outcome
    }
}

/// Marks the probe finished when dropped, even if the probe task panics, so one failure
/// cannot leave every later `/readyz` waiting on a probe that never answers.
struct Finished(Arc<Mutex<Option<Outcome>>>);

impl Drop for Finished {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

fn no_answer() -> Checks {
    let unknown = || Err("unknown: database unreachable".to_string());
    vec![
        (
            "database",
            Err(format!(
                "no answer within {} ms",
                READINESS_WAIT.as_millis()
            )),
        ),
        ("migrations", unknown()),
        ("key_store", unknown()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_stuck_probe_is_answered_in_time_and_shared_by_concurrent_callers() {
        let probe = ReadinessProbe::default();
        let started = Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let released = Arc::new(tokio::sync::Mutex::new(Some(released)));
        let stuck = || {
            let started = Arc::clone(&started);
            let released = Arc::clone(&released);
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                if let Some(released) = released.lock().await.take() {
                    let _ = released.await;
                }
                vec![("database", Ok(()))]
            }
        };
        let begun = std::time::Instant::now();
        let (first, second) = tokio::join!(probe.run(stuck), probe.run(stuck));
        assert!(
            begun.elapsed() < READINESS_WAIT * 2,
            "{:?}",
            begun.elapsed()
        );
        assert!(
            first[0].1.is_err() && second[0].1.is_err(),
            "{first:?} {second:?}"
        );
        assert_eq!(
            started.load(Ordering::SeqCst),
            1,
            "one probe for both callers"
        );

        // Once the stuck probe ends, the next caller starts a fresh one and gets its answer.
        let _ = release.send(());
        while probe.running.lock().unwrap().is_some() {
            tokio::task::yield_now().await;
        }
        let answer = probe.run(|| async { vec![("database", Ok(()))] }).await;
        assert_eq!(answer, vec![("database", Ok(()))]);
    }
}
