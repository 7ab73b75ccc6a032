//! A real ACME round trip: Pebble (Let's Encrypt's test CA) issues, through lego (a real ACME
//! client), a certificate for a CSR that edgecert created, and the chain is uploaded back as a
//! custom hostname's certificate, as a SaaS provider using Cloudflare's CSR workflow would.
//!
//! Needs `pebble`, `lego`, `curl` and `openssl` on PATH (`apt-get install pebble lego`). Without
//! them each test prints SKIPPED and passes, unless `EDGECERT_REQUIRE_ACME` is set, as `.ci/run`
//! sets it, so CI cannot silently skip the only test that uses a real CA.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use edgecert::AppState;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{Value, json};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::*;

use crate::common::{
    Backend, TOKEN, TestApp, TestResponse, ZONE, csr_body, zone_csrs, zone_hostnames,
};
use crate::on_both_backends;
use crate::process::{Ended, Process, TIMEOUT, run};

/// Set (to anything but empty or `0`) to make missing tools a failure instead of a skip.
pub const REQUIRE_ENV: &str = "EDGECERT_REQUIRE_ACME";

const TOOLS: [&str; 4] = ["pebble", "lego", "curl", "openssl"];

/// What Pebble 2.4 prints once it is about to serve ACME, followed by the directory URL.
const PEBBLE_READY: &str = "ACME directory available at: ";

/// The CSR's common name and the custom hostname; lego names its files after it.
const HOSTNAME: &str = "app.example.com";
const SANS: [&str; 2] = ["app.example.com", "www.example.com"];

on_both_backends!(
    pebble_issues_a_p256v1_certificate_for_an_edgecert_csr,
    pebble_issues_an_rsa2048_certificate_for_an_edgecert_csr,
);

async fn pebble_issues_a_p256v1_certificate_for_an_edgecert_csr(backend: Backend) {
    acme_round_trip(backend, "p256v1").await;
}

async fn pebble_issues_an_rsa2048_certificate_for_an_edgecert_csr(backend: Backend) {
    acme_round_trip(backend, "rsa2048").await;
}

async fn acme_round_trip(backend: Backend, key_type: &str) {
    if !acme_tools_present() {
        return;
    }
    let started = Instant::now();

    // Pebble first: it generates its root at start-up, and edgecert must be opened trusting it.
    // Starting it and running lego block on child processes, hence `block_in_place`.
    let mut pebble = tokio::task::block_in_place(Pebble::start);
    let root = pebble.root.clone();
    let app = TestApp::with(backend, |args| args.trust_roots = Some(root)).await;

    let mut body = csr_body(HOSTNAME);
    body["sans"] = json!(SANS);
    body["key_type"] = json!(key_type);
    let csr = app.create_csr(&body).await;
    let csr_id = csr["id"].as_str().expect("CSR id").to_string();
    let csr_pem = csr["csr"].as_str().expect("CSR PEM").to_string();

    let issued = tokio::task::block_in_place(|| pebble.issue(&csr_pem));
    tokio::task::block_in_place(|| check_issued(&issued, &csr_pem, &pebble.root));
    eprintln!(
        "ACME on {backend:?} with {key_type}: certificate issued and verified after {:?}",
        started.elapsed()
    );

    upload_and_delete(&app, &csr_id, &issued.bundle, &pebble.root).await;
    eprintln!(
        "ACME on {backend:?} with {key_type}: round trip done after {:?}",
        started.elapsed()
    );
}

/// The certificate-upload contract, checked with the chain Pebble issued, which the edge
/// then serves to a client trusting only Pebble's root.
async fn upload_and_delete(app: &TestApp, csr_id: &str, bundle: &str, pebble_root: &Path) {
    let hostnames = zone_hostnames(ZONE);
    let upload = json!({
        "hostname": HOSTNAME,
        "ssl": {"custom_csr_id": csr_id, "custom_certificate": bundle},
    });

    // The same database, CSR and key, reopened without Pebble's root (public roots only): the
    // chain now ends at no trusted root, and that alone must make the upload fail. A fresh
    // TestApp would not do: its database lacks the CSR, which could be refused first.
    let mut public_roots_only = app.args.clone();
    public_roots_only.trust_roots = None;
    let (state, _) = AppState::open(&public_roots_only)
        .await
        .expect("the same database opens without Pebble's root");
    let untrusted = edgecert::http::router(state);
    send(&untrusted, Method::POST, &hostnames, Some(&upload))
        .await
        .assert_error(StatusCode::BAD_REQUEST, &[1441]);

    let created = app.post(&hostnames, &upload).await;
    let hostname = created.assert_success(StatusCode::CREATED);
    let ssl = &hostname["ssl"];
    assert_eq!(ssl["status"], "active", "body: {}", created.body);
    assert_eq!(ssl["custom_csr_id"], csr_id, "body: {}", created.body);
    let hosts: Vec<&str> = ssl["hosts"]
        .as_array()
        .unwrap_or_else(|| panic!("ssl.hosts is not an array: {}", created.body))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(hosts.contains(&HOSTNAME), "body: {}", created.body);
    assert!(
        ssl["issuer"]
            .as_str()
            .is_some_and(|issuer| !issuer.is_empty()),
        "body: {}",
        created.body
    );
    let hostname_id = hostname["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no result.id: {}", created.body))
        .to_string();

    served_by_edge(app, pebble_root).await;

    // The CSR's key now serves a certificate, so the CSR cannot go (and SDKs must not retry).
    let csr_path = format!("{}/{csr_id}", zone_csrs(ZONE));
    app.delete(&csr_path).await.assert_conflict(1420);

    // Cloudflare answers this delete with a bare `{"id": ...}` at the top level.
    let deleted = app.delete(&format!("{hostnames}/{hostname_id}")).await;
    assert_eq!(deleted.status, StatusCode::OK, "body: {}", deleted.body);
    assert_eq!(deleted.body["id"], hostname_id, "body: {}", deleted.body);

    let freed = app.delete(&csr_path).await;
    assert_eq!(
        freed.assert_success(StatusCode::OK),
        &json!({ "id": csr_id })
    );
}

/// curl, trusting only Pebble's root and resolving the hostname to the edge, completes a
/// verified TLS handshake: the edge serves Pebble's chain with the key edgecert kept.
async fn served_by_edge(app: &TestApp, pebble_root: &Path) {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind the edge");
    let port = listener.local_addr().expect("edge address").port();
    // The edge loads what is stored when it starts, so the upload is already in its map.
    let (edge, reloader) = edgecert::edge::Edge::start(&app.state, Duration::from_secs(60))
        .await
        .expect("the edge starts");
    let limits = edgecert::http::connection::ConnectionLimits::from_args(&app.args);
    let server = tokio::spawn(edgecert::edge::serve_https(
        listener,
        edge,
        limits,
        std::future::pending(),
    ));
    let mut curl = Command::new("curl");
    curl.args([
        "--silent",
        "--show-error",
        "--noproxy",
        "*",
        "--output",
        "/dev/null",
    ])
    .args(["--max-time", &TIMEOUT.as_secs().to_string()])
    .args(["--write-out", "%{ssl_verify_result}"])
    .arg("--cacert")
    .arg(pebble_root)
    .arg("--resolve")
    .arg(format!("{HOSTNAME}:{port}:127.0.0.1"))
    .arg(format!("https://{HOSTNAME}:{port}/"));
    let fetched = tokio::task::block_in_place(|| run(curl));
    server.abort();
    reloader.abort();
    assert!(
        fetched.status.success() && fetched.stdout == "0",
        "curl over the edge with Pebble's root failed ({}): {}{}",
        fetched.status,
        fetched.stdout,
        fetched.stderr
    );
}

/// Sends an authenticated request through a router other than `TestApp`'s.
async fn send(router: &Router, method: Method, path: &str, body: Option<&Value>) -> TestResponse {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("valid request");
    crate::common::send_to(router, request).await
}

/// Whether every tool is on PATH; if not, skips or, when CI demands the test, fails.
fn acme_tools_present() -> bool {
    let missing: Vec<&str> = TOOLS.into_iter().filter(|tool| !on_path(tool)).collect();
    if missing.is_empty() {
        return true;
    }
    let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
    assert!(
        !required,
        "{REQUIRE_ENV} is set, but these are not on PATH: {missing:?} \
         (`apt-get install pebble lego curl openssl`)"
    );
    eprintln!(
        "SKIPPED: the ACME round trip needs {missing:?} on PATH \
         (`apt-get install pebble lego`); set {REQUIRE_ENV}=1 to make this a failure"
    );
    false
}

pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
    })
}

/// A port that was free a moment ago. Another process may take it before the child binds it;
/// Pebble's start retries with new ports when that happens.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind an ephemeral loopback port")
        .port()
}

/// A Pebble CA on loopback, with its own TLS certificate and a temporary directory holding
/// its files and lego's.
pub struct Pebble {
    /// Killed when the test ends, however it ends.
    process: Process,
    dir: tempfile::TempDir,
    /// The ACME directory URL.
    pub directory: String,
    /// The CA that signed Pebble's TLS certificate, for curl and lego.
    pub tls_ca: PathBuf,
    /// Pebble's issuing root (fresh at every start), as PEM.
    pub root: PathBuf,
}

/// How Pebble validates. The default accepts every challenge without looking at it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Validation {
    /// Really validate: HTTP-01 on this port of whatever address `dns_server` gives the name.
    pub real: Option<(u16, SocketAddr)>,
}

/// A Pebble process that accepts connections on both its ports.
struct Launched {
    process: Process,
    directory: String,
    management: SocketAddr,
}

/// Why a start failed, with everything Pebble printed.
struct StartFailure {
    reason: String,
    output: Vec<String>,
}

impl Pebble {
    #[track_caller]
    fn start() -> Self {
        Self::start_with(Validation::default())
    }

    #[track_caller]
    pub fn start_with(validation: Validation) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let tls_ca = write_tls_files(dir.path());
        // The ports are free when picked but may be taken before Pebble binds them (tests and
        // other builds run alongside); that shows as "address already in use", and new ports
        // fix it. Any other failure is real.
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            match Self::launch(dir.path(), validation) {
                Ok(launched) => {
                    let mut pebble = Self {
                        process: launched.process,
                        dir,
                        directory: launched.directory,
                        root: PathBuf::new(),
                        tls_ca,
                    };
                    pebble.root = pebble.fetch_root(launched.management);
                    return pebble;
                }
                Err(failure)
                    if attempt < ATTEMPTS
                        && failure
                            .output
                            .iter()
                            .any(|line| line.contains("address already in use")) =>
                {
                    eprintln!("Pebble lost a port race, retrying: {}", failure.reason);
                }
                Err(failure) => panic!(
                    "Pebble did not start: {}; its output:\n{}",
                    failure.reason,
                    failure.output.join("\n")
                ),
            }
        }
        unreachable!("the last attempt either returns or panics")
    }

    fn launch(dir: &Path, validation: Validation) -> Result<Launched, StartFailure> {
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let management = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let config = json!({
            "pebble": {
                "listenAddress": listen.to_string(),
                "managementListenAddress": management.to_string(),
                "certificate": dir.join("pebble-tls.pem"),
                "privateKey": dir.join("pebble-tls.key"),
                // The ports Pebble's validator connects to on the hostname being validated;
                // with PEBBLE_VA_ALWAYS_VALID it never connects.
                "httpPort": validation.real.map_or_else(free_port, |(port, _)| port),
                "tlsPort": free_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
                // Let's Encrypt's 90 days instead of Pebble's default of five years, so what is
                // uploaded looks like what a real ACME CA issues.
                "certificateValidityPeriod": 90 * 24 * 60 * 60,
            }
        });
        let config_path = dir.join("pebble-config.json");
        std::fs::write(&config_path, config.to_string()).expect("write Pebble's config");

        let mut command = Command::new("pebble");
        // A caller's PEBBLE_* settings (a longer chain, alternate roots) would change what
        // Pebble issues.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PEBBLE_") {
                command.env_remove(name);
            }
        }
        command
            .arg("-config")
            .arg(&config_path)
            .current_dir(dir)
            // No artificial delays, no spurious badNonce rejections: the tests are about
            // edgecert, not ACME robustness.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0");
        match validation.real {
            // Every order validated afresh, so a retry or renewal really fetches its token.
            Some((_, dns)) => {
                command
                    .arg("-dnsserver")
                    .arg(dns.to_string())
                    .env("PEBBLE_AUTHZREUSE", "0");
            }
            // No real validation: nothing serves the challenges lego's CSR run publishes.
            None => {
                command
                    .env("PEBBLE_VA_ALWAYS_VALID", "1")
                    .env("PEBBLE_AUTHZREUSE", "100");
            }
        }
        let mut process = Process::spawn(command);
        let deadline = Instant::now() + TIMEOUT;
        let failure = |reason: &str, process: &mut Process| StartFailure {
            reason: reason.to_string(),
            output: process.lines(),
        };

        let directory = match process.receive_until(None, TIMEOUT, |l| l.contains(PEBBLE_READY)) {
            Ok(line) => line
                .split_once(PEBBLE_READY)
                .map(|(_, url)| url.trim().to_string())
                .expect("the line was matched on it"),
            Err(Ended::TimedOut) => {
                return Err(failure("no ready line within the timeout", &mut process));
            }
            Err(Ended::Closed) => {
                return Err(failure("it exited before its ready line", &mut process));
            }
        };

        // Pebble prints that line just before it binds the ACME port, and starts the
        // management listener on a goroutine of its own: the line means "about to listen".
        // Connect to both to be sure. Between attempts, wait on Pebble's output rather than
        // sleep, so a failure to bind (Pebble prints why and exits) ends the wait at once.
        loop {
            if accepts(listen) && accepts(management) {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match process.receive_until(None, left.min(Duration::from_millis(20)), |_| true) {
                Ok(_) => {}
                Err(Ended::TimedOut) if left.is_zero() => {
                    let reason = "its ports did not accept within the timeout";
                    return Err(failure(reason, &mut process));
                }
                Err(Ended::TimedOut) => {}
                Err(Ended::Closed) => {
                    return Err(failure("it exited before listening", &mut process));
                }
            }
        }
        Ok(Launched {
            process,
            directory,
            management,
        })
    }

    /// Pebble's root, from its management interface over TLS checked against our CA.
    #[track_caller]
    fn fetch_root(&mut self, management: SocketAddr) -> PathBuf {
        let mut curl = Command::new("curl");
        curl.args(["--silent", "--show-error", "--fail", "--noproxy", "*"])
            .args(["--max-time", &TIMEOUT.as_secs().to_string()])
            .arg("--cacert")
            .arg(&self.tls_ca)
            .arg(format!("https://{management}/roots/0"));
        let fetched = run(curl);
        assert!(
            fetched.status.success() && fetched.stdout.starts_with("-----BEGIN CERTIFICATE-----"),
            "cannot fetch Pebble's root ({}): {}{}\nPebble's output:\n{}",
            fetched.status,
            fetched.stdout,
            fetched.stderr,
            self.log()
        );
        let path = self.dir.path().join("pebble-root.pem");
        // The harness hands output over as lines, without the final newline.
        std::fs::write(&path, format!("{}\n", fetched.stdout)).expect("write Pebble's root");
        path
    }

    /// Everything Pebble printed so far, for failure messages.
    pub fn log(&mut self) -> String {
        self.process.lines().join("\n")
    }

    /// Has lego obtain a certificate for `csr_pem` and returns what it wrote.
    #[track_caller]
    fn issue(&mut self, csr_pem: &str) -> Issued {
        let csr_path = self.dir.path().join("edgecert.csr");
        std::fs::write(&csr_path, csr_pem).expect("write the CSR");
        let lego_dir = self.dir.path().join("lego");
        // The http-01 solver writes its token files here instead of listening on a port: one
        // port race fewer, and with PEBBLE_VA_ALWAYS_VALID nothing would fetch them anyway.
        let webroot = self.dir.path().join("webroot");
        std::fs::create_dir_all(&webroot).expect("create lego's webroot");

        let mut lego = Command::new("lego");
        // A caller's LEGO_* settings (LEGO_PATH, another CA bundle) would change the run.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("LEGO_") {
                lego.env_remove(name);
            }
        }
        lego.env("LEGO_CA_CERTIFICATES", &self.tls_ca)
            .args(["--server", &self.directory])
            .args(["--accept-tos", "--email", "ci@example.com"])
            .arg("--csr")
            .arg(&csr_path)
            .args(["--http", "--http.webroot"])
            .arg(&webroot)
            .arg("--path")
            .arg(&lego_dir)
            .arg("run");
        // Usually well under a second; sometimes about five more. Pebble validates a challenge
        // on a goroutine of its own, and when lego's first look at the authorization comes too
        // early, lego waits its fallback five seconds, Pebble sending no Retry-After there.
        let finished = run(lego);
        let lego_output = format!("stdout:\n{}\nstderr:\n{}", finished.stdout, finished.stderr);
        assert!(
            finished.status.success(),
            "lego failed ({}):\n{lego_output}\nPebble's output:\n{}",
            finished.status,
            self.log()
        );

        // For a CSR, lego 4.9.1 writes `<common name>.crt` (leaf then intermediate),
        // `<common name>.issuer.crt` and a JSON record, and no key: edgecert holds it.
        let certificates = lego_dir.join("certificates");
        let read = |name: String| {
            std::fs::read_to_string(certificates.join(&name)).unwrap_or_else(|e| {
                let listing: Vec<_> = std::fs::read_dir(&certificates)
                    .map(|entries| entries.flatten().map(|e| e.file_name()).collect())
                    .unwrap_or_default();
                panic!("lego wrote no {name} ({e}); it wrote {listing:?}; {lego_output}")
            })
        };
        Issued {
            bundle: read(format!("{HOSTNAME}.crt")),
            issuer: read(format!("{HOSTNAME}.issuer.crt")),
        }
    }
}

pub fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

/// What lego wrote: the chain as it would be uploaded, and the issuer on its own.
struct Issued {
    bundle: String,
    issuer: String,
}

/// Writes a throwaway CA and, signed by it, the TLS certificate and key Pebble serves on
/// 127.0.0.1 (Pebble ships none we could use outside its source tree). Returns the CA's path.
fn write_tls_files(dir: &Path) -> PathBuf {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "edgecert test CA for Pebble's TLS");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("self-signed CA");
    let issuer = Issuer::new(ca_params, ca_key);

    // Go (Pebble and lego) matches only subject alternative names, never the common name.
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()])
        .expect("server parameters");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().expect("server key");
    let cert = params.signed_by(&key, &issuer).expect("server certificate");

    let ca_path = dir.join("tls-ca.pem");
    std::fs::write(&ca_path, ca_cert.pem()).expect("write the TLS CA");
    std::fs::write(dir.join("pebble-tls.pem"), cert.pem()).expect("write Pebble's certificate");
    std::fs::write(dir.join("pebble-tls.key"), key.serialize_pem()).expect("write Pebble's key");
    ca_path
}

/// The issued chain is for edgecert's key and the CSR's names, and verifies up to Pebble's
/// root with an independent verifier (the openssl CLI).
#[track_caller]
fn check_issued(issued: &Issued, csr_pem: &str, root: &Path) {
    let blocks: Vec<Pem> = Pem::iter_from_buffer(issued.bundle.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("lego's bundle is not PEM ({e}):\n{}", issued.bundle));
    assert_eq!(
        blocks.iter().map(|b| b.label.as_str()).collect::<Vec<_>>(),
        ["CERTIFICATE", "CERTIFICATE"],
        "expected leaf and intermediate:\n{}",
        issued.bundle
    );
    let (_, issuer_block) = parse_x509_pem(issued.issuer.as_bytes()).expect("issuer PEM");
    assert_eq!(
        blocks[1].contents, issuer_block.contents,
        "the bundle's second certificate is the issuer"
    );
    let leaf = blocks[0].parse_x509().expect("leaf certificate");
    let intermediate = blocks[1].parse_x509().expect("intermediate certificate");

    let (_, csr_block) = parse_x509_pem(csr_pem.as_bytes()).expect("CSR PEM");
    let (_, csr) = X509CertificationRequest::from_der(&csr_block.contents).expect("CSR DER");
    // lego never saw a private key: the certificate is for the key edgecert keeps.
    assert_eq!(
        leaf.public_key().raw,
        csr.certification_request_info.subject_pki.raw,
        "the certificate's key is not the CSR's"
    );
    let mut names: Vec<String> = leaf
        .subject_alternative_name()
        .expect("well-formed SAN extension")
        .expect("a SAN extension")
        .value
        .general_names
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(dns) => dns.to_string(),
            other => panic!("unexpected SAN {other:?}"),
        })
        .collect();
    names.sort();
    assert_eq!(names, SANS);
    assert_eq!(leaf.issuer(), intermediate.subject());

    let dir = root.parent().expect("root's directory");
    let leaf_path = dir.join("leaf.pem");
    let issuer_path = dir.join("intermediate.pem");
    std::fs::write(&leaf_path, pem_certificate(&blocks[0].contents)).expect("write the leaf");
    std::fs::write(&issuer_path, &issued.issuer).expect("write the intermediate");
    let mut openssl = Command::new("openssl");
    openssl
        .arg("verify")
        .arg("-CAfile")
        .arg(root)
        .arg("-untrusted")
        .arg(&issuer_path)
        .arg(&leaf_path);
    let verified = run(openssl);
    assert!(
        verified.status.success() && verified.stdout.trim_end().ends_with(": OK"),
        "openssl verify ({}): {}{}",
        verified.status,
        verified.stdout,
        verified.stderr
    );
}

fn pem_certificate(der: &[u8]) -> String {
    let encoded = BASE64.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}
