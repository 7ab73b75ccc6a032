//! How the edge reaches origins: the zone SSL/TLS encryption mode and the timeouts Cloudflare
//! answers 522 and 524 after.

use std::time::Duration;

use clap::{Args, ValueEnum};

/// Cloudflare's defaults: 15 s to connect, 100 s for the origin to start answering.
pub const DEFAULT_ORIGIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
pub const DEFAULT_ORIGIN_RESPONSE_TIMEOUT: Duration = Duration::from_secs(100);

#[derive(Debug, Clone, Args)]
pub struct EdgeOriginArgs {
    /// How the edge connects to origins, like a zone's SSL/TLS encryption mode: `flexible`
    /// (plain HTTP), `full` (HTTPS, the origin's certificate not checked) or `strict`
    /// (HTTPS, the certificate verified against Mozilla's roots and EDGECERT_TRUST_ROOTS).
    #[arg(long = "edge-origin-ssl", env = "EDGECERT_EDGE_ORIGIN_SSL", value_enum, default_value_t = OriginSsl::Flexible)]
    pub ssl: OriginSsl,

    /// Seconds to open a connection to an origin (TLS handshake apart) before answering 522.
    /// Decimals allowed.
    #[arg(long = "edge-origin-connect-timeout", env = "EDGECERT_EDGE_ORIGIN_CONNECT_TIMEOUT", default_value = "15", value_parser = super::parse_seconds)]
    pub connect_timeout: Duration,

    /// Seconds an origin has, once connected, to send its answer's head before 524.
    /// Decimals allowed.
    #[arg(long = "edge-origin-response-timeout", env = "EDGECERT_EDGE_ORIGIN_RESPONSE_TIMEOUT", default_value = "100", value_parser = super::parse_seconds)]
    pub response_timeout: Duration,
}

impl Default for EdgeOriginArgs {
    fn default() -> Self {
        Self {
            ssl: OriginSsl::Flexible,
            connect_timeout: DEFAULT_ORIGIN_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_ORIGIN_RESPONSE_TIMEOUT,
        }
    }
}

/// The zone SSL/TLS encryption modes that decide how the edge talks to an origin. `flexible`
/// is the default because a local origin (`localhost:3000`) rarely speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OriginSsl {
    Flexible,
    Full,
    Strict,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServeArgs;

    #[test]
    fn origin_settings_default_to_cloudflare_and_parse() {
        let defaults = ServeArgs::parse_from(["serve"]).edge_origin;
        let embedded = ServeArgs::for_database("sqlite://edgecert.db").edge_origin;
        for args in [&defaults, &embedded] {
            assert_eq!(args.ssl, OriginSsl::Flexible);
            assert_eq!(args.connect_timeout, Duration::from_secs(15));
            assert_eq!(args.response_timeout, Duration::from_secs(100));
        }
        let args = ServeArgs::parse_from([
            "serve",
            "--edge-origin-ssl",
            "strict",
            "--edge-origin-connect-timeout",
            "0.5",
            "--edge-origin-response-timeout",
            "3",
        ])
        .edge_origin;
        assert_eq!(args.ssl, OriginSsl::Strict);
        assert_eq!(args.connect_timeout, Duration::from_millis(500));
        assert_eq!(args.response_timeout, Duration::from_secs(3));
    }
}
