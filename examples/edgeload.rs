//! The load client of `bench/edge.sh`: HTTPS GETs to one address with a chosen SNI, either
//! over kept-alive connections or one new TLS connection (a full handshake, no resumption)
//! per request. wrk and h2load take the SNI from the URL's host, which must then resolve, and
//! edgecert serves only real hostnames; this client connects to an address and names the host.
//!
//! `edgeload --connect 127.0.0.1:8443 --sni app.example.com --ca root.pem --connections 2
//!  --seconds 5 --mode keepalive|handshake` prints one JSON line: requests, errors, req/s,
//! p50 and p99 in milliseconds. Any answer but 200 counts as an error.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

struct Options {
    connect: SocketAddr,
    sni: String,
    ca: String,
    connections: usize,
    seconds: u64,
    handshake_per_request: bool,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut connect, mut sni, mut ca) = (None, None, None);
    let (mut connections, mut seconds, mut mode) = (2, 5, String::from("keepalive"));
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--connect" => connect = Some(value.parse().map_err(|e| format!("--connect: {e}"))?),
            "--sni" => sni = Some(value),
            "--ca" => ca = Some(value),
            "--connections" => connections = value.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--seconds" => seconds = value.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--mode" => mode = value,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(Options {
        connect: connect.ok_or("--connect is required")?,
        sni: sni.ok_or("--sni is required")?,
        ca: ca.ok_or("--ca is required")?,
        connections,
        seconds,
        handshake_per_request: match mode.as_str() {
            "keepalive" => false,
            "handshake" => true,
            other => return Err(format!("--mode keepalive or handshake, not {other}")),
        },
    })
}

fn tls(ca: &str) -> Result<TlsConnector, String> {
    let pem = std::fs::read(ca).map_err(|e| format!("{ca}: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in root_certificates(&pem)? {
        roots.add(certificate).map_err(|e| format!("{ca}: {e}"))?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Every new connection must cost the server a full handshake.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(TlsConnector::from(Arc::new(config)))
}

fn root_certificates(
    pem: &[u8],
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject as _;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("root PEM: {e}"))
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn open(options: &Options, connector: &TlsConnector) -> Result<Sender, String> {
    let tcp = TcpStream::connect(options.connect)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let name = ServerName::try_from(options.sni.clone()).map_err(|e| e.to_string())?;
    let stream = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP/1.1: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn get(sender: &mut Sender, host: &str, close: bool) -> Result<(), String> {
    let mut request = hyper::Request::get("/").header("host", host);
    if close {
        request = request.header("connection", "close");
    }
    let request = request.body(Empty::new()).map_err(|e| e.to_string())?;
    let answer = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = answer.status();
    answer
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?;
    if status != hyper::StatusCode::OK {
        return Err(format!("status {status}"));
    }
    Ok(())
}

/// One connection's worth of load until `until`: latencies in microseconds, and errors.
async fn worker(
    options: Arc<Options>,
    connector: TlsConnector,
    until: Instant,
) -> (Vec<u32>, u64, Option<String>) {
    let mut latencies = Vec::new();
    let (mut errors, mut last_error) = (0, None);
    let mut kept: Option<Sender> = None;
    while Instant::now() < until {
        let started = Instant::now();
        let outcome = async {
            let mut sender = match kept.take() {
                Some(sender) => sender,
                None => open(&options, &connector).await?,
            };
            get(&mut sender, &options.sni, options.handshake_per_request).await?;
            if !options.handshake_per_request {
                kept = Some(sender);
            }
            Ok::<_, String>(())
        }
        .await;
        match outcome {
            Ok(()) => {
                latencies.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX))
            }
            Err(error) => {
                errors += 1;
                last_error = Some(error);
            }
        }
    }
    (latencies, errors, last_error)
}

fn percentile_ms(sorted: &[u32], pct: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((pct / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    f64::from(sorted[rank]) / 1000.0
}

#[tokio::main]
async fn main() {
    let options = match options() {
        Ok(options) => Arc::new(options),
        Err(problem) => {
            eprintln!("edgeload: {problem}");
            std::process::exit(2);
        }
    };
    let connector = match tls(&options.ca) {
        Ok(connector) => connector,
        Err(problem) => {
            eprintln!("edgeload: {problem}");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let until = started + Duration::from_secs(options.seconds);
    let workers: Vec<_> = (0..options.connections)
        .map(|_| tokio::spawn(worker(options.clone(), connector.clone(), until)))
        .collect();
    let (mut latencies, mut errors, mut last_error) = (Vec::new(), 0, None);
    for finished in workers {
        match finished.await {
            Ok((mut some, failed, error)) => {
                latencies.append(&mut some);
                errors += failed;
                last_error = error.or(last_error);
            }
            Err(error) => {
                errors += 1;
                last_error = Some(error.to_string());
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let report = serde_json::json!({
        "requests": latencies.len(),
        "errors": errors,
        "last_error": last_error,
        "seconds": elapsed,
        "rps": latencies.len() as f64 / elapsed,
        "p50_ms": percentile_ms(&latencies, 50.0),
        "p99_ms": percentile_ms(&latencies, 99.0),
    });
    println!("{report}");
}
