//! The start-up steps that build the application state: database, master key, API tokens.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngExt as _;
use zeroize::Zeroizing;

use super::keypool::KeyPool;
use super::{AppState, MASTER_KEY_CHECK, TokenSet};
use crate::config::ServeArgs;
use crate::pki::{CpuLimiter, KeyFactory, MasterKey, TrustStore};
use crate::store::{self, Store};

/// A token generated at first start. Shown to the operator once; only its hash is stored.
pub struct NewToken(pub Zeroizing<String>);

/// The shortest `EDGECERT_BOOTSTRAP_TOKEN` accepted. 32 characters of the usual token
/// alphabets (hex, base64) carry 128 to 192 bits; a generated token has 40. The token is
/// all-access and unsalted guesses of it cost one HMAC each, so short ones are refused.
pub const MIN_BOOTSTRAP_TOKEN_LEN: usize = 32;

/// Refuses a bootstrap token that is short or could not be sent as a header value the way
/// it is written (edgecert trims what follows `Bearer `, and header values are ASCII).
fn check_bootstrap_token(token: &str) -> anyhow::Result<()> {
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        bail!(
            "EDGECERT_BOOTSTRAP_TOKEN may hold only printable ASCII without spaces, as it is \
             sent in an HTTP header; generate one with `openssl rand -hex 32`"
        );
    }
    let length = token.len();
    if length < MIN_BOOTSTRAP_TOKEN_LEN {
        bail!(
            "EDGECERT_BOOTSTRAP_TOKEN is {length} characters; it must be at least \
             {MIN_BOOTSTRAP_TOKEN_LEN}: generate one with `openssl rand -hex 32`"
        );
    }
    Ok(())
}

impl AppState {
    /// Connects to the database, unlocks the key store and loads the API tokens.
    /// Returns a freshly generated token when the database had none.
    pub async fn open(args: &ServeArgs) -> anyhow::Result<(Self, Option<NewToken>)> {
        super::quotas::Quotas::from_args(args)
            .check()
            .map_err(anyhow::Error::msg)?;
        let key_source = master_key_source(args)?;
        if let Some(token) = &args.bootstrap_token {
            check_bootstrap_token(token.expose())?;
        }
        let trust = trust_store(args)?;
        let acme = super::managed::Acme::from_args(&args.acme)?;
        let store = store::connect_with(&args.database_url, &args.database_options()).await?;
        let master_key = match key_source {
            KeySource::Given(key) => *key,
            KeySource::File(path) => {
                let sealed_keys_exist = store
                    .get_setting(MASTER_KEY_CHECK)
                    .await
                    .context("cannot read the master key check from the database")?
                    .is_some();
                load_or_create_key_file(&path, !sealed_keys_exist)?
            }
        };
        let stored_check = store
            .get_or_insert_setting(MASTER_KEY_CHECK, &master_key.check_value())
            .await
            .context("cannot read the master key check from the database")?;
        if stored_check != master_key.check_value() {
            bail!(
                "the master key does not match the one this database's private keys were encrypted with; \
                 set EDGECERT_MASTER_KEY (or EDGECERT_MASTER_KEY_FILE) to the original key"
            );
        }

        let new_token = bootstrap_token(store.as_ref(), &master_key, args).await?;
        let tokens = TokenSet::new(
            &master_key,
            store
                .token_hashes()
                .await
                .context("cannot load API tokens")?,
        );
        let limit = args.keygen_concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        });
        // Half the cores: an upload is refused or accepted a little later under load, while
        // the other cores keep answering everything else.
        let verify_limit = args.verify_concurrency.map_or_else(
            || std::thread::available_parallelism().map_or(1, |cores| (cores.get() / 2).max(1)),
            |limit| usize::try_from(limit).unwrap_or(usize::MAX),
        );
        let master_key = Arc::new(master_key);
        let key_pool = KeyPool::new(
            args.rsa_pool_size,
            Arc::clone(&store),
            Arc::clone(&master_key),
        );
        Ok((
            Self {
                store,
                master_key,
                keys: KeyFactory::new(limit),
                verifications: CpuLimiter::new(verify_limit, super::uploads::VERIFICATION_GAUGES),
                key_pool,
                tokens: Arc::new(tokens),
                rate_limit: args
                    .rate_limit
                    .map(|policy| Arc::new(super::rate_limit::RateLimiter::new(policy))),
                trust: Arc::new(trust),
                strict: args.strict,
                test_controls: args.test_controls,
                in_flight: super::InFlight::default(),
                readiness: super::ReadinessProbe::default(),
                served_changes: super::ServedChanges::default(),
                clock: super::Clock::default(),
                quotas: super::quotas::Quotas::from_args(args),
                acme,
            },
            new_token,
        ))
    }
}

async fn bootstrap_token(
    store: &dyn Store,
    master_key: &MasterKey,
    args: &ServeArgs,
) -> anyhow::Result<Option<NewToken>> {
    if let Some(token) = &args.bootstrap_token {
        let keyed = super::tokens::stored_digest(master_key, token.expose());
        // An earlier release stored this token as plain SHA-256: rewrite that row first, so
        // it keeps its label and the plain form leaves the database.
        let legacy = super::tokens::legacy_digest(token.expose());
        store
            .rehash_token(&legacy, &keyed)
            .await
            .context("cannot rewrite the bootstrap token's stored hash")?;
        store
            .insert_token(&keyed, "EDGECERT_BOOTSTRAP_TOKEN")
            .await
            .context("cannot store the bootstrap token")?;
        return Ok(None);
    }
    if !store
        .token_hashes()
        .await
        .context("cannot load API tokens")?
        .is_empty()
    {
        return Ok(None);
    }
    let mut bytes = Zeroizing::new([0u8; 30]);
    rand::rng().fill(&mut bytes[..]);
    let token = Zeroizing::new(URL_SAFE_NO_PAD.encode(&bytes[..]));
    store
        .insert_token(
            &super::tokens::stored_digest(master_key, &token),
            "generated at first start",
        )
        .await
        .context("cannot store the generated API token")?;
    Ok(Some(NewToken(token)))
}

/// The checks `serve` makes before connecting, for `edgecert check-config`. Creates nothing.
pub fn check_config(args: &ServeArgs) -> anyhow::Result<Vec<String>> {
    let backend = store::Backend::of_url(&args.database_url)?;
    let mut report = vec![format!(
        "database: {:?} at {}",
        backend,
        crate::config::redact_url_password(&args.database_url)
    )];
    if let Some(token) = &args.bootstrap_token {
        check_bootstrap_token(token.expose())?;
        report.push("bootstrap token: EDGECERT_BOOTSTRAP_TOKEN (long enough)".into());
    }
    super::quotas::Quotas::from_args(args)
        .check()
        .map_err(anyhow::Error::msg)?;
    match master_key_source(args)? {
        KeySource::Given(_) => report.push("master key: EDGECERT_MASTER_KEY (valid)".into()),
        KeySource::File(path) if path.exists() => {
            load_or_create_key_file(&path, false)?;
            report.push(format!("master key: file {} (valid)", path.display()));
        }
        KeySource::File(path) => report.push(format!(
            "master key: file {} does not exist yet; it is created at first start",
            path.display()
        )),
    }
    let trust = trust_store(args)?;
    report.push(format!("trusted roots: {}", trust.len()));
    report.push(format!("listen: {}", args.listen));
    if let Some(metrics) = args.metrics_listen {
        report.push(format!("metrics listen: {metrics}"));
    }
    report.push(format!("strict: {}", args.strict));
    report.push(match super::managed::Acme::from_args(&args.acme)? {
        Some(acme) => format!("managed certificates: ACME directory {}", acme.directory()),
        None => "managed certificates: off (no EDGECERT_ACME_DIRECTORY)".to_string(),
    });
    report.push(format!("test controls: {}", args.test_controls));
    report.push(match args.rate_limit {
        Some(policy) => format!("rate limit: {policy} per token, per instance"),
        None => "rate limit: off".to_string(),
    });
    Ok(report)
}

fn trust_store(args: &ServeArgs) -> anyhow::Result<TrustStore> {
    let extra = match &args.trust_roots {
        Some(path) => Some(std::fs::read(path).with_context(|| {
            format!("cannot read EDGECERT_TRUST_ROOTS file {}", path.display())
        })?),
        None => None,
    };
    if args.no_public_roots && extra.is_none() {
        bail!(
            "--no-public-roots needs EDGECERT_TRUST_ROOTS: otherwise no certificate could be trusted"
        );
    }
    TrustStore::new(!args.no_public_roots, extra.as_deref()).with_context(|| {
        match &args.trust_roots {
            Some(path) => format!("EDGECERT_TRUST_ROOTS file {} is not usable", path.display()),
            None => "cannot load the public trust roots".to_string(),
        }
    })
}

enum KeySource {
    Given(Box<MasterKey>),
    File(PathBuf),
}

/// Decides where the master key comes from before the database is touched, so a
/// misconfiguration fails without connecting or migrating.
fn master_key_source(args: &ServeArgs) -> anyhow::Result<KeySource> {
    if let Some(secret) = &args.master_key {
        return MasterKey::from_base64(secret.expose())
            .map(|key| KeySource::Given(Box::new(key)))
            .context("EDGECERT_MASTER_KEY must be the base64 encoding of 32 random bytes");
    }
    Ok(KeySource::File(match &args.master_key_file {
        Some(path) => path.clone(),
        None => default_key_file(&args.database_url)?,
    }))
}

/// With SQLite the key file sits beside the database: `edgecert.db` → `edgecert.db.master-key`.
fn default_key_file(database_url: &str) -> anyhow::Result<PathBuf> {
    if store::Backend::of_url(database_url)? != store::Backend::Sqlite {
        bail!(
            "set EDGECERT_MASTER_KEY (base64 of 32 random bytes, e.g. `openssl rand -base64 32`) \
             or EDGECERT_MASTER_KEY_FILE: with Postgres every edgecert instance must share one master key"
        );
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(database_url)
        .context("DATABASE_URL is not a valid SQLite URL")?;
    let db = options.get_filename();
    if db.as_os_str().is_empty() || db.to_string_lossy().contains(":memory:") {
        bail!(
            "an in-memory SQLite database has no directory for a key file; set EDGECERT_MASTER_KEY"
        );
    }
    let mut name = db.as_os_str().to_owned();
    name.push(".master-key");
    Ok(PathBuf::from(name))
}

/// Reads the key file, creating it only when `may_create` (a database that already sealed keys
/// under some master key must get that key back, not a fresh one).
fn load_or_create_key_file(path: &Path, may_create: bool) -> anyhow::Result<MasterKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            // Only the owner can tighten the mode; a file mounted in for another user (a
            // container secret, say) must stay readable to this process and is not warned about.
            if let Ok(meta) = std::fs::metadata(path)
                && meta.permissions().mode() & 0o077 != 0
                && std::fs::metadata("/proc/self").is_ok_and(|me| me.uid() == meta.uid())
            {
                tracing::warn!(path = %path.display(), "master key file is readable by other users; chmod 600 it");
            }
            MasterKey::from_base64(&text).with_context(|| {
                format!(
                    "master key file {} must hold the base64 encoding of 32 bytes",
                    path.display()
                )
            })
        }
        Err(error) if error.kind() == ErrorKind::NotFound && may_create => create_key_file(path),
        Err(error) if error.kind() == ErrorKind::NotFound => bail!(
            "master key file {} is missing, but this database already holds keys sealed with a \
             master key: restore the file from your backup or set EDGECERT_MASTER_KEY",
            path.display()
        ),
        Err(error) => {
            Err(error).with_context(|| format!("cannot read master key file {}", path.display()))
        }
    }
}

fn create_key_file(path: &Path) -> anyhow::Result<MasterKey> {
    let (key, text) = MasterKey::generate()?;
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file,
        // Another instance created it first: use theirs.
        Err(error) if error.kind() == ErrorKind::AlreadyExists => {
            return load_or_create_key_file(path, false);
        }
        Err(error) => {
            return Err(error)
                .with_context(|| format!("cannot create master key file {}", path.display()));
        }
    };
    file.write_all(format!("{}\n", text.as_str()).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write master key file {}", path.display()))?;
    tracing::info!(path = %path.display(), "created a new master key file; back it up with the database");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_tokens_must_be_long_and_header_safe() {
        let long = "0123456789abcdef0123456789abcdef";
        assert_eq!(long.len(), MIN_BOOTSTRAP_TOKEN_LEN);
        assert!(check_bootstrap_token(long).is_ok());
        let short = check_bootstrap_token("12345678").unwrap_err().to_string();
        assert!(
            short.contains("8 characters") && short.contains("at least 32"),
            "{short}"
        );
        assert!(
            !short.contains("12345678"),
            "the token is not echoed: {short}"
        );
        assert!(check_bootstrap_token(&long[1..]).is_err());
        for bad in [
            format!("{long} x"),
            format!("{long}\u{e9}"),
            format!("{long}\t"),
        ] {
            let message = check_bootstrap_token(&bad).unwrap_err().to_string();
            assert!(message.contains("printable ASCII"), "{message}");
        }
    }

    #[test]
    fn key_file_defaults_beside_the_sqlite_database() {
        assert_eq!(
            default_key_file("sqlite://data/edgecert.db").unwrap(),
            PathBuf::from("data/edgecert.db.master-key")
        );
        assert!(default_key_file("postgres://localhost/edgecert").is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        assert!(
            load_or_create_key_file(&path, false).is_err(),
            "not created unless allowed"
        );
        assert!(!path.exists());
        let first = load_or_create_key_file(&path, true).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = load_or_create_key_file(&path, false).unwrap();
        assert_eq!(first.check_value(), second.check_value());
    }
}
