//! The real `edgecert` binary, started the way an operator starts it: start-up failures, the
//! first-start token, file permissions, restarts with the same or another master key, signals.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::common::{self, Backend, TestDatabase, ZONE};
use crate::process::{
    ClosedPort, Server, Stream, TIMEOUT, edgecert, get, read_answer, request, write_request,
};

/// Base64 of 32 bytes that no generated key will ever equal.
fn fixed_master_key() -> String {
    BASE64.encode([7u8; 32])
}

fn csr_list_path() -> String {
    format!("/client/v4/zones/{ZONE}/custom_csrs")
}

/// The token printed at first start: the first non-empty line after the announcement.
#[track_caller]
fn generated_token(server: &mut Server) -> String {
    server
        .process
        .wait_for_stdout(|line| line.contains("Use it as"));
    let seen = server.process.seen(Stream::Stdout);
    let announcement = seen
        .iter()
        .position(|line| line.contains("created an API token"))
        .unwrap_or_else(|| panic!("no token announcement on stdout: {seen:?}"));
    let token = seen[announcement + 1..]
        .iter()
        .map(|line| line.trim())
        .find(|line| !line.is_empty())
        .unwrap_or_default()
        .to_string();
    assert!(
        token.len() >= 32
            && token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "not a plausible token: {token:?} in {seen:?}"
    );
    token
}

/// Asserts that `token` is accepted: the CSR list answers 200 with a success envelope.
#[track_caller]
fn assert_token_works(addr: SocketAddr, token: &str) {
    let (status, body) = get(addr, &csr_list_path(), Some(&format!("Bearer {token}")));
    assert_eq!(status, 200, "body: {body}");
    assert_eq!(body["success"], true, "body: {body}");
}

/// Runs `command`, which must fail to start, and returns its single line of complaint after
/// checking it names every one of `expected`.
#[track_caller]
fn assert_fails_to_start(command: Command, expected: &[&str]) -> String {
    let finished = crate::process::run(command);
    let stderr = &finished.stderr;
    assert!(
        !stderr.contains("panicked"),
        "a panic, not an error:\n{stderr}"
    );
    assert!(
        matches!(finished.status.code(), Some(code) if code != 0 && code != 101),
        "expected an error exit (not success, a panic or a signal), got {}; stderr:\n{stderr}",
        finished.status
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr:\n{stderr}");
    let line = lines[0];
    assert!(line.starts_with("edgecert: "), "{line}");
    for needle in expected {
        assert!(
            line.contains(needle),
            "{line:?} does not mention {needle:?}"
        );
    }
    assert!(
        finished.stdout.trim().is_empty(),
        "a failed start printed on stdout: {}",
        finished.stdout
    );
    line.to_string()
}

/// Every file of the default SQLite database: `edgecert.db`, its WAL and shm, the key file.
fn database_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("list the working directory")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("edgecert.db"))
        })
        .collect();
    files.sort();
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The token itself is in no database file, nor its plain SHA-256, but its keyed hash is: so
/// the search does look in the right place.
#[track_caller]
fn assert_only_hash_stored(dir: &Path, token: &str) {
    let files = database_files(dir);
    assert!(
        files.iter().any(|f| f.ends_with("edgecert.db")),
        "{files:?}"
    );
    let key_file = std::fs::read_to_string(dir.join("edgecert.db.master-key"))
        .expect("the master key file beside the database");
    let master_key = edgecert::pki::MasterKey::from_base64(&key_file).expect("a master key");
    let hash = edgecert::app::stored_digest(&master_key, token);
    let plain = edgecert::app::legacy_digest(token);
    let mut hash_found = false;
    for file in &files {
        let bytes = std::fs::read(file).expect("read database file");
        assert!(
            !contains(&bytes, token.as_bytes()),
            "the API token is stored in clear in {}",
            file.display()
        );
        assert!(
            !contains(&bytes, &plain),
            "the API token's unkeyed SHA-256 is stored in {}",
            file.display()
        );
        hash_found |= contains(&bytes, &hash);
    }
    assert!(hash_found, "the token's hash is in none of {files:?}");
}

#[test]
fn unknown_database_scheme_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = edgecert(dir.path());
    command.env("DATABASE_URL", "mysql://x");
    assert_fails_to_start(command, &["DATABASE_URL"]);
}

#[test]
fn taken_port_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut command = edgecert(dir.path());
    command.env("EDGECERT_LISTEN", addr.to_string());
    assert_fails_to_start(command, &[&format!("cannot listen on {addr}")]);
    drop(taken);
}

/// The edge's listeners are bound before the database is opened, like the API's.
#[test]
fn taken_edge_ports_are_one_line_errors_before_the_database_is_touched() {
    for flag in ["EDGECERT_EDGE_LISTEN", "EDGECERT_EDGE_HTTP_LISTEN"] {
        let dir = tempfile::tempdir().unwrap();
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let mut command = edgecert(dir.path());
        command.env(flag, addr.to_string());
        let option = flag
            .trim_start_matches("EDGECERT_")
            .to_ascii_lowercase()
            .replace('_', "-");
        assert_fails_to_start(command, &[&format!("cannot listen on {addr} (--{option})")]);
        assert!(
            !dir.path().join("edgecert.db").exists(),
            "{flag}: the database was created before the port was found taken"
        );
        drop(taken);
    }
}

#[test]
fn unreadable_master_key_file_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_file = dir.path().join("keys");
    std::fs::create_dir(&not_a_file).unwrap();
    let mut command = edgecert(dir.path());
    command.env("EDGECERT_MASTER_KEY_FILE", &not_a_file);
    assert_fails_to_start(
        command,
        &["master key file", &not_a_file.display().to_string()],
    );
}

#[test]
fn short_bootstrap_token_is_a_one_line_error_that_does_not_echo_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = edgecert(dir.path());
    command.env("EDGECERT_BOOTSTRAP_TOKEN", "s3cr3t!!");
    let line = assert_fails_to_start(
        command,
        &["EDGECERT_BOOTSTRAP_TOKEN", "8 characters", "at least 32"],
    );
    assert!(!line.contains("s3cr3t!!"), "{line}");
    assert!(
        database_files(dir.path()).is_empty(),
        "refused before the database is created"
    );
}

#[test]
fn malformed_master_key_is_a_one_line_error_that_does_not_echo_it() {
    let short_key = BASE64.encode([7u8; 16]);
    for bad in ["not base64 at all!", short_key.as_str()] {
        let dir = tempfile::tempdir().unwrap();
        let mut command = edgecert(dir.path());
        command.env("EDGECERT_MASTER_KEY", bad);
        let line = assert_fails_to_start(command, &["EDGECERT_MASTER_KEY"]);
        assert!(!line.contains(bad), "the secret is echoed: {line}");
    }
}

#[tokio::test]
async fn postgres_needs_an_explicit_master_key() {
    if common::postgres_admin_url().is_none() {
        eprintln!(
            "SKIPPED: set {} to run this test against Postgres",
            common::POSTGRES_ENV
        );
        return;
    }
    let db = TestDatabase::create(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();

    let mut command = edgecert(dir.path());
    command.env("DATABASE_URL", &db.url);
    assert_fails_to_start(command, &["set EDGECERT_MASTER_KEY"]);

    let mut command = edgecert(dir.path());
    command
        .env("DATABASE_URL", &db.url)
        .env("EDGECERT_MASTER_KEY", fixed_master_key())
        .env("EDGECERT_BOOTSTRAP_TOKEN", common::TOKEN);
    let server = Server::start(command);
    assert_token_works(server.addr, common::TOKEN);
    server.stop();
    assert!(
        database_files(dir.path()).is_empty(),
        "Postgres mode wrote SQLite files"
    );
}

#[test]
fn first_start_prints_a_working_token_once_and_stores_only_its_hash() {
    let dir = tempfile::tempdir().unwrap();

    let mut first = Server::start(edgecert(dir.path()));
    let token = generated_token(&mut first);
    assert!(dir.path().join("edgecert.db").is_file());
    assert!(dir.path().join("edgecert.db.master-key").is_file());
    assert_token_works(first.addr, &token);
    let (status, body) = get(
        first.addr,
        &csr_list_path(),
        Some(&format!("Bearer {token}x")),
    );
    assert_eq!(status, 401, "a wrong token is refused; body: {body}");
    assert_eq!(body["success"], false, "body: {body}");
    assert_only_hash_stored(dir.path(), &token);
    let first = first.stop();
    assert!(
        !first.stderr.contains(&token),
        "the token was logged:\n{}",
        first.stderr
    );
    assert_only_hash_stored(dir.path(), &token);

    let second = Server::start(edgecert(dir.path()));
    assert_token_works(second.addr, &token);
    let second = second.stop();
    assert!(
        second.stdout.trim().is_empty(),
        "a restart prints nothing on stdout, got:\n{}",
        second.stdout
    );
}

#[test]
fn default_sqlite_files_are_private_to_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(edgecert(dir.path()));
    let files = database_files(dir.path());
    for expected in ["edgecert.db", "edgecert.db.master-key"] {
        assert!(
            files.iter().any(|f| f.ends_with(expected)),
            "{expected} missing from {files:?}"
        );
    }
    let modes: Vec<_> = files
        .iter()
        .map(|file| {
            let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
            (
                file.file_name().unwrap().to_string_lossy().into_owned(),
                mode,
            )
        })
        .collect();
    // The database holds sealed private keys and token hashes; the key file unseals them.
    assert!(
        modes.iter().all(|(_, mode)| *mode == 0o600),
        "every file must be mode 0600, got {:?}",
        modes
            .iter()
            .map(|(name, mode)| format!("{name}: {mode:o}"))
            .collect::<Vec<_>>()
    );
    server.stop();
}

#[test]
fn a_different_master_key_is_refused_and_the_original_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Server::start(edgecert(dir.path()));
    let token = generated_token(&mut first);
    first.stop();

    let mut command = edgecert(dir.path());
    command.env("EDGECERT_MASTER_KEY", fixed_master_key());
    assert_fails_to_start(command, &["master key does not match"]);

    // The refused start must not have replaced the stored key check.
    let again = Server::start(edgecert(dir.path()));
    assert_token_works(again.addr, &token);
    again.stop();
}

#[test]
fn strict_mode_is_set_by_flag_or_environment() {
    let starts: [(&[&str], Option<&str>, bool); 3] = [
        (&["serve", "--strict"], None, true),
        (&["serve"], Some("true"), true),
        (&["serve"], None, false),
    ];
    for (args, env, strict) in starts {
        let dir = tempfile::tempdir().unwrap();
        let mut command = edgecert(dir.path());
        command
            .args(args)
            .env("EDGECERT_BOOTSTRAP_TOKEN", common::TOKEN);
        if let Some(value) = env {
            command.env("EDGECERT_STRICT", value);
        }
        let server = Server::start(command);
        assert!(
            server.ready_line.contains(&format!("strict={strict}")),
            "{args:?} with EDGECERT_STRICT={env:?}: {}",
            server.ready_line
        );
        assert_token_works(server.addr, common::TOKEN);
        server.stop();
    }
}

#[test]
fn help_exits_zero_and_lists_serve() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = edgecert(dir.path());
    command.arg("--help");
    let finished = crate::process::run(command);
    assert!(finished.status.success(), "{}", finished.status);
    assert!(finished.stdout.contains("serve"), "{}", finished.stdout);
    assert!(
        database_files(dir.path()).is_empty(),
        "--help created files"
    );
}

#[test]
fn a_lost_key_file_is_reported_not_silently_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(edgecert(dir.path()));
    first.stop();
    let key_file = dir.path().join("edgecert.db.master-key");
    std::fs::remove_file(&key_file).unwrap();

    let message = assert_fails_to_start(
        edgecert(dir.path()),
        &["edgecert.db.master-key", "is missing"],
    );
    assert!(message.contains("restore"), "{message}");
    assert!(!key_file.exists(), "no replacement key may be written");
}

/// CSR creations the server at `addr` has taken in: generating a key, waiting for the key
/// generator, or answered 201.
fn taken_in(addr: SocketAddr, authorization: &str) -> f64 {
    let answer = request(
        addr,
        "GET",
        "/metrics",
        &[("Authorization", authorization)],
        None,
    );
    answer
        .body
        .lines()
        .filter(|line| {
            line.starts_with("edgecert_key_generations_in_flight ")
                || line.starts_with("edgecert_key_generations_queued ")
                || (line.starts_with("edgecert_http_requests_total{")
                    && line.contains("status=\"201\""))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// SIGTERM while CSR creations are queued behind one key generator: every accepted request
/// still gets its 201, everything answered is stored, and the process exits 0.
#[test]
fn sigterm_during_load_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = edgecert(dir.path());
    command
        .env(
            "EDGECERT_BOOTSTRAP_TOKEN",
            "load-test-token-0123456789abcdef0123",
        )
        .env("EDGECERT_KEYGEN_CONCURRENCY", "1")
        // Without a pool every RSA CSR generates its key behind the one permit. With one, the
        // refill thread would race the requests, and those finding a pooled key would not load
        // the shutdown.
        .env("EDGECERT_RSA_POOL_SIZE", "0");
    let server = Server::start(command);
    let addr = server.addr;
    let body = r#"{"country":"US","state":"MA","locality":"Boston","organization":"City of Boston",
        "common_name":"app.example.com","sans":["app.example.com"],"key_type":"rsa2048"}"#;
    let (sent_tx, sent_rx) = std::sync::mpsc::channel();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let sent_tx = sent_tx.clone();
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).expect("connect to edgecert");
                write_request(
                    &mut stream,
                    "POST",
                    &csr_list_path(),
                    &[(
                        "Authorization",
                        "Bearer load-test-token-0123456789abcdef0123",
                    )],
                    Some(body),
                );
                sent_tx.send(()).expect("main thread waits");
                let answer = read_answer(stream);
                (answer.status, answer.json())
            })
        })
        .collect();
    for _ in 0..8 {
        sent_rx.recv_timeout(TIMEOUT).expect("clients started");
    }
    // The signal must land once all eight requests are taken in: each is then generating its
    // key, queued for the one permit, or answered, as the server's own gauges and counters
    // say. A connection accepted but not yet read would be closed unanswered by shutdown,
    // so arrival order alone is no proof. Another process has no event to wait on: its
    // metrics are read again until they add up, within the usual bound.
    let deadline = std::time::Instant::now() + TIMEOUT;
    while taken_in(addr, "Bearer load-test-token-0123456789abcdef0123") < 8.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the eight creates were not all taken in"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let finished = server.stop();
    let mut created = 0;
    for client in clients {
        let (status, body) = client.join().expect("client thread");
        // Requests that reached the server before the signal are finished; later connection
        // attempts are refused, which the thread above would report as a panic instead.
        assert_eq!(status, 201, "an accepted request was not completed: {body}");
        created += 1;
    }
    assert!(
        !finished.stderr.contains("exiting anyway"),
        "{}",
        finished.stderr
    );
    // The test is only worth something if the signal came while work was still queued.
    let signal_at = finished
        .stderr
        .find("SIGTERM received")
        .expect("signal logged");
    // Each answered request logs one line; the creations are the ones with status 201.
    let last_created = finished
        .stderr
        .rfind("status=201")
        .expect("creations logged");
    assert!(
        signal_at < last_created,
        "every CSR was created before the signal; the test did not load the shutdown:\n{}",
        finished.stderr
    );

    let mut command = edgecert(dir.path());
    command.env(
        "EDGECERT_BOOTSTRAP_TOKEN",
        "load-test-token-0123456789abcdef0123",
    );
    let again = Server::start(command);
    let (status, list) = get(
        again.addr,
        &format!("{}?per_page=50", csr_list_path()),
        Some("Bearer load-test-token-0123456789abcdef0123"),
    );
    assert_eq!(status, 200);
    assert_eq!(list["result_info"]["total_count"], created, "{list}");
    again.stop();
}

#[test]
fn migrate_check_config_and_probe_commands() {
    let dir = tempfile::tempdir().unwrap();

    let mut command = edgecert(dir.path());
    command.arg("check-config");
    let output = command.output().expect("run check-config");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("configuration is valid"), "{stdout}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "check-config must create nothing"
    );

    let mut command = edgecert(dir.path());
    command
        .arg("check-config")
        .env("EDGECERT_TRUST_ROOTS", dir.path().join("missing.pem"));
    assert_fails_to_start(command, &["EDGECERT_TRUST_ROOTS", "missing.pem"]);

    let mut command = edgecert(dir.path());
    command.arg("migrate");
    let output = command.output().expect("run migrate");
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("migration 9 of 9"),
        "{output:?}"
    );
    assert!(dir.path().join("edgecert.db").exists());

    let mut command = edgecert(dir.path());
    command.env(
        "EDGECERT_BOOTSTRAP_TOKEN",
        "probe-token-0123456789abcdef0123456789",
    );
    let server = Server::start(command);
    let probe = |addr: String| {
        let mut command = edgecert(dir.path());
        command.arg("probe").env("EDGECERT_LISTEN", addr);
        command.output().expect("run probe")
    };
    let ready = probe(server.addr.to_string());
    assert!(ready.status.success(), "{ready:?}");
    let unspecified = probe(format!("0.0.0.0:{}", server.addr.port()));
    assert!(
        unspecified.status.success(),
        "0.0.0.0 is probed on loopback: {unspecified:?}"
    );
    let (status, body) = get(server.addr, "/readyz", None);
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ready");
    server.stop();
    // Held bound but not listening: never a port that was free a moment ago and may be taken.
    let closed = ClosedPort::bind();
    let down = probe(closed.addr.to_string());
    assert!(
        !down.status.success(),
        "probe must fail with nothing listening"
    );
}
