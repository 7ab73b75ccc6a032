//! The real `edgecert` binary, started the way an operator starts it: start-up failures, the
//! first-start token, file permissions, restarts with the same or another master key, signals.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use crate::common::{self, Backend, TestDatabase, ZONE};

/// Generous for a cold start on a loaded two-core machine; only a broken server waits it out.
const TIMEOUT: Duration = Duration::from_secs(60);

const READY: &str = "edgecert is serving the API";

/// Base64 of 32 bytes that no generated key will ever equal.
fn fixed_master_key() -> String {
    BASE64.encode([7u8; 32])
}

fn csr_list_path() -> String {
    format!("/client/v4/zones/{ZONE}/custom_csrs")
}

/// `edgecert` in `dir`, on an ephemeral port, with none of the caller's settings.
fn edgecert(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_edgecert"));
    command
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A developer's or CI's own configuration (a Postgres DATABASE_URL, a bootstrap token)
    // would silently change what every test here starts.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("EDGECERT_") {
            command.env_remove(name);
        }
    }
    command
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env("EDGECERT_LISTEN", "127.0.0.1:0");
    command
}

/// Removes terminal colour sequences (`ESC [ ... letter`) so log fields can be matched.
fn strip_ansi(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// Reads `stream` line by line on its own thread, so the child never blocks on a full pipe.
fn forward_lines(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    // Keep draining even when nobody listens any more.
                    let _ = sender.send(strip_ansi(text.trim_end_matches(['\r', '\n'])));
                }
            }
        }
    });
    receiver
}

#[derive(Debug)]
enum Ended {
    Closed,
    TimedOut,
}

/// Receives lines into `seen` until one satisfies `wanted`.
fn receive_until(
    lines: &Receiver<String>,
    seen: &mut Vec<String>,
    deadline: Instant,
    wanted: impl Fn(&str) -> bool,
) -> Result<String, Ended> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if wanted(&line) {
                    return Ok(line);
                }
            }
            Err(RecvTimeoutError::Timeout) => return Err(Ended::TimedOut),
            Err(RecvTimeoutError::Disconnected) => return Err(Ended::Closed),
        }
    }
}

/// An `edgecert` child process, killed on drop so a failing test leaves nothing running.
struct Process {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    stdout_seen: Vec<String>,
    stderr_seen: Vec<String>,
}

/// What a process printed, once it has exited.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Process {
    fn spawn(mut command: Command) -> Self {
        let mut child = command.spawn().expect("edgecert starts");
        let stdout = forward_lines(child.stdout.take().expect("stdout is piped"));
        let stderr = forward_lines(child.stderr.take().expect("stderr is piped"));
        Self {
            child,
            stdout,
            stderr,
            stdout_seen: Vec::new(),
            stderr_seen: Vec::new(),
        }
    }

    #[track_caller]
    fn wait_for_stderr(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        match receive_until(&self.stderr, &mut self.stderr_seen, deadline, wanted) {
            Ok(line) => line,
            Err(end) => panic!(
                "stderr {end:?} before the expected line; stderr so far:\n{}",
                self.stderr_seen.join("\n")
            ),
        }
    }

    #[track_caller]
    fn wait_for_stdout(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        match receive_until(&self.stdout, &mut self.stdout_seen, deadline, wanted) {
            Ok(line) => line,
            Err(end) => panic!(
                "stdout {end:?} before the expected line; stdout so far:\n{}\nstderr so far:\n{}",
                self.stdout_seen.join("\n"),
                self.stderr_seen.join("\n")
            ),
        }
    }

    /// Waits for the process to exit by itself and returns everything it printed.
    #[track_caller]
    fn finish(&mut self) -> Finished {
        let deadline = Instant::now() + TIMEOUT;
        // A closed pipe means the process has exited (it starts no children).
        let stderr = receive_until(&self.stderr, &mut self.stderr_seen, deadline, |_| false);
        let stdout = receive_until(&self.stdout, &mut self.stdout_seen, deadline, |_| false);
        if matches!(stderr, Err(Ended::TimedOut)) || matches!(stdout, Err(Ended::TimedOut)) {
            panic!(
                "edgecert did not exit within {TIMEOUT:?}; stderr:\n{}",
                self.stderr_seen.join("\n")
            );
        }
        let status = self.child.wait().expect("wait for edgecert");
        Finished {
            status,
            stdout: self.stdout_seen.join("\n"),
            stderr: self.stderr_seen.join("\n"),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process that has logged that it serves the API.
struct Server {
    process: Process,
    addr: SocketAddr,
    ready_line: String,
}

impl Server {
    #[track_caller]
    fn start(command: Command) -> Self {
        let mut process = Process::spawn(command);
        let ready_line = process.wait_for_stderr(|line| line.contains(READY));
        let addr = ready_line
            .split_whitespace()
            .find_map(|field| field.strip_prefix("listen="))
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("no listen=ADDRESS in the ready line: {ready_line}"));
        Self {
            process,
            addr,
            ready_line,
        }
    }

    /// The token printed at first start: the first non-empty line after the announcement.
    #[track_caller]
    fn generated_token(&mut self) -> String {
        self.process
            .wait_for_stdout(|line| line.contains("Use it as"));
        let seen = &self.process.stdout_seen;
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

    /// Sends SIGTERM, as a service manager or `docker stop` does, and waits for the exit.
    #[track_caller]
    fn terminate(mut self) -> Finished {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.process.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed: {status}");
        self.process.finish()
    }

    /// Terminates the server and asserts a clean, graceful exit.
    #[track_caller]
    fn stop(self) -> Finished {
        let finished = self.terminate();
        assert_eq!(
            finished.status.code(),
            Some(0),
            "SIGTERM must end edgecert cleanly ({}); stderr:\n{}",
            finished.status,
            finished.stderr
        );
        assert!(
            finished.stderr.contains("edgecert stopped"),
            "no graceful shutdown logged; stderr:\n{}",
            finished.stderr
        );
        assert!(!finished.stderr.contains("panicked"), "{}", finished.stderr);
        finished
    }
}

/// `GET path` over a raw connection: the status code and the JSON body.
#[track_caller]
fn get(addr: SocketAddr, path: &str, authorization: Option<&str>) -> (u16, Value) {
    send(addr, "GET", path, authorization, None)
}

/// One request over a raw connection: the status code and the JSON body.
#[track_caller]
fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).expect("connect to edgecert");
    write_request(&mut stream, method, path, authorization, body);
    read_response(stream)
}

#[track_caller]
fn write_request(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<&str>,
) {
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: edgecert\r\nConnection: close\r\n");
    if let Some(value) = authorization {
        request.push_str(&format!("Authorization: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or_default());
    stream.write_all(request.as_bytes()).expect("send request");
}

#[track_caller]
fn read_response(mut stream: TcpStream) -> (u16, Value) {
    stream
        .set_read_timeout(Some(TIMEOUT))
        .expect("read timeout");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text:?}"));
    (status, body)
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
    let finished = Process::spawn(command).finish();
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

/// The token itself is in no database file, but its hash is: so the search does look in the
/// right place.
#[track_caller]
fn assert_only_hash_stored(dir: &Path, token: &str) {
    let files = database_files(dir);
    assert!(
        files.iter().any(|f| f.ends_with("edgecert.db")),
        "{files:?}"
    );
    let hash = edgecert::app::hash_token(token);
    let mut hash_found = false;
    for file in &files {
        let bytes = std::fs::read(file).expect("read database file");
        assert!(
            !contains(&bytes, token.as_bytes()),
            "the API token is stored in clear in {}",
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
    let token = first.generated_token();
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
    let token = first.generated_token();
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
    let finished = Process::spawn(command).finish();
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

/// SIGTERM while CSR creations are queued behind one key generator: every accepted request
/// still gets its 201, everything answered is stored, and the process exits 0.
#[test]
fn sigterm_during_load_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = edgecert(dir.path());
    command
        .env("EDGECERT_BOOTSTRAP_TOKEN", "load-test-token")
        .env("EDGECERT_KEYGEN_CONCURRENCY", "1");
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
                    Some("Bearer load-test-token"),
                    Some(body),
                );
                sent_tx.send(()).expect("main thread waits");
                read_response(stream)
            })
        })
        .collect();
    for _ in 0..8 {
        sent_rx.recv_timeout(TIMEOUT).expect("clients started");
    }
    // The server accepts connections in arrival order: once a later connection is answered,
    // the eight requests have been taken in and are being worked on (or queue for the key
    // generator), so the signal lands mid-load rather than before it.
    let (status, _) = get(addr, "/healthz", None);
    assert_eq!(status, 200);
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
    command.env("EDGECERT_BOOTSTRAP_TOKEN", "load-test-token");
    let again = Server::start(command);
    let (status, list) = get(
        again.addr,
        &format!("{}?per_page=50", csr_list_path()),
        Some("Bearer load-test-token"),
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
        String::from_utf8_lossy(&output.stdout).contains("migration 4 of 4"),
        "{output:?}"
    );
    assert!(dir.path().join("edgecert.db").exists());

    let mut command = edgecert(dir.path());
    command.env("EDGECERT_BOOTSTRAP_TOKEN", "probe-token");
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
    let down = probe(format!("127.0.0.1:{}", free_port()));
    assert!(
        !down.status.success(),
        "probe must fail with nothing listening"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}
