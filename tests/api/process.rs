//! Child processes for the tests that run programs: the real `edgecert` binary (started the
//! way an operator starts it, on a port it picks itself) and the tools around it, with a raw
//! HTTP/1.1 client that sends exactly what it is given.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Bounds every wait on a child: generous for a cold start on a loaded two-core machine, so
/// only a hung or broken program waits it out.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// What `serve` logs once its API listener is bound, with the address as `listen`.
pub const READY: &str = "edgecert is serving the API";

/// The binary cargo built for this test run.
pub const EDGECERT: &str = env!("CARGO_BIN_EXE_edgecert");

/// `edgecert` in `dir` on a port it picks, with none of the caller's settings.
pub fn edgecert(dir: &Path) -> Command {
    let mut command = Command::new(EDGECERT);
    command.current_dir(dir);
    // A developer's or CI's own configuration (a Postgres DATABASE_URL, a bootstrap token)
    // would silently change what every test starts.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Why lines stopped coming.
#[derive(Debug)]
pub enum Ended {
    Closed,
    TimedOut,
}

/// A running child whose output is read line by line, killed on drop so a failing test
/// leaves nothing running.
pub struct Process {
    child: Child,
    what: String,
    lines: Receiver<(Stream, String)>,
    seen: Vec<(Stream, String)>,
    /// How many of `seen`'s lines of each stream a wait has looked at. A wait for one stream
    /// receives the other's lines too; they stay here for a later wait on that stream.
    looked_at: [usize; 2],
}

/// A child that has exited, and everything it printed.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Both streams, for failure messages.
    pub fn output(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

impl Process {
    /// Starts `command` with no standard input and both output streams read by threads of
    /// their own, so the child never blocks on a full pipe.
    #[track_caller]
    pub fn spawn(mut command: Command) -> Self {
        let what = format!("{command:?}");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let (sender, lines) = mpsc::channel();
        let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("stdout is piped"));
        let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("stderr is piped"));
        for (stream, pipe) in [(Stream::Stdout, stdout), (Stream::Stderr, stderr)] {
            let sender = sender.clone();
            thread::spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let text = String::from_utf8_lossy(&line);
                            let text = strip_ansi(text.trim_end_matches(['\r', '\n']));
                            // Keep draining even when nobody listens any more.
                            let _ = sender.send((stream, text));
                        }
                    }
                }
            });
        }
        Self {
            child,
            what,
            lines,
            seen: Vec::new(),
            looked_at: [0; 2],
        }
    }

    /// Receives lines until one from `stream` (either, when `None`) satisfies `wanted`, for
    /// at most `timeout`. For callers that handle a child's failure themselves.
    pub fn receive_until(
        &mut self,
        stream: Option<Stream>,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<String, Ended> {
        let deadline = Instant::now() + timeout;
        let mut index = 0;
        loop {
            if index == self.seen.len() {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.lines.recv_timeout(left) {
                    Ok(line) => self.seen.push(line),
                    Err(RecvTimeoutError::Timeout) => return Err(Ended::TimedOut),
                    Err(RecvTimeoutError::Disconnected) => return Err(Ended::Closed),
                }
            }
            let (from, line) = &self.seen[index];
            index += 1;
            if stream.is_some_and(|s| s != *from) {
                continue;
            }
            // The n-th line of its stream: skip it if an earlier wait looked at it already.
            let nth = self.seen[..index].iter().filter(|(f, _)| f == from).count();
            let looked_at = &mut self.looked_at[*from as usize];
            if nth <= *looked_at {
                continue;
            }
            *looked_at = nth;
            if wanted(line) {
                return Ok(line.clone());
            }
        }
    }

    /// Waits for a line on `stream` (either, when `None`) that satisfies `wanted`.
    #[track_caller]
    pub fn wait_for(&mut self, stream: Option<Stream>, wanted: impl Fn(&str) -> bool) -> String {
        match self.receive_until(stream, TIMEOUT, wanted) {
            Ok(line) => line,
            Err(end) => panic!(
                "{} {end:?} before the expected line on {stream:?}; output so far:\n{}",
                self.what,
                self.output()
            ),
        }
    }

    #[track_caller]
    pub fn wait_for_stderr(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        self.wait_for(Some(Stream::Stderr), wanted)
    }

    #[track_caller]
    pub fn wait_for_stdout(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        self.wait_for(Some(Stream::Stdout), wanted)
    }

    /// The lines of `stream` received so far.
    pub fn seen(&self, stream: Stream) -> Vec<&str> {
        self.seen
            .iter()
            .filter(|(from, _)| *from == stream)
            .map(|(_, line)| line.as_str())
            .collect()
    }

    /// Every line of both streams printed so far, in the order received.
    pub fn lines(&mut self) -> Vec<String> {
        let ready: Vec<_> = self.lines.try_iter().collect();
        self.seen.extend(ready);
        self.seen.iter().map(|(_, line)| line.clone()).collect()
    }

    /// Both streams as received so far, for failure messages.
    pub fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.seen(Stream::Stdout).join("\n"),
            self.seen(Stream::Stderr).join("\n")
        )
    }

    /// Sends SIGTERM, as a service manager or `docker stop` does.
    #[track_caller]
    pub fn terminate(&self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .unwrap_or_else(|e| panic!("cannot send SIGTERM to {}: {e}", self.what));
    }

    /// Waits for the child to exit by itself and returns everything it printed. Both pipes
    /// closing means it has exited: none of the programs run here leaves a child holding them.
    #[track_caller]
    pub fn finish(&mut self) -> Finished {
        if let Err(Ended::TimedOut) = self.receive_until(None, TIMEOUT, |_| false) {
            panic!(
                "{} did not exit within {TIMEOUT:?}; output so far:\n{}",
                self.what,
                self.output()
            );
        }
        let status = self.child.wait().expect("wait for the child");
        Finished {
            status,
            stdout: self.seen(Stream::Stdout).join("\n"),
            stderr: self.seen(Stream::Stderr).join("\n"),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` to its end, which must come within [`TIMEOUT`].
#[track_caller]
pub fn run(command: Command) -> Finished {
    Process::spawn(command).finish()
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

/// The `listen` address in a log line, text (`listen=ADDRESS`) or JSON (`fields.listen`).
#[track_caller]
pub fn listen_address(line: &str) -> SocketAddr {
    let address = match serde_json::from_str::<Value>(line) {
        Ok(json) => json["fields"]["listen"].as_str().map(str::to_string),
        Err(_) => line
            .split_whitespace()
            .find_map(|field| field.strip_prefix("listen="))
            .map(str::to_string),
    };
    address
        .and_then(|address| address.parse().ok())
        .unwrap_or_else(|| panic!("no listen address in {line}"))
}

/// An `edgecert serve` that has logged it serves the API, on the address it logged.
pub struct Server {
    pub process: Process,
    pub addr: SocketAddr,
    pub ready_line: String,
}

impl Server {
    /// Starts `command` (an `edgecert` serving) and waits for its ready line.
    #[track_caller]
    pub fn start(command: Command) -> Self {
        let mut process = Process::spawn(command);
        let ready_line = process.wait_for_stderr(|line| line.contains(READY));
        let addr = listen_address(&ready_line);
        Self {
            process,
            addr,
            ready_line,
        }
    }

    /// The first line logged so far that contains `message`.
    pub fn logged(&self, message: &str) -> Option<&str> {
        self.process
            .seen(Stream::Stderr)
            .into_iter()
            .find(|line| line.contains(message))
    }

    /// Sends SIGTERM and waits for the exit, whatever it is.
    #[track_caller]
    pub fn terminate(mut self) -> Finished {
        self.process.terminate();
        self.process.finish()
    }

    /// Terminates the server and asserts a clean, graceful exit.
    #[track_caller]
    pub fn stop(self) -> Finished {
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

/// A loopback port held bound but not listening: connecting to it is refused, and no other
/// process can take it while this lives, unlike a port that was free a moment ago.
pub struct ClosedPort {
    _socket: tokio::net::TcpSocket,
    pub addr: SocketAddr,
}

impl ClosedPort {
    pub fn bind() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind a loopback port");
        let addr = socket.local_addr().expect("bound address");
        Self {
            _socket: socket,
            addr,
        }
    }
}

/// An HTTP answer as it came: status, headers (lower-case names) and body text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Answer {
    /// The body as JSON, which every API answer is.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {self:?}"))
    }
}

/// One HTTP/1.1 exchange over a fresh connection.
#[track_caller]
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("connect to edgecert");
    write_request(&mut stream, method, path, headers, body);
    read_answer(stream)
}

/// `GET path`, optionally with an `Authorization` value: the status and the JSON body.
#[track_caller]
pub fn get(addr: SocketAddr, path: &str, authorization: Option<&str>) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = authorization
        .map(|value| ("Authorization", value))
        .into_iter()
        .collect();
    let answer = request(addr, "GET", path, &headers, None);
    (answer.status, answer.json())
}

/// Writes one request, closing the connection after the answer.
#[track_caller]
pub fn write_request(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) {
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: edgecert\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        // The API reads JSON bodies only; a test about other types names its own.
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            request.push_str("Content-Type: application/json\r\n");
        }
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or_default());
    stream.write_all(request.as_bytes()).expect("send request");
}

/// Reads the answer to the request written on `stream`, up to the server's closing it.
#[track_caller]
pub fn read_answer(mut stream: TcpStream) -> Answer {
    stream
        .set_read_timeout(Some(TIMEOUT))
        .expect("read timeout");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read the answer");
    let text = String::from_utf8(answer).expect("UTF-8 answer");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.strip_prefix("HTTP/1.1 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}
