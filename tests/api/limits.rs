//! What a client can do cheaply is bounded: the real binary with one-second timeouts, probed
//! over raw TCP. Every wait is for an event (an answer, the server closing) under an outer
//! bound far above the configured timeout, so a loaded machine slows these tests down but
//! does not fail them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::Digest as _;

use crate::common::{TOKEN, ZONE, zone_csrs};
use crate::process::{Answer, Server, edgecert, read_answer, request};

/// Far above every timeout configured here: only a server that never closes waits it out.
const BOUND: Duration = Duration::from_secs(30);

fn server(settings: &[(&str, &str)]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut command = edgecert(dir.path());
    command
        .env("EDGECERT_BOOTSTRAP_TOKEN", TOKEN)
        .env("EDGECERT_RSA_POOL_SIZE", "0");
    for (name, value) in settings {
        command.env(name, value);
    }
    let server = Server::start(command);
    (dir, server)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect to edgecert");
    stream.set_read_timeout(Some(BOUND)).expect("read timeout");
    stream
}

/// Reads until the server closes the connection (or resets it): everything it sent.
#[track_caller]
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("still open after {:?}", started.elapsed())
            }
            // A reset is a close too.
            Err(_) => return received,
        }
    }
}

fn status_of(answer: &[u8]) -> Option<u16> {
    String::from_utf8_lossy(answer)
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
}

/// Sends `head` and then one byte of `drip` every 200 ms until the server closes; returns
/// what it answered. The drip is endless, so only a timeout on the server's side ends it.
#[track_caller]
fn trickle(addr: SocketAddr, head: &[u8], drip: u8) -> Vec<u8> {
    let mut stream = connect(addr);
    stream.write_all(head).expect("send the head");
    let mut reader = stream.try_clone().expect("clone the socket");
    let closed = thread::spawn(move || read_until_closed(&mut reader));
    let started = Instant::now();
    while !closed.is_finished() {
        assert!(
            started.elapsed() < BOUND,
            "a trickling client was never cut off"
        );
        // Fails once the server has closed; the reader then finishes.
        let _ = stream.write_all(&[drip]);
        thread::sleep(Duration::from_millis(200));
    }
    closed.join().expect("reader thread")
}

#[test]
fn slow_silent_and_idle_clients_are_cut_off() {
    let (_dir, server) = server(&[
        ("EDGECERT_HEADER_READ_TIMEOUT", "1"),
        ("EDGECERT_BODY_READ_TIMEOUT", "1"),
        ("EDGECERT_IDLE_TIMEOUT", "1"),
    ]);
    let addr = server.addr;

    // A head that never ends (a header value growing a byte at a time): closed, unanswered.
    let answer = trickle(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", b'a');
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));

    // A silent connection is idle: closed.
    let mut silent = connect(addr);
    assert!(read_until_closed(&mut silent).is_empty());

    // A kept-alive connection after its answer is idle too.
    let mut kept = connect(addr);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let answer = read_until_closed(&mut kept);
    assert_eq!(
        status_of(&answer),
        Some(200),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // A body that trickles: 408 with the envelope, and the connection closed.
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        zone_csrs(ZONE)
    );
    let answer = trickle(addr, head.as_bytes(), b'1');
    let text = String::from_utf8_lossy(&answer);
    assert_eq!(status_of(&answer), Some(408), "{text}");
    assert!(text.contains(r#""code":1400"#), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    server.stop();
}

#[test]
fn oversized_and_unsupported_requests_are_refused_from_the_head() {
    let (_dir, server) = server(&[]);
    let addr = server.addr;
    let bearer = format!("Bearer {TOKEN}");
    let csrs = zone_csrs(ZONE);

    // 10 GB announced with Expect: refused at once, and no 100 Continue invites the body.
    let mut stream = connect(addr);
    let head = format!(
        "POST {csrs} HTTP/1.1\r\nHost: x\r\nAuthorization: {bearer}\r\n\
         Content-Length: 10000000000\r\nExpect: 100-continue\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("send");
    let answer = read_until_closed(&mut stream);
    let text = String::from_utf8_lossy(&answer);
    assert_eq!(status_of(&answer), Some(413), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
    assert!(text.contains(r#""code":1400"#), "{text}");

    // A compressed body: 415 with the envelope.
    let answer = request(
        addr,
        "POST",
        &csrs,
        &[("Authorization", &bearer), ("Content-Encoding", "gzip")],
        Some("{}"),
    );
    assert_eq!(answer.status, 415, "{answer:?}");
    assert_eq!(answer.json()["errors"][0]["code"], 1400, "{answer:?}");
    assert!(
        answer.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Content-Encoding")
    );

    // A long path: 414 with the envelope; a head over 64 KiB: 431.
    let long = format!("/client/v4/{}", "a".repeat(10_000));
    let answer = request(addr, "GET", &long, &[], None);
    assert_eq!(answer.status, 414, "{answer:?}");
    assert_eq!(answer.json()["errors"][0]["code"], 7000, "{answer:?}");
    let huge = "b".repeat(100_000);
    let answer = request(addr, "GET", "/healthz", &[("X-Huge", &huge)], None);
    assert_eq!(answer.status, 431, "{answer:?}");

    // Deep nesting is refused quickly, not recursed into.
    let nested = "[".repeat(100_000);
    let started = Instant::now();
    let answer = request(
        addr,
        "POST",
        &csrs,
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        Some(&nested),
    );
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    server.stop();
}

#[test]
fn smuggling_shapes_cannot_carry_a_second_request() {
    let (_dir, server) = server(&[]);
    let addr = server.addr;

    // Content-Length and Transfer-Encoding: the chunked body wins, the length is dropped,
    // and the connection closes after one answer, so the smuggled request is never read.
    let mut stream = connect(addr);
    stream
        .write_all(
            b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\
              Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .expect("send");
    let answer = String::from_utf8_lossy(&read_until_closed(&mut stream)).into_owned();
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");

    // Two different lengths: 400, nothing more.
    let mut stream = connect(addr);
    stream
        .write_all(
            b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc",
        )
        .expect("send");
    let answer = String::from_utf8_lossy(&read_until_closed(&mut stream)).into_owned();
    assert_eq!(status_of(answer.as_bytes()), Some(400), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    server.stop();
}

#[test]
fn request_ids_keep_to_a_safe_alphabet_and_docs_carry_a_policy() {
    let (_dir, server) = server(&[]);
    let addr = server.addr;

    let echoed = |id: &str| request(addr, "GET", "/healthz", &[("X-Request-Id", id)], None);
    assert_eq!(
        echoed("trace:Ab-9_z.1").headers["x-request-id"],
        "trace:Ab-9_z.1"
    );
    for hostile in ["a\"b", "<script>", "x>y", "semi;colon"] {
        let answer = echoed(hostile);
        let id = &answer.headers["x-request-id"];
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{hostile} gave {id}");
        assert_eq!(answer.headers["x-content-type-options"], "nosniff");
    }

    let docs: Answer = request(addr, "GET", "/docs", &[], None);
    assert_eq!(docs.status, 200);
    assert_eq!(docs.headers["x-frame-options"], "DENY");
    assert_eq!(docs.headers["x-content-type-options"], "nosniff");
    let policy = &docs.headers["content-security-policy"];
    for part in [
        "default-src 'none'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(part), "{policy}");
    }
    // The page's inline script is allowed by its hash, so the page still works.
    let script = docs
        .body
        .split_once("<script>")
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map(|(script, _)| script)
        .expect("the page has an inline script");
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script));
    assert!(
        policy.contains(&format!("script-src 'sha256-{hash}'")),
        "{policy}"
    );
    server.stop();
}

#[test]
fn connections_over_the_cap_get_503_and_freed_slots_are_reused() {
    let (_dir, server) = server(&[
        ("EDGECERT_MAX_CONNECTIONS", "3"),
        ("EDGECERT_IDLE_TIMEOUT", "60"),
    ]);
    let addr = server.addr;
    // Accepted in the order they connected, so these three hold every slot before the fourth.
    let mut held: Vec<TcpStream> = (0..3).map(|_| connect(addr)).collect();
    let mut over = connect(addr);
    let answer = read_until_closed(&mut over);
    let text = String::from_utf8_lossy(&answer);
    assert_eq!(status_of(&answer), Some(503), "{text}");
    assert!(text.contains(r#""code":1500"#), "{text}");
    assert!(text.contains("retry-after: 1"), "{text}");

    // One holder leaves; its slot comes back once the server sees the close.
    held.pop()
        .expect("three held")
        .shutdown(std::net::Shutdown::Both)
        .expect("close");
    let started = Instant::now();
    loop {
        let mut stream = connect(addr);
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("send");
        let Answer { status, .. } = read_answer(stream);
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(started.elapsed() < BOUND, "the freed slot never came back");
        thread::sleep(Duration::from_millis(50));
    }
    server.stop();
}

#[test]
fn shutdown_does_not_wait_for_stuck_clients() {
    // Every timeout and the grace are a minute: only closing stuck clients at once when
    // shutdown begins lets the process exit well before that.
    let minute = "60";
    let (_dir, server) = server(&[
        ("EDGECERT_HEADER_READ_TIMEOUT", minute),
        ("EDGECERT_BODY_READ_TIMEOUT", minute),
        ("EDGECERT_IDLE_TIMEOUT", minute),
        ("EDGECERT_SHUTDOWN_GRACE", minute),
    ]);
    let addr = server.addr;
    let silent = connect(addr);
    let mut half_head = connect(addr);
    half_head
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .expect("send");
    let mut half_body = connect(addr);
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{{\"a\"",
        zone_csrs(ZONE)
    );
    half_body.write_all(head.as_bytes()).expect("send");
    // Answered, then kept alive; its answer also shows the server reached the connections
    // opened before it.
    let mut kept = connect(addr);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut first = [0u8; 12];
    kept.read_exact(&mut first).expect("an answer");
    assert_eq!(&first, b"HTTP/1.1 200");

    let started = Instant::now();
    let finished = server.stop();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "shutdown took {took:?}\n{}",
        finished.stderr
    );
    assert!(
        !finished.stderr.contains("still in flight"),
        "{}",
        finished.stderr
    );
    for mut stream in [silent, half_head, kept] {
        read_until_closed(&mut stream);
    }
    // Cut off by shutdown: a 503 if its request had started, else a bare close.
    let answer = read_until_closed(&mut half_body);
    let status = status_of(&answer);
    assert!(
        matches!(status, None | Some(503)),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
