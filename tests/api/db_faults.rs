//! When the database fails: a private PostgreSQL cluster stopped mid-load and started again,
//! and a SQLite database on a full disk. Requests are answered quickly and clearly during the
//! fault, service resumes on its own, and nothing acknowledged is lost or half-written.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use edgecert::AppState;
use edgecert::config::{Secret, ServeArgs};
use tokio::sync::Mutex;

use crate::common::{TOKEN, TestResponse, ZONE, csr_body, send_to, test_master_key, zone_csrs};

/// Set (as `.ci/run` does) to fail instead of skipping when the PostgreSQL server binaries
/// or root (for the tmpfs mount) are missing.
const REQUIRE_ENV: &str = "EDGECERT_REQUIRE_DB_FAULTS";
/// The acquire timeout the tests configure, and the bound every answer must beat: four times
/// the timeout, so a busy CI machine does not fail the test by luck.
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(500);
const ANSWER_BOUND: Duration = Duration::from_secs(2);
/// `/readyz` must answer within a second whatever the database does.
const READY_BOUND: Duration = Duration::from_secs(1);

fn skip_or_fail(why: &str) {
    if std::env::var_os(REQUIRE_ENV).is_some() {
        panic!("{why}, and {REQUIRE_ENV} is set");
    }
    eprintln!("SKIPPED: {why} (set {REQUIRE_ENV} to make this a failure)");
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|me| me.uid() == 0)
}

async fn open_app(url: &str) -> (AppState, Router) {
    let mut args = ServeArgs::for_database(url);
    args.master_key = Some(Secret::new(test_master_key()));
    args.bootstrap_token = Some(Secret::new(TOKEN));
    // No pooled keys: every private key row then belongs to a CSR, which the checks count on.
    args.rsa_pool_size = 0;
    args.database_acquire_timeout = ACQUIRE_TIMEOUT;
    let (state, _) = AppState::open(&args).await.expect("app starts");
    let router = edgecert::http::router(state.clone());
    (state, router)
}

async fn create(router: &Router, name: &str) -> (TestResponse, Duration) {
    let request = Request::post(zone_csrs(ZONE))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(csr_body(name).to_string()))
        .expect("valid request");
    let started = Instant::now();
    let response = send_to(router, request).await;
    (response, started.elapsed())
}

async fn probe(router: &Router, path: &str) -> (StatusCode, Duration) {
    let request = Request::get(path)
        .body(Body::empty())
        .expect("valid request");
    let started = Instant::now();
    let response = send_to(router, request).await;
    (response.status, started.elapsed())
}

/// A 503 as a client during an outage must see it: code 1500, and told to retry later.
#[track_caller]
fn assert_unavailable(response: &TestResponse) {
    response.assert_error(StatusCode::SERVICE_UNAVAILABLE, &[1500]);
    let header = |name: &str| response.headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header("x-should-retry"), Some("true"), "{}", response.body);
    assert_eq!(header("retry-after"), Some("2"), "{}", response.body);
}

/// A PostgreSQL cluster of the test's own, in a temporary directory. Dropping it stops the
/// server by its pid, whatever happened to the test.
struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePostgres {
    fn bin_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("EDGECERT_TEST_PG_BINDIR") {
            return Some(PathBuf::from(dir));
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
            .collect();
        found.sort();
        found.pop()
    }

    /// initdb refuses to run as root; the cluster then belongs to the `postgres` user.
    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn create() -> Option<Self> {
        let bin = Self::bin_dir()?;
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut cluster = Self { bin, dir, port: 0 };
        if running_as_root() {
            let owned = Command::new("chown")
                .arg("postgres:")
                .arg(cluster.dir.path())
                .status()
                .expect("run chown");
            assert!(owned.success(), "chown the cluster directory to postgres");
        }
        let data = cluster.data();
        let output = cluster
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .expect("run initdb");
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        // Choose a port, then start on it; if something took it meanwhile, choose again.
        for _ in 0..5 {
            cluster.port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("find a free port")
                .port();
            if cluster.start().is_ok() {
                return Some(cluster);
            }
        }
        panic!(
            "the private PostgreSQL cluster did not start: {}",
            cluster.log()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Starts the server on the chosen port and waits until it accepts connections.
    fn start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.dir.path().display()
        );
        let status = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .status()
            .expect("run pg_ctl start");
        if status.success() {
            Ok(())
        } else {
            Err(self.log())
        }
    }

    /// The harshest stop: every server process is killed, as in a crash.
    fn stop_immediately(&self) {
        let status = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .status()
            .expect("run pg_ctl stop");
        assert!(status.success(), "pg_ctl stop failed: {}", self.log());
    }

    fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if let Some(pid) = self.postmaster_pid() {
            // SIGQUIT is the immediate shutdown pg_ctl would send; SIGKILL if that is ignored.
            let _ = Command::new("kill")
                .args(["-QUIT", &pid.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if Path::new(&format!("/proc/{pid}")).exists() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

/// One create of the load: when it started (from the test's start), how long it took, what
/// it got, and the id of an acknowledged create.
struct Outcome {
    at: Duration,
    took: Duration,
    response: TestResponse,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_answered_503_quickly_and_service_resumes_without_loss() {
    let Some(cluster) = PrivatePostgres::create() else {
        skip_or_fail("no PostgreSQL server binaries (initdb, pg_ctl) found");
        return;
    };
    let (_state, router) = open_app(&cluster.url()).await;
    let begun = Instant::now();
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|worker| {
            let (router, outcomes, stop) = (router.clone(), outcomes.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let at = begun.elapsed();
                    let name = format!("w{worker}-{n}.example.com");
                    let (response, took) = create(&router, &name).await;
                    outcomes.lock().await.push(Outcome { at, took, response });
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(1)).await;
    let stopped_at = begun.elapsed();
    cluster.stop_immediately();
    // Probe throughout the outage, as an orchestrator would.
    let mut probes = Vec::new();
    while begun.elapsed() < stopped_at + Duration::from_secs(3) {
        probes.push((
            probe(&router, "/readyz").await,
            probe(&router, "/healthz").await,
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let restarted_at = begun.elapsed();
    cluster
        .start()
        .unwrap_or_else(|log| panic!("restart on port {}: {log}", cluster.port));

    // Service resumes on its own: a run of successes after the restart, within 20 s.
    let resumed = loop {
        let tail_ok = {
            let outcomes = outcomes.lock().await;
            let after: Vec<_> = outcomes.iter().filter(|o| o.at > restarted_at).collect();
            after.len() >= 20
                && after[after.len() - 20..]
                    .iter()
                    .all(|o| o.response.status == StatusCode::CREATED)
        };
        if tail_ok {
            break true;
        }
        if begun.elapsed() > restarted_at + Duration::from_secs(20) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("load worker");
    }
    let outcomes = std::mem::take(&mut *outcomes.lock().await);
    assert!(resumed, "creates did not succeed again after the restart");
    let mut ready_again = false;
    for _ in 0..50 {
        let (status, took) = probe(&router, "/readyz").await;
        assert!(
            took < READY_BOUND,
            "/readyz took {took:?} after the restart"
        );
        if status == StatusCode::OK {
            ready_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        ready_again,
        "/readyz did not return to 200 after the restart"
    );

    // Every answer was quick, and every failure a well-formed 503.
    let slowest = outcomes.iter().map(|o| o.took).max().unwrap_or_default();
    assert!(slowest < ANSWER_BOUND, "a create took {slowest:?}");
    let unavailable: Vec<_> = outcomes
        .iter()
        .filter(|o| o.response.status != StatusCode::CREATED)
        .collect();
    for outcome in &unavailable {
        assert_unavailable(&outcome.response);
    }
    assert!(
        unavailable.iter().any(|o| o.at > stopped_at),
        "no create failed during the outage: the test proved nothing"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| o.at < stopped_at && o.response.status == StatusCode::CREATED),
        "no create succeeded before the outage"
    );
    let (mut saw_unready, mut saw_healthy) = (false, true);
    for ((ready, ready_took), (health, health_took)) in &probes {
        assert!(*ready_took < READY_BOUND, "/readyz took {ready_took:?}");
        assert!(*health_took < READY_BOUND, "/healthz took {health_took:?}");
        saw_unready |= *ready == StatusCode::SERVICE_UNAVAILABLE;
        saw_healthy &= *health == StatusCode::OK;
    }
    assert!(saw_unready, "/readyz never answered 503 during the outage");
    assert!(saw_healthy, "/healthz failed during the outage");
    let slowest_503 = unavailable.iter().map(|o| o.took).max().unwrap_or_default();
    let slowest_ready = probes.iter().map(|p| p.0.1).max().unwrap_or_default();
    eprintln!(
        "outage: {} creates, {} answered 503 (slowest 503 {slowest_503:?}, slowest answer \
         {slowest:?}, slowest /readyz {slowest_ready:?}); resumed {:?} after the restart",
        outcomes.len(),
        unavailable.len(),
        outcomes
            .iter()
            .find(|o| o.at > restarted_at && o.response.status == StatusCode::CREATED)
            .map(|o| o.at + o.took - restarted_at)
    );

    // Nothing acknowledged lost, nothing half-written.
    let pool = sqlx::PgPool::connect(&cluster.url())
        .await
        .expect("connect");
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM custom_csrs")
        .fetch_all(&pool)
        .await
        .expect("ids");
    let ids: std::collections::HashSet<String> = ids.iter().map(ToString::to_string).collect();
    assert_acknowledged_are_whole(&outcomes, &ids);
    let scalar = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .expect(sql)
        }
    };
    assert_eq!(
        scalar("SELECT COUNT(*) FROM custom_csrs c LEFT JOIN private_keys k ON k.id = c.key_id WHERE k.id IS NULL").await,
        0,
        "a CSR without its key"
    );
    assert_eq!(
        scalar("SELECT COUNT(*) FROM private_keys").await,
        ids.len() as i64,
        "a key without its CSR"
    );
    assert_eq!(
        scalar("SELECT COALESCE(SUM(csr_count), 0)::BIGINT FROM custom_csr_counts").await,
        ids.len() as i64,
        "the CSR counter disagrees with the rows"
    );
    pool.close().await;
}

#[track_caller]
fn assert_acknowledged_are_whole(outcomes: &[Outcome], stored: &std::collections::HashSet<String>) {
    let acknowledged: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.response.status == StatusCode::CREATED)
        .filter_map(|o| o.response.body["result"]["id"].as_str())
        .collect();
    assert!(!acknowledged.is_empty());
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !stored.contains(**id))
        .collect();
    assert!(lost.is_empty(), "acknowledged creates lost: {lost:?}");
}

/// A tmpfs of a fixed size, mounted for one test and lazily unmounted afterwards (lazily, so
/// a connection the test still holds cannot keep it mounted).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("mount point");
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount a {size} tmpfs");
        Self { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes zeros to `path` until the disk refuses more.
fn fill(path: &Path) {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path).expect("create filler");
    let chunk = vec![0u8; 16 * 1024];
    while file.write_all(&chunk).is_ok() {}
    // The last bytes the page cache took may be refused only at flush time.
    let _ = file.sync_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_disk_answers_507_stays_intact_and_recovers() {
    if !running_as_root() {
        skip_or_fail("mounting a small tmpfs needs root");
        return;
    }
    let disk = SmallDisk::mount("4m");
    let db = disk.dir.path().join("edgecert.db");
    let url = format!("sqlite://{}", db.display());
    let (state, router) = open_app(&url).await;
    let mut acknowledged = Vec::new();
    for n in 0..5 {
        let (response, _) = create(&router, &format!("before{n}.example.com")).await;
        response.assert_success(StatusCode::CREATED);
        acknowledged.push(response);
    }

    let filler = disk.dir.path().join("filler");
    fill(&filler);
    // The WAL may still have room from earlier writes, so creates can succeed for a while;
    // the first refusal must be a clear 507, and quick.
    let mut refused = None;
    for n in 0..2000 {
        let (response, took) = create(&router, &format!("full{n}.example.com")).await;
        assert!(took < ANSWER_BOUND, "a create on a full disk took {took:?}");
        if response.status == StatusCode::CREATED {
            acknowledged.push(response);
            continue;
        }
        eprintln!("full disk: create {n} after filling refused in {took:?}");
        refused = Some(response);
        break;
    }
    let refused = refused.expect("a create on a full disk was refused");
    refused.assert_error(StatusCode::INSUFFICIENT_STORAGE, &[1500]);
    assert_eq!(
        refused.headers.get("x-should-retry").map(|v| v.as_bytes()),
        Some(&b"false"[..])
    );
    // Reads still work while the disk is full.
    let list = send_to(
        &router,
        Request::get(zone_csrs(ZONE))
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .expect("valid request"),
    )
    .await;
    list.assert_success(StatusCode::OK);

    std::fs::remove_file(&filler).expect("free the space");
    let (response, _) = create(&router, "after.example.com").await;
    response.assert_success(StatusCode::CREATED);
    acknowledged.push(response);

    let pool = sqlx::SqlitePool::connect(&url).await.expect("open sqlite");
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .expect("integrity_check");
    assert_eq!(integrity, "ok");
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM custom_csrs")
        .fetch_all(&pool)
        .await
        .expect("ids");
    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM private_keys")
        .fetch_one(&pool)
        .await
        .expect("keys");
    let counted: i64 =
        sqlx::query_scalar("SELECT COALESCE(SUM(csr_count), 0) FROM custom_csr_counts")
            .fetch_one(&pool)
            .await
            .expect("counts");
    pool.close().await;
    // The refused create wrote nothing; every acknowledged one is there, key and count too.
    assert_eq!(ids.len(), acknowledged.len());
    assert_eq!(keys, ids.len() as i64, "keys and CSRs disagree");
    assert_eq!(
        counted,
        ids.len() as i64,
        "the CSR counter disagrees with the rows"
    );
    let stored: std::collections::HashSet<String> = ids.iter().map(ToString::to_string).collect();
    for response in &acknowledged {
        let id = response.body["result"]["id"].as_str().expect("an id");
        assert!(stored.contains(id), "acknowledged create {id} lost");
    }
    drop((state, router));
}
