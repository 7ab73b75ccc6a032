//! CPU-bound work (key generation, certificate verification, key parsing) on tokio's blocking
//! threads, a bounded number at a time, so the async workers that answer every other request
//! never wait behind it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use super::PkiError;

/// The gauges one kind of work reports: how many jobs run now and how many wait for a permit.
#[derive(Debug, Clone, Copy)]
pub struct WorkGauges {
    pub in_flight: &'static str,
    pub queued: &'static str,
}

/// Runs closures on blocking threads, at most `limit` at a time. Cheap to clone; clones share
/// the permits.
#[derive(Clone, Debug)]
pub struct CpuLimiter {
    permits: Arc<Semaphore>,
    limit: usize,
    gauges: WorkGauges,
    counts: Arc<Counts>,
}

/// The gauges' values, kept here as well: the metrics recorder is process-wide, so tests (and
/// `/metrics` sampling) read one limiter's own numbers from these.
#[derive(Debug, Default)]
struct Counts {
    in_flight: AtomicUsize,
    queued: AtomicUsize,
    /// Woken whenever either count changes, for those who wait on a load (tests, mostly).
    changed: tokio::sync::Notify,
}

impl CpuLimiter {
    /// A limit of 0 is taken as 1: no permit at all would make every job wait forever.
    pub fn new(limit: usize, gauges: WorkGauges) -> Self {
        let limit = limit.max(1);
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            gauges,
            counts: Arc::default(),
        }
    }

    /// How many jobs may run at once.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Jobs running on a blocking thread now.
    pub fn in_flight(&self) -> usize {
        self.counts.in_flight.load(Ordering::SeqCst)
    }

    /// Jobs waiting for a permit now.
    pub fn queued(&self) -> usize {
        self.counts.queued.load(Ordering::SeqCst)
    }

    /// Returns once at least `in_flight` jobs run and at least `queued` wait.
    pub async fn wait_for_load(&self, in_flight: usize, queued: usize) {
        loop {
            let changed = self.counts.changed.notified();
            tokio::pin!(changed);
            // Registered before the counts are read, so a change in between wakes it.
            changed.as_mut().enable();
            if self.in_flight() >= in_flight && self.queued() >= queued {
                return;
            }
            changed.await;
        }
    }

    /// Runs `work` on a blocking thread once a permit is free and returns what it returns.
    /// The permit travels with the blocking task, so a cancelled request cannot let more jobs
    /// run than the limit allows: a job that has started runs to its end.
    pub async fn run<T, F>(&self, work: F) -> Result<T, PkiError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let queued = Slot::take(self.gauges.queued, &self.counts, |c| &c.queued);
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| PkiError::TaskAborted)?;
        drop(queued);
        let in_flight = Slot::take(self.gauges.in_flight, &self.counts, |c| &c.in_flight);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _in_flight = in_flight;
            work()
        })
        .await
        .map_err(|_| PkiError::TaskAborted)
    }
}

/// Adds one to a gauge and to its count for as long as it lives, so every exit (error,
/// cancelled request, panic) takes both back down. Owned, because the in-flight slot moves
/// into the blocking task.
struct Slot {
    gauge: &'static str,
    counts: Arc<Counts>,
    count: fn(&Counts) -> &AtomicUsize,
}

impl Slot {
    fn take(gauge: &'static str, counts: &Arc<Counts>, count: fn(&Counts) -> &AtomicUsize) -> Self {
        metrics::gauge!(gauge).increment(1.0);
        count(counts).fetch_add(1, Ordering::SeqCst);
        counts.changed.notify_waiters();
        Self {
            gauge,
            counts: Arc::clone(counts),
            count,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        metrics::gauge!(self.gauge).decrement(1.0);
        (self.count)(&self.counts).fetch_sub(1, Ordering::SeqCst);
        self.counts.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GAUGES: WorkGauges = WorkGauges {
        in_flight: "test_work_in_flight",
        queued: "test_work_queued",
    };

    /// What the jobs of the concurrency test report, in the order each job sees it.
    #[derive(Debug)]
    enum Event {
        /// The job's task ran up to `run`'s first await: it holds a permit or waits.
        Called,
        /// A work closure started, with how many were running then (itself included).
        Entered {
            running: usize,
            off_runtime: bool,
        },
        Left,
    }

    /// The work closure blocks its thread until the test releases it; the runtime (one thread
    /// here) must keep running other tasks meanwhile, and no more than `limit` closures may
    /// run at once. Everything waits on events, so a broken limit shows as a third closure
    /// entering while two are held, never as a timing difference.
    #[tokio::test(flavor = "current_thread")]
    async fn work_runs_off_the_runtime_with_bounded_concurrency() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::{Mutex, mpsc as std_mpsc};

        const JOBS: usize = 6;
        let limiter = CpuLimiter::new(2, GAUGES);
        let runtime_thread = std::thread::current().id();
        let running = Arc::new(AtomicUsize::new(0));
        let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
        let (release, released) = std_mpsc::channel::<()>();
        let released = Arc::new(Mutex::new(released));
        let jobs: Vec<_> = (0..JOBS)
            .map(|_| {
                let limiter = limiter.clone();
                let running = Arc::clone(&running);
                let events = events_tx.clone();
                let released = Arc::clone(&released);
                tokio::spawn(async move {
                    events.send(Event::Called).unwrap();
                    limiter
                        .run(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            let off_runtime = std::thread::current().id() != runtime_thread;
                            events
                                .send(Event::Entered {
                                    running: now,
                                    off_runtime,
                                })
                                .unwrap();
                            // Blocking the runtime thread would hang the test instead of failing it.
                            if off_runtime {
                                released.lock().unwrap().recv().unwrap();
                            }
                            running.fetch_sub(1, Ordering::SeqCst);
                            events.send(Event::Left).unwrap();
                            "done"
                        })
                        .await
                })
            })
            .collect();
        drop(events_tx);

        let (mut called, mut entered, mut left, mut peak) = (0, 0, 0, 0);
        let mut next = async |want: &dyn Fn(usize, usize, usize) -> bool| {
            while !want(called, entered, left) {
                match events.recv().await.expect("a job reports") {
                    Event::Called => called += 1,
                    Event::Entered {
                        running,
                        off_runtime,
                    } => {
                        assert!(off_runtime, "work ran on the runtime thread");
                        assert!(
                            running <= 2,
                            "{running} closures ran at once; the limit is 2"
                        );
                        peak = peak.max(running);
                        entered += 1;
                    }
                    Event::Left => left += 1,
                }
            }
        };
        // Every job has reached the semaphore and two closures are held inside.
        next(&|c, e, _| c == JOBS && e == 2).await;
        assert_eq!(limiter.in_flight(), 2, "both permits held by work");
        assert_eq!(
            limiter.queued(),
            JOBS - 2,
            "the other jobs wait for a permit"
        );
        for round in 1..=JOBS {
            release.send(()).unwrap();
            // One closure leaves; its permit lets exactly one waiting job in.
            let expected = (2 + round).min(JOBS);
            next(&|_, e, l| l == round && e == expected).await;
        }
        assert_eq!(peak, 2, "the limit was used");
        for job in jobs {
            assert_eq!(job.await.unwrap().unwrap(), "done");
        }
        assert_eq!((limiter.in_flight(), limiter.queued()), (0, 0));
    }
}
