//! Command line and environment configuration. Secret values are redacted in `Debug`.

mod acme;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

mod edge;

pub use acme::AcmeArgs;
pub use edge::{EdgeOriginArgs, OriginSsl};

#[derive(Debug, Parser)]
#[command(
    name = "edgecert",
    version,
    about = "Cloudflare's SSL-for-SaaS certificate API, locally"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// `edgecert` with no subcommand serves, so `cargo run` starts the API.
    pub fn into_command(self) -> Command {
        self.command
            .unwrap_or_else(|| Command::Serve(ServeArgs::parse_from(["serve"])))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(ServeArgs),
    /// Validate the configuration (database URL, master key, trust roots) and exit.
    CheckConfig(ServeArgs),
    /// Exit 0 if the local server answers GET /readyz with 200 (for container healthchecks).
    Probe(ProbeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// The address edgecert listens on; an unspecified address (0.0.0.0) is probed on loopback.
    #[arg(long, env = "EDGECERT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}

/// Five to fifteen seconds of one core's key generation: enough for a batch of sign-ups, small
/// enough to fill quickly after a start.
pub const DEFAULT_RSA_POOL_SIZE: u64 = 100;
const MAX_RSA_POOL_SIZE: u64 = 100_000;

/// Ten seconds is long for a local client to send a request head (a few hundred bytes) and
/// short enough that a trickling client frees its connection quickly.
pub const DEFAULT_HEADER_READ_TIMEOUT: u64 = 10;
/// Bodies are at most 256 KiB: ten seconds is 26 KB/s, far below any local or CI link.
pub const DEFAULT_BODY_READ_TIMEOUT: u64 = 10;
/// Node's keep-alive default: SDK connection pools reuse a connection within it, and a
/// client holding connections open without using them loses them quickly.
pub const DEFAULT_IDLE_TIMEOUT: u64 = 5;
/// How often the edge re-reads what it serves from the database anyway, in seconds: changes
/// reach it at once (this instance's) or through the change feed (other instances'), so the
/// re-read only catches what no one announced (a row changed by hand).
pub const DEFAULT_EDGE_RESYNC_INTERVAL: u64 = 30;
/// Far above what a dev or CI client opens, far below the usual 1024 open files per process
/// that a flood would otherwise exhaust (the database pool and logs need descriptors too).
pub const DEFAULT_MAX_CONNECTIONS: u64 = 512;
const MAX_TIMEOUT: u64 = 3600;
const MAX_MAX_CONNECTIONS: u64 = 100_000;

#[derive(Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "EDGECERT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Database: sqlite://PATH (created if missing) or postgres://USER@HOST/DB.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://edgecert.db")]
    pub database_url: String,

    /// Base64 of 32 random bytes that encrypts stored private keys. Environment only, so it
    /// never shows in a process listing.
    #[arg(skip = secret_from_env("EDGECERT_MASTER_KEY"))]
    pub master_key: Option<Secret>,

    /// File holding the master key. Default with SQLite: `<database>.master-key` beside the
    /// database file, created with mode 0600 on first start.
    #[arg(long, env = "EDGECERT_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,

    /// An all-access API token to accept. Environment only. When unset and the database has no
    /// token yet, one is generated and printed once.
    #[arg(skip = secret_from_env("EDGECERT_BOOTSTRAP_TOKEN"))]
    pub bootstrap_token: Option<Secret>,

    /// Apply the real API's stricter rules that the tutorial's own example breaks
    /// (SANs under example.com/.net/.org are refused with code 1416).
    #[arg(long, env = "EDGECERT_STRICT", value_parser = BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub strict: bool,

    /// PEM file of extra root certificates that uploaded certificates may chain to (for
    /// example a private or test CA such as Pebble's).
    #[arg(long, env = "EDGECERT_TRUST_ROOTS")]
    pub trust_roots: Option<PathBuf>,

    /// Trust only the roots in EDGECERT_TRUST_ROOTS, not Mozilla's public roots.
    #[arg(long, env = "EDGECERT_NO_PUBLIC_ROOTS", value_parser = BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub no_public_roots: bool,

    /// How many keys may be generated at once (default: one per CPU core).
    #[arg(long, env = "EDGECERT_KEYGEN_CONCURRENCY")]
    pub keygen_concurrency: Option<usize>,

    /// How many uploaded certificates (with their customer keys) may be verified at once
    /// (default: half the CPU cores, at least one, so uploads never take every core from the
    /// threads that answer other requests).
    #[arg(long, env = "EDGECERT_VERIFY_CONCURRENCY", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub verify_concurrency: Option<u64>,

    /// RSA-2048 keys to keep generated ahead of demand, so RSA CSRs are created without waiting
    /// for a key generation while the pool lasts. Refilled in the background at the lowest CPU
    /// priority. 0 turns the pool off.
    #[arg(long, env = "EDGECERT_RSA_POOL_SIZE", default_value_t = DEFAULT_RSA_POOL_SIZE, value_parser = clap::value_parser!(u64).range(0..=MAX_RSA_POOL_SIZE))]
    pub rsa_pool_size: u64,

    /// Database connections edgecert may hold open (default: four per CPU core on Postgres;
    /// on SQLite one reader per core and one more, plus the single writer). On SQLite the
    /// value counts the writer, and at least one reader is kept.
    #[arg(long, env = "EDGECERT_DATABASE_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub database_max_connections: Option<u32>,

    /// Seconds a request waits for a database connection (opening one included) before it is
    /// answered 503 "database unavailable". Decimals allowed (0.5).
    #[arg(long, env = "EDGECERT_DATABASE_ACQUIRE_TIMEOUT", default_value = "1", value_parser = parse_seconds)]
    pub database_acquire_timeout: Duration,

    /// Seconds start-up (serve, migrate) keeps trying to reach the database before giving up.
    #[arg(long, env = "EDGECERT_DATABASE_CONNECT_TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    pub database_connect_timeout: Duration,

    /// SQLite's `synchronous` setting: `normal` survives a crash of edgecert (or of the OS
    /// with a battery-backed disk cache); `full` also survives power loss, and costs a disk
    /// flush per write.
    #[arg(long, env = "EDGECERT_SQLITE_SYNCHRONOUS", value_enum, default_value_t = SqliteSynchronous::Normal)]
    pub sqlite_synchronous: SqliteSynchronous,

    /// Seconds to let in-flight requests finish after SIGTERM or SIGINT before exiting anyway.
    #[arg(long, env = "EDGECERT_SHUTDOWN_GRACE", default_value_t = 30)]
    pub shutdown_grace: u64,

    /// Seconds a connection has to send a complete request head, counted from when it opened
    /// or was last answered; a slower one is closed without an answer.
    #[arg(long, env = "EDGECERT_HEADER_READ_TIMEOUT", default_value_t = DEFAULT_HEADER_READ_TIMEOUT, value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT))]
    pub header_read_timeout: u64,

    /// Seconds a request has to deliver its whole body once its head is in; a slower one is
    /// answered 408.
    #[arg(long, env = "EDGECERT_BODY_READ_TIMEOUT", default_value_t = DEFAULT_BODY_READ_TIMEOUT, value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT))]
    pub body_read_timeout: u64,

    /// Seconds a connection may sit with nothing in flight and nothing sent (a kept-alive
    /// connection between requests, or a new one not yet speaking) before it is closed.
    #[arg(long, env = "EDGECERT_IDLE_TIMEOUT", default_value_t = DEFAULT_IDLE_TIMEOUT, value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT))]
    pub idle_timeout: u64,

    /// Most client connections served at once; one over it is answered 503 and closed.
    #[arg(long, env = "EDGECERT_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u64).range(1..=MAX_MAX_CONNECTIONS))]
    pub max_connections: u64,

    /// Also serve GET /metrics on this address, without credentials (for a Prometheus
    /// scraper). Bind it to loopback or a private network: the metrics are not authenticated.
    #[arg(long, env = "EDGECERT_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Serve the edge over HTTPS on this address: TLS terminated by SNI with the stored
    /// custom hostname and custom certificates (see the README's "Edge" section). Unset: off.
    #[arg(long, env = "EDGECERT_EDGE_LISTEN")]
    pub edge_listen: Option<SocketAddr>,

    /// Serve the edge over plain HTTP on this address: the ACME and ownership challenge
    /// paths, and custom hostnames' traffic proxied to their origins. Unset: off.
    #[arg(long, env = "EDGECERT_EDGE_HTTP_LISTEN")]
    pub edge_http_listen: Option<SocketAddr>,

    /// Seconds between full re-reads of what the edge serves. Changes made through this
    /// instance are applied at once, and on PostgreSQL those made through other instances on
    /// the same database too (the change feed); the re-read is a safety net.
    #[arg(long, env = "EDGECERT_EDGE_RESYNC_INTERVAL", default_value_t = DEFAULT_EDGE_RESYNC_INTERVAL, value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT))]
    pub edge_resync_interval: u64,

    #[command(flatten)]
    pub edge_origin: EdgeOriginArgs,

    /// Per-token rate limit, as REQUESTS/PERIOD with the period in s, m or h (`1200/5m` is the
    /// real API's documented default). Over it a token gets 429 with code 971 and
    /// Retry-After. Counted in memory, per instance. Unset: no limit.
    #[arg(long, env = "EDGECERT_RATE_LIMIT")]
    pub rate_limit: Option<RateLimitPolicy>,

    /// Custom hostnames per zone (the plan's allocation; creates past it still succeed, with
    /// a warning). Unset: unlimited.
    #[arg(long, env = "EDGECERT_QUOTA_CUSTOM_HOSTNAMES")]
    pub quota_custom_hostnames: Option<u64>,

    /// Custom hostnames per zone past which creates are refused with 403 1405 (default: the
    /// allocation).
    #[arg(long, env = "EDGECERT_QUOTA_CUSTOM_HOSTNAMES_HARD_CAP")]
    pub quota_custom_hostnames_hard_cap: Option<u64>,

    /// Custom certificates per zone. Unset: unlimited.
    #[arg(long, env = "EDGECERT_QUOTA_CUSTOM_CERTIFICATES")]
    pub quota_custom_certificates: Option<u64>,

    /// Custom CSRs per zone or account. Unset: unlimited.
    #[arg(long, env = "EDGECERT_QUOTA_CUSTOM_CSRS")]
    pub quota_custom_csrs: Option<u64>,
    /// Serve the test controls under /_edgecert/ (reset data, move the clock, force custom
    /// hostname statuses, run a pending DCV check now; see the README's "Testing your
    /// integration"). For test environments only: anyone with an API token can erase
    /// everything. Off: those paths answer like any unknown path.
    #[arg(long, env = "EDGECERT_TEST_CONTROLS", value_parser = BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub test_controls: bool,

    /// Log line format.
    #[arg(long, env = "EDGECERT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Managed certificates (README, "Managed certificates (ACME)").
    #[command(flatten)]
    pub acme: AcmeArgs,
}

impl ServeArgs {
    /// Settings for the given database with everything else at its built-in default, ignoring
    /// the environment; for embedding edgecert (tests, tools) without a command line.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: database_url.into(),
            master_key: None,
            master_key_file: None,
            bootstrap_token: None,
            strict: false,
            trust_roots: None,
            no_public_roots: false,
            keygen_concurrency: None,
            verify_concurrency: None,
            rsa_pool_size: DEFAULT_RSA_POOL_SIZE,
            database_max_connections: None,
            database_acquire_timeout: crate::store::DEFAULT_ACQUIRE_TIMEOUT,
            database_connect_timeout: crate::store::DEFAULT_CONNECT_TIMEOUT,
            sqlite_synchronous: SqliteSynchronous::Normal,
            shutdown_grace: 30,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            metrics_listen: None,
            edge_listen: None,
            edge_http_listen: None,
            edge_resync_interval: DEFAULT_EDGE_RESYNC_INTERVAL,
            edge_origin: EdgeOriginArgs::default(),
            rate_limit: None,
            quota_custom_hostnames: None,
            quota_custom_hostnames_hard_cap: None,
            quota_custom_certificates: None,
            quota_custom_csrs: None,
            test_controls: false,
            log_format: LogFormat::Text,
            acme: AcmeArgs::default(),
        }
    }

    /// The database settings, as the store takes them.
    pub fn database_options(&self) -> crate::store::DatabaseOptions {
        crate::store::DatabaseOptions {
            max_connections: self.database_max_connections,
            acquire_timeout: self.database_acquire_timeout,
            connect_timeout: self.database_connect_timeout,
            sqlite_synchronous: match self.sqlite_synchronous {
                SqliteSynchronous::Normal => crate::store::SqliteSynchronous::Normal,
                SqliteSynchronous::Full => crate::store::SqliteSynchronous::Full,
            },
        }
    }

    #[doc(hidden)]
    pub fn parse_from<I, T>(argv: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: ServeArgs,
        }
        Wrapper::parse_from(argv).args
    }
}

impl fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeArgs")
            .field("listen", &self.listen)
            .field("database_url", &redact_url_password(&self.database_url))
            .field("master_key", &self.master_key)
            .field("master_key_file", &self.master_key_file)
            .field("bootstrap_token", &self.bootstrap_token)
            .field("strict", &self.strict)
            .field("trust_roots", &self.trust_roots)
            .field("no_public_roots", &self.no_public_roots)
            .field("keygen_concurrency", &self.keygen_concurrency)
            .field("verify_concurrency", &self.verify_concurrency)
            .field("database_max_connections", &self.database_max_connections)
            .field("database_acquire_timeout", &self.database_acquire_timeout)
            .field("database_connect_timeout", &self.database_connect_timeout)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections", &self.max_connections)
            .field("metrics_listen", &self.metrics_listen)
            .field("edge_listen", &self.edge_listen)
            .field("edge_http_listen", &self.edge_http_listen)
            .field("edge_resync_interval", &self.edge_resync_interval)
            .field("edge_origin", &self.edge_origin)
            .field("rate_limit", &self.rate_limit)
            .field("quota_custom_hostnames", &self.quota_custom_hostnames)
            .field(
                "quota_custom_hostnames_hard_cap",
                &self.quota_custom_hostnames_hard_cap,
            )
            .field("quota_custom_certificates", &self.quota_custom_certificates)
            .field("quota_custom_csrs", &self.quota_custom_csrs)
            .field("test_controls", &self.test_controls)
            .field("log_format", &self.log_format)
            .field("acme", &self.acme)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqliteSynchronous {
    Normal,
    Full,
}

/// Seconds, decimals allowed, from a millisecond up to a day: a zero timeout would fail every
/// request, and a huge one is the hang these settings exist to prevent.
fn parse_seconds(raw: &str) -> Result<Duration, String> {
    let seconds: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("{raw:?} is not a number of seconds"))?;
    if !(0.001..=86_400.0).contains(&seconds) {
        return Err(format!("{raw} s is outside 0.001 to 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// At most `requests` per `period` for each API token (`EDGECERT_RATE_LIMIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitPolicy {
    pub requests: std::num::NonZeroU32,
    pub period: std::time::Duration,
}

/// The longest period accepted: a day. Longer is surely a typo, and windows are kept in memory.
const MAX_RATE_LIMIT_PERIOD_SECS: u64 = 24 * 60 * 60;

impl std::str::FromStr for RateLimitPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let expected = || {
            format!(
                "'{text}' is not REQUESTS/PERIOD with the period in s, m or h, e.g. 1200/5m or 3/60s"
            )
        };
        let (requests, period) = text.trim().split_once('/').ok_or_else(expected)?;
        let requests = requests
            .trim()
            .parse::<std::num::NonZeroU32>()
            .map_err(|_| expected())?;
        let period = period.trim();
        let (number, unit) = period.split_at(period.len().saturating_sub(1));
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 60 * 60,
            _ => return Err(expected()),
        };
        let seconds = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .filter(|s| (1..=MAX_RATE_LIMIT_PERIOD_SECS).contains(s))
            .ok_or_else(|| format!("{}; the period is 1 s to 24 h", expected()))?;
        Ok(Self {
            requests,
            period: std::time::Duration::from_secs(seconds),
        })
    }
}

impl fmt::Display for RateLimitPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.requests, self.period.as_secs())
    }
}

/// A secret string whose `Debug` never shows the value.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

fn secret_from_env(name: &str) -> Option<Secret> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .map(Secret)
}

/// Hides the password of a database URL, for log lines and `Debug`.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:[redacted]@{host}{path}")
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets_and_database_password() {
        let mut args = ServeArgs::for_database("postgres://app:hunter2@db:5432/edgecert");
        args.master_key = Some(Secret::new("bWFzdGVyIGtleSBieXRlcw=="));
        args.bootstrap_token = Some(Secret::new("tok_very_secret"));
        args.acme.eab_hmac_key = Some(Secret::new("eab-hmac-very-secret"));
        let debug = format!("{args:?}");
        assert!(!debug.contains("eab-hmac-very-secret"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("bWFzdGVyIGtleSBieXRlcw=="), "{debug}");
        assert!(!debug.contains("tok_very_secret"), "{debug}");
        assert!(
            debug.contains("postgres://app:[redacted]@db:5432/edgecert"),
            "{debug}"
        );
    }

    #[test]
    fn declared_defaults_match_the_embedding_defaults() {
        use clap::CommandFactory;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: ServeArgs,
        }
        let command = Wrapper::command();
        let default_of = |id: &str| {
            command
                .get_arguments()
                .find(|arg| arg.get_id() == id)
                .and_then(|arg| arg.get_default_values().first().cloned())
                .and_then(|value| value.to_str().map(str::to_string))
        };
        let embedded = ServeArgs::for_database("sqlite://edgecert.db");
        assert_eq!(default_of("listen"), Some(embedded.listen.to_string()));
        assert_eq!(default_of("database_url"), Some(embedded.database_url));
        assert_eq!(default_of("strict"), Some(embedded.strict.to_string()));
        assert_eq!(
            default_of("test_controls"),
            Some(embedded.test_controls.to_string())
        );
        for (id, embedded) in [
            ("header_read_timeout", embedded.header_read_timeout),
            ("body_read_timeout", embedded.body_read_timeout),
            ("idle_timeout", embedded.idle_timeout),
            ("max_connections", embedded.max_connections),
            ("edge_resync_interval", embedded.edge_resync_interval),
        ] {
            assert_eq!(default_of(id), Some(embedded.to_string()), "{id}");
        }
    }

    #[test]
    fn strict_accepts_flag_and_boolish_values() {
        assert!(ServeArgs::parse_from(["serve", "--strict"]).strict);
        assert!(ServeArgs::parse_from(["serve", "--strict=true"]).strict);
        assert!(!ServeArgs::parse_from(["serve", "--strict=false"]).strict);
    }

    #[test]
    fn database_max_connections_defaults_to_the_backend_and_refuses_zero() {
        assert_eq!(
            ServeArgs::parse_from(["serve"]).database_max_connections,
            None
        );
        let args = ServeArgs::parse_from(["serve", "--database-max-connections", "12"]);
        assert_eq!(args.database_max_connections, Some(12));
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: ServeArgs,
        }
        assert!(Wrapper::try_parse_from(["serve", "--database-max-connections", "0"]).is_err());
    }

    #[test]
    fn rate_limits_parse_with_their_unit() {
        let parse = |text: &str| text.parse::<RateLimitPolicy>();
        let policy = parse("1200/5m").unwrap();
        assert_eq!(
            (policy.requests.get(), policy.period.as_secs()),
            (1200, 300)
        );
        assert_eq!(parse("1200/300s").unwrap(), policy);
        assert_eq!(parse(" 3 / 60s ").unwrap().to_string(), "3/60s");
        assert_eq!(parse("10/1h").unwrap().period.as_secs(), 3600);
        for bad in [
            "",
            "1200",
            "0/60s",
            "-1/60s",
            "1200/300",
            "1200/0s",
            "1200/5d",
            "1200/25h",
            "x/5m",
            "1200/s",
            "1200/99999999999999999999h",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse("5/2d").unwrap_err().contains("1200/5m"));
        assert_eq!(
            ServeArgs::parse_from(["serve", "--rate-limit", "3/60s"]).rate_limit,
            Some(parse("3/60s").unwrap())
        );
    }

    #[test]
    fn database_timeouts_and_synchronous_parse_and_default() {
        let defaults = ServeArgs::parse_from(["serve"]);
        let embedded = ServeArgs::for_database("sqlite://edgecert.db");
        assert_eq!(defaults.database_options(), embedded.database_options());
        assert_eq!(defaults.database_acquire_timeout, Duration::from_secs(1));
        assert_eq!(defaults.database_connect_timeout, Duration::from_secs(10));
        assert_eq!(defaults.sqlite_synchronous, SqliteSynchronous::Normal);
        let args = ServeArgs::parse_from([
            "serve",
            "--database-acquire-timeout",
            "0.25",
            "--database-connect-timeout",
            "3",
            "--sqlite-synchronous",
            "full",
        ]);
        let options = args.database_options();
        assert_eq!(options.acquire_timeout, Duration::from_millis(250));
        assert_eq!(options.connect_timeout, Duration::from_secs(3));
        assert_eq!(
            options.sqlite_synchronous,
            crate::store::SqliteSynchronous::Full
        );
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: ServeArgs,
        }
        for bad in ["0", "-1", "soon", "100000"] {
            assert!(
                Wrapper::try_parse_from(["serve", "--database-acquire-timeout", bad]).is_err(),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn verify_concurrency_defaults_to_the_core_count_and_refuses_zero() {
        assert_eq!(ServeArgs::parse_from(["serve"]).verify_concurrency, None);
        let args = ServeArgs::parse_from(["serve", "--verify-concurrency", "3"]);
        assert_eq!(args.verify_concurrency, Some(3));
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: ServeArgs,
        }
        assert!(Wrapper::try_parse_from(["serve", "--verify-concurrency", "0"]).is_err());
    }

    #[test]
    fn redaction_leaves_passwordless_urls_alone() {
        assert_eq!(
            redact_url_password("sqlite://edgecert.db"),
            "sqlite://edgecert.db"
        );
        assert_eq!(
            redact_url_password("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
    }
}
