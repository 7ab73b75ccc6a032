//! Managed certificates: for a custom hostname with `ssl.method: "http"` and no uploaded
//! certificate, edgecert orders a DV certificate from an ACME CA, answers the HTTP-01
//! challenge on the edge's plain HTTP listener, and deploys the result, as Cloudflare's
//! edge does. Off unless `EDGECERT_ACME_DIRECTORY` is set.
//!
//! The lifecycle lives in the database (see [`crate::store::ManagedStore`]): a background
//! task claims due work with a lease, so several instances on one database each take
//! different hostnames, and work an instance left half-done is taken up again once its lease
//! runs out. Every step is one transaction; times are read from [`AppState::clock`].

mod account;
mod client;
mod flow;

use std::fmt;
use std::sync::Arc;

use anyhow::Context as _;
use base64::Engine as _;
use time::{Duration, OffsetDateTime};
use tokio::sync::Notify;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{AppState, InternalError};
use crate::config::AcmeArgs;
use crate::pki::KeyType;
use crate::store::{HostnameRecord, ManagedWork, SslOptions, StoreError};

/// How long a claim keeps other workers off a hostname. A step waits at most
/// [`flow::CA_WAIT`] for the CA, so a live worker always finishes well within it; a crashed
/// one's work is taken up again after it.
pub const LEASE: Duration = Duration::minutes(2);
/// How often the background task looks for due work when nothing wakes it.
pub const POLL: std::time::Duration = std::time::Duration::from_secs(1);
/// Hostnames one pass claims at once.
const BATCH: u32 = 8;
/// First retry after a failure, doubled per further failure up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::minutes(1);
pub const MAX_BACKOFF: Duration = Duration::hours(1);

/// The ACME CA edgecert orders from, and the account it uses there.
pub struct Acme {
    directory: String,
    email: Option<String>,
    /// Key id and HMAC key of the external account binding.
    eab: Option<(String, Zeroizing<Vec<u8>>)>,
    http: client::AcmeHttp,
    account: tokio::sync::Mutex<Option<instant_acme::Account>>,
    wake: Notify,
    /// Told each time this instance's work on a hostname ends, so [`check_now`] waits for a
    /// step already running instead of failing.
    released: Notify,
}

impl fmt::Debug for Acme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acme")
            .field("directory", &self.directory)
            .field("eab", &self.eab.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl Acme {
    /// The CA configured by `args`, or `None` when no directory is set.
    pub fn from_args(args: &AcmeArgs) -> anyhow::Result<Option<Arc<Self>>> {
        let Some(directory) = args.directory.clone() else {
            return Ok(None);
        };
        let bundle = match &args.ca_bundle {
            Some(path) => Some(std::fs::read(path).with_context(|| {
                format!("cannot read EDGECERT_ACME_CA_BUNDLE {}", path.display())
            })?),
            None => None,
        };
        let eab = match (&args.eab_kid, &args.eab_hmac_key) {
            (Some(kid), Some(key)) => Some((kid.clone(), decode_hmac(key.expose())?)),
            (None, None) => None,
            _ => anyhow::bail!(
                "EDGECERT_ACME_EAB_KID and EDGECERT_ACME_EAB_HMAC_KEY must be set together"
            ),
        };
        Ok(Some(Arc::new(Self {
            directory,
            email: args.email.clone(),
            eab,
            http: client::AcmeHttp::new(bundle.as_deref())?,
            account: tokio::sync::Mutex::new(None),
            wake: Notify::new(),
            released: Notify::new(),
        })))
    }

    pub fn directory(&self) -> &str {
        &self.directory
    }

    /// Has the background task look for due work now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// EAB keys are handed out base64url-encoded; some CAs pad them or use the standard alphabet.
fn decode_hmac(text: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let trimmed = text.trim().trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| STANDARD.decode(text.trim()))
        .map(Zeroizing::new)
        // The key itself stays out of the message.
        .map_err(|_| anyhow::anyhow!("EDGECERT_ACME_EAB_HMAC_KEY is not base64url"))
}

/// The key type of the certificate edgecert issues for these settings, or `None` when it
/// issues none (no ACME CA, or a DCV method other than `http`, which only the test controls
/// move on).
///
/// Cloudflare issues a P-256 certificate for every custom hostname and an RSA-2048 one as the
/// fallback for clients without ECDSA support; the API has no field that picks one. edgecert
/// serves one certificate per hostname: P-256, unless `ssl.settings.ciphers` lists only
/// ciphers that need an RSA certificate (none with ECDSA in its name), where the fallback is
/// the one such clients would get.
pub fn managed_key_type(state: &AppState, options: &SslOptions) -> Option<KeyType> {
    state.acme.as_ref()?;
    if options.method.as_deref() != Some("http") {
        return None;
    }
    let ciphers: Vec<&str> = options
        .settings
        .as_ref()
        .and_then(|settings| settings.get("ciphers"))
        .and_then(|ciphers| ciphers.as_array())
        .map(|list| list.iter().filter_map(|c| c.as_str()).collect())
        .unwrap_or_default();
    let rsa_only = !ciphers.is_empty()
        && ciphers
            .iter()
            .all(|cipher| !cipher.to_ascii_uppercase().contains("ECDSA"));
    Some(if rsa_only {
        KeyType::Rsa2048
    } else {
        KeyType::P256v1
    })
}

/// When a failed attempt is retried: [`FIRST_BACKOFF`] after the first failure, doubling
/// up to [`MAX_BACKOFF`].
pub fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    (FIRST_BACKOFF * 2_i32.pow(doublings)).min(MAX_BACKOFF)
}

/// When a certificate is renewed: two thirds into its lifetime (Let's Encrypt's advice for
/// its 90-day certificates is renewal with 30 days left).
pub fn renewal_at(issued: OffsetDateTime, expires: OffsetDateTime) -> OffsetDateTime {
    issued + (expires - issued) * 2 / 3
}

/// Starts the background task that works through due managed certificates; `None` when no
/// ACME CA is configured. It runs until the handle is aborted.
pub fn start(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    let acme = Arc::clone(state.acme.as_ref()?);
    let state = state.clone();
    Some(tokio::spawn(async move {
        tracing::info!(directory = %acme.directory, "managed certificates are ordered from this ACME directory");
        loop {
            let claimed = pass(&state, &acme).await;
            if claimed < BATCH as usize {
                tokio::select! {
                    () = acme.wake.notified() => {}
                    () = tokio::time::sleep(POLL) => {}
                }
            }
        }
    }))
}

/// Claims due work and runs it; returns how many hostnames it claimed.
async fn pass(state: &AppState, acme: &Arc<Acme>) -> usize {
    let now = state.clock.now();
    let batch = match state
        .store
        .claim_managed(now, now + LEASE, None, BATCH)
        .await
    {
        Ok(batch) => batch,
        Err(error) => {
            tracing::warn!(%error, "cannot claim managed certificate work");
            return 0;
        }
    };
    let claimed = batch.len();
    let mut running = tokio::task::JoinSet::new();
    for work in batch {
        let state = state.clone();
        let acme = Arc::clone(acme);
        running.spawn(async move { run(&state, &acme, work).await });
    }
    while running.join_next().await.is_some() {}
    claimed
}

/// Runs claimed work and tells whoever waits for the hostname that the claim is released.
async fn run(state: &AppState, acme: &Acme, work: ManagedWork) {
    flow::process(state, acme, work).await;
    acme.released.notify_waiters();
}

#[derive(Debug, thiserror::Error)]
pub enum ManagedError {
    #[error("no ACME CA is configured (EDGECERT_ACME_DIRECTORY)")]
    NotConfigured,
    #[error("no such custom hostname in this zone")]
    NotFound,
    #[error("edgecert issues no certificate for this hostname")]
    NotManaged,
    /// A worker has held the hostname's lease for as long as [`check_now`] waits.
    #[error("the hostname is being worked on already")]
    Busy,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<StoreError> for ManagedError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            other => Self::Internal(other.into()),
        }
    }
}

/// Runs the hostname's pending work now, whatever its backoff says, and returns the hostname
/// once this step is done (validated and issued, or refused again). For the test controls.
///
/// When a worker is on the hostname already (it was due, or just created), this waits for
/// that step to end and then checks again: the step may have begun before whatever the
/// caller fixed. Up to [`flow::CA_WAIT`], the longest one wait for the CA, so an HTTP
/// client's own timeout is not reached first.
pub async fn check_now(
    state: &AppState,
    zone_id: &str,
    hostname_id: Uuid,
) -> Result<HostnameRecord, ManagedError> {
    let acme = state.acme.as_ref().ok_or(ManagedError::NotConfigured)?;
    let give_up = tokio::time::Instant::now() + flow::CA_WAIT;
    loop {
        // Listening before the claim, so a release between the two is not missed.
        let released = acme.released.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        // Read each time: the hostname may be deleted or stop being managed meanwhile.
        let record = state.store.get_hostname(zone_id, hostname_id).await?;
        if record.managed.is_none() {
            return Err(ManagedError::NotManaged);
        }
        let now = state.clock.now();
        let claimed = state
            .store
            .claim_managed(now, now + LEASE, Some(hostname_id), 1)
            .await?
            .pop();
        if let Some(work) = claimed {
            run(state, acme, work).await;
            return Ok(state.store.get_hostname(zone_id, hostname_id).await?);
        }
        if tokio::time::Instant::now() >= give_up {
            return Err(ManagedError::Busy);
        }
        // This instance's worker says when it lets go; another instance's is looked for again
        // as often as the background task looks for due work.
        tokio::select! {
            () = &mut released => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Why a step did not get through.
#[derive(Debug)]
enum Failure {
    /// The CA refused (validation failed, order invalid): shown as `ssl.validation_errors`.
    Refused(Vec<String>),
    /// The CA is still working on it: look again shortly, no failure counted.
    Waiting,
    /// Anything else (the CA or the database unreachable): retried with backoff.
    Transient(String),
}

impl From<instant_acme::Error> for Failure {
    fn from(error: instant_acme::Error) -> Self {
        match error {
            instant_acme::Error::Api(problem) => Self::Refused(vec![flow::describe(&problem)]),
            instant_acme::Error::Timeout(_) => Self::Waiting,
            other => Self::Transient(format!("ACME: {other}")),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::Transient(format!("store: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_minute_and_stops_at_an_hour() {
        assert_eq!(backoff(1), Duration::minutes(1));
        assert_eq!(backoff(2), Duration::minutes(2));
        assert_eq!(backoff(4), Duration::minutes(8));
        assert_eq!(backoff(7), Duration::hours(1));
        assert_eq!(backoff(u32::MAX), Duration::hours(1));
    }

    #[test]
    fn renewal_is_two_thirds_into_the_lifetime() {
        let issued = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(
            renewal_at(issued, issued + Duration::days(90)),
            issued + Duration::days(60)
        );
    }

    #[test]
    fn eab_keys_decode_from_base64url_and_errors_never_echo_them() {
        assert_eq!(&decode_hmac("aGVsbG8_").unwrap()[..], b"hello?");
        let error = decode_hmac("not base64 !!secret").unwrap_err().to_string();
        assert!(!error.contains("secret"), "{error}");
    }
}
