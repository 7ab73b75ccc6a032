//! The change feed: how an instance hears that another instance on the same database changed
//! what the edge serves. On Postgres a trigger (migration `20261202160000`) sends a NOTIFY on
//! [`CHANNEL`] in the transaction of every write to the served tables; each instance LISTENs
//! on a connection of its own. SQLite has one instance and no feed.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::watch;

/// The channel the migration's trigger notifies.
pub const CHANNEL: &str = "edgecert_served";

/// The first pause before listening again after a failure; it doubles up to [`MAX_RETRY`]
/// while failures repeat, so a database that is down costs a connection attempt every few
/// seconds, not a spin.
const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Reports that what the edge serves may have changed elsewhere: a notification arrived, or
/// the feed has (re)started listening and may have missed some. Dropping it stops listening.
#[derive(Debug)]
pub struct ChangeFeed {
    changes: watch::Receiver<u64>,
    listener: tokio::task::JoinHandle<()>,
}

impl ChangeFeed {
    /// Completes once the feed has reported something since [`Self::sequence`] was last
    /// read. Cancel-safe. Never completes if the feed has stopped.
    pub async fn changed(&mut self) {
        if self.changes.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// How many reports the feed has made; reading it counts them as seen. A re-read that
    /// starts after reading `n` covers every change reported up to `n`.
    pub fn sequence(&mut self) -> u64 {
        *self.changes.borrow_and_update()
    }

    /// Listens on Postgres with one connection of its own, opened from `options`.
    pub(super) fn postgres(options: PgConnectOptions, acquire_timeout: Duration) -> Self {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            // The listening connection is held for good; nothing should recycle it.
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(acquire_timeout)
            .connect_lazy_with(options.application_name("edgecert change feed"));
        let (sender, changes) = watch::channel(0);
        let listener = tokio::spawn(listen(pool, sender));
        Self { changes, listener }
    }
}

impl Drop for ChangeFeed {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Listens until aborted, reporting each notification, and each (re)start of listening,
/// since notifications sent while not listening are lost for good.
async fn listen(pool: PgPool, changes: watch::Sender<u64>) {
    let report = || changes.send_modify(|sequence| *sequence += 1);
    let mut retry = FIRST_RETRY;
    // Whether a failure has been logged and not yet followed by a working listener: one line
    // per outage, however many attempts it takes.
    let mut failing = false;
    let mut listened = false;
    loop {
        let mut listener = match subscribe(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                if !failing {
                    failing = true;
                    tracing::warn!(%error, "the edge's change feed cannot listen; retrying (--edge-resync-interval still applies)");
                }
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(MAX_RETRY);
                continue;
            }
        };
        if std::mem::take(&mut failing) {
            tracing::info!("the edge's change feed is listening again");
        } else if !listened {
            tracing::info!(
                channel = CHANNEL,
                "the edge's change feed is listening for other instances' changes"
            );
        }
        listened = true;
        report();
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => {
                    retry = FIRST_RETRY;
                    report();
                }
                // sqlx has already reconnected and listens again (its eager reconnect).
                Ok(None) => {
                    tracing::warn!(
                        "the edge's change feed lost its connection and reconnected; re-reading what is served"
                    );
                    report();
                }
                Err(error) => {
                    failing = true;
                    tracing::warn!(%error, "the edge's change feed lost its connection; reconnecting (--edge-resync-interval still applies)");
                    break;
                }
            }
        }
        // A connection that fails as soon as it is made must not become a loop of attempts.
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(MAX_RETRY);
    }
}

async fn subscribe(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // The pool is the feed's own and is never closed.
    listener.ignore_pool_close_event(true);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
