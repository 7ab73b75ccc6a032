//! Pebble, its DNS server and edgecert with both edge listeners, for the managed certificate
//! tests.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

use crate::acme::{Pebble, REQUIRE_ENV, Validation, accepts, on_path};
use crate::common::{Backend, TestApp, ZONE, zone_hostnames};
use crate::process::{Ended, Process, TIMEOUT};
use edgecert::http::connection::ConnectionLimits;

/// The longest a user's code would wait for `ssl.status: active` here.
pub(super) const ISSUED_WITHIN: Duration = Duration::from_secs(30);

/// Pebble, its DNS, edgecert with both edge listeners and the test controls, and
/// (optionally) the worker.
pub(super) struct Setup {
    pub(super) app: TestApp,
    /// Behind a lock only so a failure message can read its log.
    pebble: std::sync::Mutex<Pebble>,
    root: Vec<u8>,
    pub(super) dns: ChallTestSrv,
    http: SocketAddr,
    https: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Setup {
    pub(super) async fn start(backend: Backend, worker: bool) -> Option<Self> {
        if !tools_present() {
            return None;
        }
        // The edge's ports are known before Pebble starts: bound here, served below.
        let http_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let https_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let http = http_listener.local_addr().expect("address");
        let https = https_listener.local_addr().expect("address");
        let (dns, pebble) = tokio::task::block_in_place(|| {
            let dns = ChallTestSrv::start();
            let pebble = Pebble::start_with(Validation {
                real: Some((http.port(), dns.dns)),
            });
            (dns, pebble)
        });
        let (directory, bundle) = (pebble.directory.clone(), pebble.tls_ca.clone());
        let app = TestApp::with(backend, |args| {
            args.acme.directory = Some(directory);
            args.acme.ca_bundle = Some(bundle);
            args.acme.email = Some("ops@example.com".into());
            args.test_controls = true;
        })
        .await;
        let limits = ConnectionLimits::from_args(&app.args);
        let (edge, reloader) = edgecert::edge::Edge::start(&app.state, Duration::from_secs(1))
            .await
            .expect("edge starts");
        let mut tasks = vec![reloader];
        let http_edge = edge.clone();
        let http_limits = limits.clone();
        tasks.push(tokio::spawn(async move {
            let never = std::future::pending();
            let _ = edgecert::edge::serve_http(http_listener, http_edge, http_limits, never).await;
        }));
        tasks.push(tokio::spawn(async move {
            let never = std::future::pending();
            let _ = edgecert::edge::serve_https(https_listener, edge, limits, never).await;
        }));
        if worker {
            tasks.push(edgecert::app::managed::start(&app.state).expect("ACME is configured"));
        }
        let root = std::fs::read(&pebble.root).expect("Pebble's root");
        Some(Self {
            app,
            pebble: std::sync::Mutex::new(pebble),
            root,
            dns,
            http,
            https,
            tasks,
        })
    }

    pub(super) async fn create(&self, hostname: &str) -> Value {
        let body = json!({ "hostname": hostname, "ssl": { "method": "http", "type": "dv" } });
        let created = self.app.post(&zone_hostnames(ZONE), &body).await;
        created.assert_success(StatusCode::CREATED).clone()
    }

    pub(super) async fn get(&self, id: &str) -> Value {
        let path = format!("{}/{id}", zone_hostnames(ZONE));
        self.app
            .get(&path)
            .await
            .assert_success(StatusCode::OK)
            .clone()
    }

    /// Polls the API, as a user's code does, until `done` likes the hostname.
    pub(super) async fn wait_for(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + ISSUED_WITHIN;
        loop {
            let hostname = self.get(id).await;
            if done(&hostname) {
                return hostname;
            }
            if Instant::now() > deadline {
                let log = match self.pebble.lock() {
                    Ok(mut pebble) => pebble.log(),
                    Err(_) => String::new(),
                };
                panic!("not there within {ISSUED_WITHIN:?}: {hostname}\nPebble:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The leaf the edge serves for `name`, once it is the one with `fingerprint`: after each
    /// re-read the edge reports (the worker announces its deployment just after committing
    /// it, so the first report may predate it), the edge is asked once.
    pub(super) async fn eventually_served(&self, name: &str, fingerprint: &str) -> Vec<u8> {
        let changes = &self.app.state.served_changes;
        let mut change = changes.sequence();
        loop {
            let reread = tokio::time::timeout(ISSUED_WITHIN, changes.served(change)).await;
            let outcome = self.handshake(name).await;
            match outcome {
                Ok(leaf) if hex(&Sha256::digest(&leaf)) == fingerprint => return leaf,
                outcome if reread.is_err() => {
                    panic!("the edge does not serve the issued certificate: {outcome:?}")
                }
                // Served before the deployment's change: wait for the next re-read.
                _ => change = changes.sequence().max(change + 1),
            }
        }
    }

    async fn handshake(&self, name: &str) -> std::io::Result<Vec<u8>> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(&self.root).expect("root PEM"))
            .expect("root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(self.https).await?;
        let server_name = ServerName::try_from(name.to_string()).expect("server name");
        let stream = TlsConnector::from(Arc::new(config))
            .connect(server_name, tcp)
            .await?;
        let (_, session) = stream.get_ref();
        Ok(session.peer_certificates().expect("a verified chain")[0].to_vec())
    }

    /// GET `path` from the edge's plain HTTP listener with `Host: host`.
    pub(super) async fn edge_get(&self, path: &str, host: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.http).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("answer");
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {answer}"));
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

/// pebble-challtestsrv as Pebble's DNS server only: every A query answered with 127.0.0.1
/// unless [`ChallTestSrv::point`] says otherwise, no AAAA answers, no challenge servers.
pub(super) struct ChallTestSrv {
    _process: Process,
    dns: SocketAddr,
    management: SocketAddr,
}

impl ChallTestSrv {
    #[track_caller]
    fn start() -> Self {
        // Ports taken by another process between the pick and the exec show up as "address
        // already in use"; new ports fix that.
        for _ in 0..3 {
            // Held open until just before the exec, so nothing else takes them meanwhile.
            let (dns_sockets, dns) = free_udp_and_tcp_port();
            let management_socket = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
            let management = management_socket.local_addr().expect("address");
            let mut command = std::process::Command::new("pebble-challtestsrv");
            command
                .args([
                    "-dns01",
                    &dns.to_string(),
                    "-management",
                    &management.to_string(),
                ])
                .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
                .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""]);
            drop((dns_sockets, management_socket));
            let mut process = Process::spawn(command);
            match process.receive_until(None, TIMEOUT, |line| {
                line.contains("Starting management server") || line.contains("in use")
            }) {
                Ok(line) if !line.contains("in use") => {
                    // The line comes just before the listener is bound; wait on output (or
                    // the port) rather than sleeping.
                    while !accepts(management) {
                        match process.receive_until(None, Duration::from_millis(20), |_| true) {
                            Ok(_) | Err(Ended::TimedOut) => {}
                            Err(Ended::Closed) => panic!("pebble-challtestsrv exited"),
                        }
                    }
                    return Self {
                        _process: process,
                        dns,
                        management,
                    };
                }
                Ok(_) => eprintln!("pebble-challtestsrv lost a port race, retrying"),
                Err(end) => panic!(
                    "pebble-challtestsrv did not start ({end:?}):\n{}",
                    process.lines().join("\n")
                ),
            }
        }
        panic!("pebble-challtestsrv lost the port race three times");
    }

    /// Makes `host` resolve to `address` (`None`: back to the default 127.0.0.1).
    pub(super) fn point(&self, host: &str, address: Option<&str>) {
        let (path, body) = match address {
            Some(address) => ("/add-a", json!({ "host": host, "addresses": [address] })),
            None => ("/clear-a", json!({ "host": host })),
        };
        let body = body.to_string();
        let mut stream = std::net::TcpStream::connect(self.management).expect("management");
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.management,
            body.len()
        )
        .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    }
}

/// A loopback port free for both UDP and TCP (DNS uses both), with the sockets that hold it.
fn free_udp_and_tcp_port() -> ((UdpSocket, StdTcpListener), SocketAddr) {
    loop {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind UDP");
        let address = udp.local_addr().expect("address");
        if let Ok(tcp) = StdTcpListener::bind(address) {
            return ((udp, tcp), address);
        }
    }
}

fn tools_present() -> bool {
    let missing: Vec<&str> = ["pebble", "pebble-challtestsrv", "curl"]
        .into_iter()
        .filter(|tool| !on_path(tool))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
    assert!(
        !required,
        "{REQUIRE_ENV} is set, but these are not on PATH: {missing:?} (`apt-get install pebble curl`)"
    );
    eprintln!("SKIPPED: managed certificates need {missing:?} on PATH (`apt-get install pebble`)");
    false
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
