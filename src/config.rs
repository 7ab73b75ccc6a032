//! Command line and environment configuration. Secret values are redacted in `Debug`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

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

    /// Seconds to let in-flight requests finish after SIGTERM or SIGINT before exiting anyway.
    #[arg(long, env = "EDGECERT_SHUTDOWN_GRACE", default_value_t = 30)]
    pub shutdown_grace: u64,

    /// Also serve GET /metrics on this address, without credentials (for a Prometheus
    /// scraper). Bind it to loopback or a private network: the metrics are not authenticated.
    #[arg(long, env = "EDGECERT_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Log line format.
    #[arg(long, env = "EDGECERT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
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
            shutdown_grace: 30,
            metrics_listen: None,
            log_format: LogFormat::Text,
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
            .field("shutdown_grace", &self.shutdown_grace)
            .field("metrics_listen", &self.metrics_listen)
            .field("log_format", &self.log_format)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
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
        let debug = format!("{args:?}");
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
