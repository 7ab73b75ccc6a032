//! A pool of RSA-2048 keys generated ahead of demand, so creating an RSA CSR does not wait for
//! a key generation (tens of milliseconds) while the pool lasts.
//!
//! Pooled keys live in the database, sealed under the master key like every stored key, so
//! instances sharing one Postgres share one pool and a restart keeps it. A claim removes the key
//! from the pool atomically (see [`Store::claim_pool_key`]); an empty pool, or a pool size of 0,
//! means the request generates its key inline as before.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use tokio::sync::{Notify, oneshot, watch};

use crate::pki::keys::GenerationSource;
use crate::pki::{KeyType, MasterKey, PkiError, PrivateKey};
use crate::store::{Store, StoreError, StoredKey};

/// The only key type worth pooling: P-256 keys take microseconds to generate.
pub const POOLED_KEY_TYPE: KeyType = KeyType::Rsa2048;

/// Gauge: keys waiting in the pool, as last counted by this instance's refill task.
pub const POOL_KEYS: &str = "edgecert_rsa_pool_keys";
/// Gauge: the configured pool size (`EDGECERT_RSA_POOL_SIZE`).
pub const POOL_TARGET: &str = "edgecert_rsa_pool_target";
/// Counter, labelled `result`: `hit` when an RSA-2048 CSR took a pooled key, `miss` when the
/// pool was empty and the key was generated inline.
pub const POOL_CLAIMS_TOTAL: &str = "edgecert_rsa_pool_claims_total";

/// How often the refill task recounts the pool when nothing wakes it: another instance sharing
/// the database may have drawn it down.
const RECHECK_EVERY: Duration = Duration::from_secs(15);
/// The pause after a failed refill (database down, say) before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Nice value of the generating thread: the lowest priority, so request handling (including
/// inline key generation) always runs first and the pool fills from idle CPU.
const REFILL_NICENESS: i32 = 19;

/// The pool's handle. Cheap to clone; a size of 0 turns every operation into a no-op.
#[derive(Clone, Debug)]
pub struct KeyPool {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    target: u64,
    store: Arc<dyn Store>,
    master_key: Arc<MasterKey>,
    /// Signalled by every claim, so the refill task tops the pool up at once.
    drawn: Notify,
}

impl KeyPool {
    pub fn new(target: u64, store: Arc<dyn Store>, master_key: Arc<MasterKey>) -> Self {
        let inner = (target > 0).then(|| {
            Arc::new(Inner {
                target,
                store,
                master_key,
                drawn: Notify::new(),
            })
        });
        Self { inner }
    }

    pub fn target(&self) -> u64 {
        self.inner.as_ref().map_or(0, |inner| inner.target)
    }

    /// Takes a pooled key for a new CSR. `None` when the pool is off, does not hold keys of
    /// `key_type`, or is empty: the caller then generates a key itself.
    pub async fn claim(&self, key_type: KeyType) -> Result<Option<StoredKey>, StoreError> {
        let Some(inner) = &self.inner else {
            return Ok(None);
        };
        if key_type != POOLED_KEY_TYPE {
            return Ok(None);
        }
        let claimed = inner.store.claim_pool_key(key_type).await?;
        let result = if claimed.is_some() { "hit" } else { "miss" };
        metrics::counter!(POOL_CLAIMS_TOTAL, "result" => result).increment(1);
        inner.drawn.notify_one();
        Ok(claimed)
    }

    /// Starts the background refill: a tokio task that keeps the pool at its size, and one
    /// low-priority thread that generates the keys. `None` when the pool is off. The work
    /// stops at [`RefillTask::stop`] or when the handle is dropped; a key being generated then
    /// is discarded, a key being stored is stored.
    pub fn start_refill(&self) -> std::io::Result<Option<RefillTask>> {
        let Some(inner) = &self.inner else {
            return Ok(None);
        };
        let generator = Generator::start(Arc::clone(&inner.master_key))?;
        let inner = Arc::clone(inner);
        let (stop, stopping) = watch::channel(());
        let (counted, pool_keys) = watch::channel(0);
        let task = tokio::spawn(async move {
            inner
                .refill_until_stopped(&generator, stopping, &counted)
                .await;
        });
        Ok(Some(RefillTask {
            task,
            stop,
            pool_keys,
        }))
    }

    /// Tops the pool up to its size once and returns how many keys it added; for tests and
    /// tools that want a full pool without the background task.
    pub async fn fill(&self) -> Result<u64, RefillError> {
        let Some(inner) = &self.inner else {
            return Ok(0);
        };
        let generator = Generator::start(Arc::clone(&inner.master_key))?;
        let (_never_stop, mut stopping) = watch::channel(());
        let added = inner.top_up(&generator, &mut stopping, None).await?;
        Ok(added.unwrap_or_default())
    }
}

/// The running refill. Dropping it asks the task to stop at its next safe point without
/// waiting; [`RefillTask::stop`] waits for that.
#[derive(Debug)]
pub struct RefillTask {
    task: tokio::task::JoinHandle<()>,
    /// Dropped to stop: the task sees the channel close.
    stop: watch::Sender<()>,
    pool_keys: watch::Receiver<u64>,
}

impl RefillTask {
    /// Stops the refill and waits until the task has ended: once this returns the task adds no
    /// more keys. A store write already under way finishes first rather than being cut off
    /// (it could still commit after an abort), so this waits at most for that write.
    pub async fn stop(self) {
        let Self { task, stop, .. } = self;
        drop(stop);
        if let Err(error) = task.await
            && error.is_panic()
        {
            std::panic::resume_unwind(error.into_panic());
        }
    }

    /// The number of pooled keys as this task last counted it. It changes only when the count
    /// does, so a caller can await a refill instead of polling the database; `changed()` fails
    /// once the task has ended.
    pub fn pool_keys(&self) -> watch::Receiver<u64> {
        self.pool_keys.clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RefillError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("cannot start the key pool thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Runs `work` unless a stop is asked for first; `None` then, and `work` is dropped.
async fn unless_stopped<T>(
    stopping: &mut watch::Receiver<()>,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        biased;
        // Only the closing of the channel stops: nothing is ever sent on it.
        Err(_) = stopping.changed() => None,
        done = work => Some(done),
    }
}

impl Inner {
    async fn refill_until_stopped(
        &self,
        generator: &Generator,
        mut stopping: watch::Receiver<()>,
        counted: &watch::Sender<u64>,
    ) {
        loop {
            let pause = match self.top_up(generator, &mut stopping, Some(counted)).await {
                Ok(None) => return,
                // A claim made while topping up left a stored permit, so this ends at once then.
                Ok(Some(_)) => RECHECK_EVERY,
                Err(error) => {
                    tracing::warn!(%error, retry_in_seconds = RETRY_AFTER.as_secs(), "could not refill the RSA key pool");
                    RETRY_AFTER
                }
            };
            let wait = tokio::time::timeout(pause, self.drawn.notified());
            if unless_stopped(&mut stopping, wait).await.is_none() {
                return;
            }
        }
    }

    /// Adds keys one at a time until the pool holds `target`, recounting before each: claims,
    /// here or on another instance, go on meanwhile. `None` when stopped first. Store calls
    /// are never cut off: a cancelled insert might still commit.
    async fn top_up(
        &self,
        generator: &Generator,
        stopping: &mut watch::Receiver<()>,
        counted: Option<&watch::Sender<u64>>,
    ) -> Result<Option<u64>, RefillError> {
        let mut added = 0;
        loop {
            let available = self.store.count_pool_keys(POOLED_KEY_TYPE).await?;
            metrics::gauge!(POOL_KEYS).set(available as f64);
            if let Some(counted) = counted {
                counted.send_if_modified(|last| std::mem::replace(last, available) != available);
            }
            if available >= self.target {
                return Ok(Some(added));
            }
            let Some(key) = unless_stopped(stopping, generator.next()).await else {
                return Ok(None);
            };
            self.store.add_pool_key(&key?).await?;
            added += 1;
        }
    }
}

type Reply = oneshot::Sender<Result<StoredKey, PkiError>>;

/// A dedicated thread at the lowest CPU priority that generates and seals pool keys on request.
/// Not tokio's blocking pool: lowering a shared thread's priority would slow the requests that
/// later run on it. One thread bounds the refill to one core.
#[derive(Debug)]
struct Generator {
    requests: mpsc::Sender<Reply>,
}

impl Generator {
    fn start(master_key: Arc<MasterKey>) -> std::io::Result<Self> {
        let (requests, incoming) = mpsc::channel::<Reply>();
        std::thread::Builder::new()
            // Linux shows thread names of up to 15 bytes (top, ps, /proc).
            .name("edgecert-pool".into())
            .spawn(move || {
                lower_priority();
                GenerationSource::Pool.apply_to_this_thread();
                // Ends when the refill task, the only sender, is dropped.
                for reply in incoming {
                    let _ = reply.send(generate_sealed(&master_key));
                }
            })?;
        Ok(Self { requests })
    }

    async fn next(&self) -> Result<StoredKey, PkiError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(reply)
            .map_err(|_| PkiError::TaskAborted)?;
        answer.await.map_err(|_| PkiError::TaskAborted)?
    }
}

/// The plaintext key exists only on the generating thread, and is wiped when it returns.
fn generate_sealed(master_key: &MasterKey) -> Result<StoredKey, PkiError> {
    let key = PrivateKey::generate(POOLED_KEY_TYPE)?;
    StoredKey::seal(&key, master_key)
}

/// On Linux a thread's nice value is its own, so this leaves the rest of the process alone.
fn lower_priority() {
    if let Err(error) = rustix::process::setpriority_process(None, REFILL_NICENESS) {
        tracing::warn!(%error, "cannot lower the key pool thread's priority; it competes with requests for CPU");
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Reads the nice value of this process's threads named `name` from /proc.
    fn nice_values_of(name: &str) -> Vec<i32> {
        let mut values = Vec::new();
        for entry in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            if comm.trim() != name {
                continue;
            }
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            values.push(nice_field(&stat));
        }
        values
    }

    fn nice_field(stat: &str) -> i32 {
        // Fields after the parenthesised command start at field 3; nice is field 19.
        let (_, rest) = stat.rsplit_once(')').unwrap();
        rest.split_whitespace().nth(16).unwrap().parse().unwrap()
    }

    fn main_thread_nice() -> i32 {
        nice_field(&std::fs::read_to_string("/proc/self/stat").unwrap())
    }

    #[tokio::test]
    async fn pool_keys_come_from_a_lowest_priority_thread_and_are_sealed() {
        let main_nice = main_thread_nice();
        let (master_key, _) = MasterKey::generate().unwrap();
        let master_key = Arc::new(master_key);
        let generator = Generator::start(Arc::clone(&master_key)).unwrap();
        let key = generator.next().await.unwrap();
        assert_eq!(key.key_type, KeyType::Rsa2048);
        let opened = key.open(&master_key).unwrap();
        assert_eq!(opened.spki_der(), key.spki_der.as_slice());

        // The thread lowered its own priority before serving the request above.
        let values = nice_values_of("edgecert-pool");
        assert!(!values.is_empty(), "no key pool thread found");
        assert!(
            values.iter().all(|&nice| nice == REFILL_NICENESS),
            "{values:?}"
        );
        // Only that thread: the rest of the process keeps its priority.
        assert_eq!(main_thread_nice(), main_nice);
    }
}
