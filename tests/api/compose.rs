//! docker-compose.yml's edgecert service, run without Docker: the command line and environment
//! that `docker-compose config` resolves for the service start the real binary against the test
//! PostgreSQL server, and its healthcheck probes it. Only what cannot hold outside a container
//! is replaced (the database host, the secret and trust-root paths, the listen address), each
//! after checking that it agrees with the rest of the compose file. So a typo in the compose
//! file fails here instead of at `docker compose up`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use crate::common::{self, Backend, TestDatabase, ZONE};
use crate::process::{ClosedPort, EDGECERT, Server, get, run};
use crate::testca::TestCa;

/// Set (as `.ci/run` should) to fail instead of skipping when `docker-compose` is missing.
const REQUIRE_ENV: &str = "EDGECERT_REQUIRE_COMPOSE";
const SERVICE: &str = "edgecert";
/// Where the Dockerfile installs the binary, which the command line and healthcheck name.
const BINARY_IN_IMAGE: &str = "/usr/local/bin/edgecert";

#[test]
fn compose_service_serves_passes_its_healthchecks_and_stops_cleanly() {
    let Some(compose) = Compose::find() else {
        return;
    };
    if common::postgres_admin_url().is_none() {
        eprintln!(
            "SKIPPED on Postgres: set {} to run the compose service against it",
            common::POSTGRES_ENV
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");

    // What a user's .env holds: a bootstrap token, and the trust roots path .env.example gives.
    let trust_roots_in_container = documented_value(".env.example", "EDGECERT_TRUST_ROOTS");
    let env_file = dir.path().join("dot-env");
    std::fs::write(
        &env_file,
        format!(
            "EDGECERT_BOOTSTRAP_TOKEN={}\nEDGECERT_TRUST_ROOTS={trust_roots_in_container}\n",
            common::TOKEN
        ),
    )
    .expect("write the env file");
    let config = compose.config(&env_file);
    let service = &config["services"][SERVICE];
    assert!(service.is_object(), "no {SERVICE} service in:\n{config:#}");
    let dockerfile = std::fs::read_to_string(repository_file("Dockerfile")).expect("Dockerfile");

    let argv = command_line(service, &dockerfile);
    assert_eq!(
        argv[0], BINARY_IN_IMAGE,
        "the service's command line: {argv:?}"
    );
    let probes = [
        ("compose healthcheck", compose_healthcheck(service)),
        (
            "Dockerfile HEALTHCHECK",
            dockerfile_healthcheck(&dockerfile),
        ),
    ];
    for (name, probe) in &probes {
        assert_eq!(probe[0], BINARY_IN_IMAGE, "{name}: {probe:?}");
    }
    let mut env = environment(service, &dockerfile);
    check_variables_are_read(&argv[1..], &env);
    let value = |env: &BTreeMap<String, String>, name: &str| {
        env.get(name)
            .unwrap_or_else(|| panic!("the {SERVICE} service does not set {name}: {env:?}"))
            .clone()
    };
    // .env's token must reach the container: the service passes it through.
    let token = value(&env, "EDGECERT_BOOTSTRAP_TOKEN");
    assert_eq!(token, common::TOKEN);

    // The postgres service cannot be reached from here; a fresh database on the test server
    // stands in for it, after the compose URL is checked against that service.
    check_database_url(&config, service, &value(&env, "DATABASE_URL"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let db = runtime.block_on(TestDatabase::create(Backend::Postgres));
    env.insert("DATABASE_URL".into(), db.url.clone());

    // /run/secrets exists only in the container: a key file of the same kind stands in.
    let key_path = value(&env, "EDGECERT_MASTER_KEY_FILE");
    check_secret_mount(&config, service, &key_path);
    let key_file = dir.path().join("master_key");
    std::fs::write(
        &key_file,
        format!("{}\n", BASE64.encode(rand::random::<[u8; 32]>())),
    )
    .expect("write the master key file");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))
        .expect("chmod the master key file");
    env.insert(
        "EDGECERT_MASTER_KEY_FILE".into(),
        key_file.display().to_string(),
    );

    // So do the mounted trust roots: a real root, so edgecert must parse it.
    let roots_path = value(&env, "EDGECERT_TRUST_ROOTS");
    assert_eq!(
        roots_path, trust_roots_in_container,
        "passed through from .env"
    );
    check_read_only_mount(service, &roots_path);
    let roots_file = dir.path().join("roots.pem");
    std::fs::write(&roots_file, TestCa::new().root_pem()).expect("write the trust roots");
    env.insert(
        "EDGECERT_TRUST_ROOTS".into(),
        roots_file.display().to_string(),
    );

    // No port mapping here: edgecert picks a loopback port in place of 0.0.0.0:8080, and the
    // probes, which read EDGECERT_LISTEN as in the container, are given the one it took.
    let listen: SocketAddr = value(&env, "EDGECERT_LISTEN")
        .parse()
        .expect("EDGECERT_LISTEN is an address");
    check_listen_is_published_on_loopback_only(service, listen);
    check_stop_grace_period(service, &env);
    env.insert("EDGECERT_LISTEN".into(), "127.0.0.1:0".into());
    // The edge's listeners likewise: published on loopback, and on free loopback ports here.
    for edge in ["EDGECERT_EDGE_LISTEN", "EDGECERT_EDGE_HTTP_LISTEN"] {
        let address: SocketAddr = value(&env, edge)
            .parse()
            .unwrap_or_else(|_| panic!("{edge} is an address"));
        check_listen_is_published_on_loopback_only(service, address);
        env.insert(edge.into(), "127.0.0.1:0".into());
    }

    let server = Server::start(edgecert(&argv[1..], &env, dir.path()));
    let addr = server.addr;
    env.insert("EDGECERT_LISTEN".into(), addr.to_string());
    let (status, body) = get(addr, "/readyz", None);
    assert_eq!(status, 200, "GET /readyz; body: {body}");
    for (name, probe) in &probes {
        let finished = run(edgecert(&probe[1..], &env, dir.path()));
        assert!(
            finished.status.success(),
            "{name} {probe:?} failed ({}):\n{}",
            finished.status,
            finished.output()
        );
    }
    let csrs = format!("/client/v4/zones/{ZONE}/custom_csrs");
    let (status, body) = get(addr, &csrs, Some(&format!("Bearer {token}")));
    assert_eq!(
        status, 200,
        "GET {csrs} with the bootstrap token; body: {body}"
    );
    assert_eq!(body["success"], true, "body: {body}");

    // What `docker compose stop` sends to the service's init, which forwards it: `stop`
    // asserts the clean, graceful exit.
    server.stop();

    // A probe that always succeeded would make the healthchecks worthless. It is pointed at a
    // port held closed, not at the stopped server's, which another process could take now.
    let (name, probe) = &probes[0];
    let closed = ClosedPort::bind();
    env.insert("EDGECERT_LISTEN".into(), closed.addr.to_string());
    let finished = run(edgecert(&probe[1..], &env, dir.path()));
    assert!(
        !finished.status.success(),
        "{name} succeeded with edgecert stopped:\n{}",
        finished.output()
    );
}

fn repository_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// The `docker-compose` command: Debian's v1 prints YAML only, v2 can print JSON.
struct Compose {
    major: u32,
}

impl Compose {
    /// `None` (after saying SKIPPED) when docker-compose is not installed, unless CI requires it.
    fn find() -> Option<Self> {
        let output = match Command::new("docker-compose")
            .args(["version", "--short"])
            .stdin(Stdio::null())
            .output()
        {
            Ok(output) => output,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
                assert!(
                    !required,
                    "{REQUIRE_ENV} is set, but docker-compose is not on PATH"
                );
                eprintln!(
                    "SKIPPED: docker-compose is not on PATH (`apt-get install docker-compose`); \
                     set {REQUIRE_ENV}=1 to make this a failure"
                );
                return None;
            }
            Err(error) => panic!("cannot run docker-compose: {error}"),
        };
        let version = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "docker-compose version: {version}");
        let major = version
            .trim()
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|major| major.parse().ok())
            .unwrap_or_else(|| panic!("unexpected docker-compose version {version:?}"));
        Some(Self { major })
    }

    /// The repository's compose file as compose resolves it, with `env_file` as its .env and
    /// none of this process's environment, as on a clean machine.
    fn config(&self, env_file: &Path) -> Value {
        let mut command = Command::new("docker-compose");
        command.env_clear();
        for name in ["PATH", "HOME"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command
            .arg("--env-file")
            .arg(env_file)
            .arg("--file")
            .arg(repository_file("docker-compose.yml"))
            .arg("config");
        if self.major >= 2 {
            command.args(["--format", "json"]);
        }
        let output = command
            .stdin(Stdio::null())
            .output()
            .expect("run docker-compose config");
        assert!(
            output.status.success(),
            "docker-compose config failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).expect("docker-compose prints UTF-8");
        if self.major >= 2 {
            serde_json::from_str(&text).expect("docker-compose config --format json")
        } else {
            serde_yaml_ng::from_str(&text).expect("docker-compose config prints YAML")
        }
    }
}

/// The value of `NAME=value` in a repository file such as .env.example, commented out or not.
fn documented_value(file: &str, name: &str) -> String {
    let text = std::fs::read_to_string(repository_file(file)).expect("read the documented file");
    text.lines()
        .filter_map(|line| line.trim_start_matches(['#', ' ']).strip_prefix(name))
        .filter_map(|rest| rest.strip_prefix('='))
        .find(|value| !value.is_empty())
        .unwrap_or_else(|| panic!("{file} gives no example value for {name}"))
        .to_string()
}

/// A compose or JSON scalar as text: compose v2 prints ports and booleans as JSON numbers.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// An exec-form argument list; a string would be split by compose's own rules, not tested here.
fn argv(value: &Value, what: &str) -> Vec<String> {
    value
        .as_array()
        .and_then(|items| items.iter().map(text).collect::<Option<Vec<_>>>())
        .filter(|items| !items.is_empty())
        .unwrap_or_else(|| panic!("{what} must be a non-empty list (exec form), got {value}"))
}

/// The Dockerfile's last `KEYWORD` instruction in the final stage, which is what the image runs.
fn dockerfile_instruction<'a>(dockerfile: &'a str, keyword: &str) -> Option<&'a str> {
    let final_stage = dockerfile
        .rsplit_once("\nFROM ")
        .map_or(dockerfile, |(_, stage)| stage);
    let rest = final_stage
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(keyword)?.strip_prefix(' '))?;
    // One line per instruction keeps this reader trivial.
    assert!(!rest.ends_with('\\'), "{keyword} continues: {rest}");
    Some(rest)
}

fn dockerfile_argv(keyword: &str, rest: &str) -> Vec<String> {
    let value = serde_json::from_str(rest)
        .unwrap_or_else(|e| panic!("Dockerfile {keyword} is not exec (JSON) form ({e}): {rest}"));
    argv(&value, &format!("Dockerfile {keyword}"))
}

/// Docker's rule: the service's entrypoint, else the image's; its command, else the image's
/// CMD, which a service entrypoint discards.
fn command_line(service: &Value, dockerfile: &str) -> Vec<String> {
    let image = |keyword: &str| {
        dockerfile_instruction(dockerfile, keyword).map(|rest| dockerfile_argv(keyword, rest))
    };
    let (mut line, image_cmd) = match service.get("entrypoint") {
        Some(entrypoint) => (argv(entrypoint, "entrypoint"), None),
        None => (image("ENTRYPOINT").unwrap_or_default(), image("CMD")),
    };
    match service.get("command") {
        Some(command) => line.extend(argv(command, "command")),
        None => line.extend(image_cmd.unwrap_or_default()),
    }
    assert!(
        !line.is_empty(),
        "neither compose nor the Dockerfile gives a command"
    );
    line
}

fn compose_healthcheck(service: &Value) -> Vec<String> {
    let test = argv(&service["healthcheck"]["test"], "healthcheck.test");
    assert_eq!(
        test[0], "CMD",
        "the image has no curl; exec `edgecert probe`: {test:?}"
    );
    test[1..].to_vec()
}

fn dockerfile_healthcheck(dockerfile: &str) -> Vec<String> {
    let rest = dockerfile_instruction(dockerfile, "HEALTHCHECK").expect("Dockerfile HEALTHCHECK");
    let (_, command) = rest
        .split_once("CMD ")
        .unwrap_or_else(|| panic!("HEALTHCHECK without CMD: {rest}"));
    dockerfile_argv("HEALTHCHECK", command)
}

/// The container's environment: the image's ENV, overridden by the service's `environment`.
/// Variables compose leaves unset (no value in .env) are absent, as in the container.
fn environment(service: &Value, dockerfile: &str) -> BTreeMap<String, String> {
    let final_stage = dockerfile
        .rsplit_once("\nFROM ")
        .map_or(dockerfile, |(_, stage)| stage);
    let mut env = BTreeMap::new();
    for line in final_stage.lines() {
        if let Some(rest) = line.strip_prefix("ENV ") {
            let (name, value) = rest
                .split_once('=')
                .filter(|(_, value)| !value.contains([' ', '"', '\'', '$']))
                .unwrap_or_else(|| panic!("write one plain ENV NAME=value per line: {line}"));
            env.insert(name.to_string(), value.to_string());
        }
    }
    let compose = service["environment"]
        .as_object()
        .unwrap_or_else(|| panic!("the {SERVICE} service has no environment mapping"));
    for (name, value) in compose {
        if let Some(value) = text(value) {
            env.insert(name.clone(), value);
        } else {
            assert!(value.is_null(), "{name}: {value}");
        }
    }
    env
}

/// Every EDGECERT_ variable the container gets is one edgecert reads, so a misspelt one fails
/// here instead of being silently ignored: those clap lists in `--help` as `[env: NAME=`, and
/// the two secrets config.rs reads outside clap.
fn check_variables_are_read(args: &[String], env: &BTreeMap<String, String>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let help_args: Vec<String> = args.iter().cloned().chain(["--help".into()]).collect();
    // No environment: clap would print the values of the variables it finds set.
    let finished = run(edgecert(&help_args, &BTreeMap::new(), dir.path()));
    let help = finished.output();
    assert!(
        finished.status.success(),
        "{help_args:?} failed ({}):\n{help}",
        finished.status
    );
    let mut known: Vec<&str> = help
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split_once('=').map(|(name, _)| name))
        .collect();
    known.extend(["EDGECERT_MASTER_KEY", "EDGECERT_BOOTSTRAP_TOKEN"]);
    for name in env.keys().filter(|name| name.starts_with("EDGECERT_")) {
        assert!(
            known.contains(&name.as_str()),
            "edgecert does not read {name}; it reads {known:?}"
        );
    }
}

/// The URL names the postgres service, which edgecert waits for, with its credentials.
fn check_database_url(config: &Value, service: &Value, url: &str) {
    let parsed = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .and_then(|rest| rest.split_once('@'))
        .and_then(|(userinfo, rest)| Some((userinfo.split_once(':')?, rest.split_once('/')?)));
    let Some(((user, password), (host_port, database))) = parsed else {
        panic!("DATABASE_URL {url} is not postgres://USER:PASSWORD@HOST[:PORT]/DATABASE");
    };
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "5432"));
    assert_eq!(port, "5432", "the postgres image listens on 5432: {url}");
    let postgres = &config["services"][host]["environment"];
    assert!(
        postgres.is_object(),
        "DATABASE_URL names host {host}, which is no service with an environment"
    );
    let setting = |name| text(&postgres[name]);
    assert_eq!(setting("POSTGRES_USER").as_deref(), Some(user), "{url}");
    assert_eq!(
        setting("POSTGRES_PASSWORD").as_deref(),
        Some(password),
        "{url}"
    );
    // The image names the database after the user unless POSTGRES_DB says otherwise.
    let db = setting("POSTGRES_DB").or_else(|| setting("POSTGRES_USER"));
    assert_eq!(db.as_deref(), Some(database), "{url}");
    assert_eq!(
        service["depends_on"][host]["condition"], "service_healthy",
        "edgecert must start only once {host} is healthy"
    );
}

/// The key file path is where one of the service's secrets is mounted, and it is a file secret.
fn check_secret_mount(config: &Value, service: &Value, path: &str) {
    let secrets = service["secrets"].as_array().cloned().unwrap_or_default();
    let source = secrets
        .iter()
        .find_map(|secret| {
            let (source, target) = match secret {
                Value::String(name) => (name.clone(), name.clone()),
                _ => {
                    let source = text(&secret["source"])?;
                    let target = text(&secret["target"]).unwrap_or_else(|| source.clone());
                    (source, target)
                }
            };
            let mounted = if target.starts_with('/') {
                target
            } else {
                format!("/run/secrets/{target}")
            };
            (mounted == path).then_some(source)
        })
        .unwrap_or_else(|| panic!("no secret of the service is mounted at {path}: {secrets:?}"));
    assert!(
        text(&config["secrets"][&source]["file"]).is_some(),
        "secret {source} must be read from a file: {}",
        config["secrets"]
    );
}

/// `path` lies in a read-only mount of the service.
fn check_read_only_mount(service: &Value, path: &str) {
    let volumes = service["volumes"].as_array().cloned().unwrap_or_default();
    let mounted = volumes.iter().any(|volume| {
        let (target, read_only) = match volume {
            Value::String(short) => {
                let mut parts = short.split(':').skip(1);
                let target = parts.next().unwrap_or_default().to_string();
                let read_only = parts
                    .next()
                    .is_some_and(|mode| mode.split(',').any(|m| m == "ro"));
                (target, read_only)
            }
            _ => (
                text(&volume["target"]).unwrap_or_default(),
                volume["read_only"] == true,
            ),
        };
        read_only && !target.is_empty() && Path::new(path).starts_with(&target)
    });
    assert!(mounted, "{path} is in no read-only mount: {volumes:?}");
}

/// Inside the container edgecert must listen on every interface for the port mapping to reach
/// it, and every mapping must publish on loopback only.
fn check_listen_is_published_on_loopback_only(service: &Value, listen: SocketAddr) {
    assert!(
        listen.ip().is_unspecified(),
        "EDGECERT_LISTEN={listen}: a published port cannot reach a container's loopback"
    );
    let ports = service["ports"].as_array().cloned().unwrap_or_default();
    let mappings: Vec<(String, String)> = ports
        .iter()
        .map(|port| match port {
            // HOST_IP:HOST_PORT:CONTAINER_PORT[/PROTOCOL], as compose v1 prints every mapping.
            Value::String(short) => {
                let short = short.split('/').next().unwrap_or_default();
                let mut parts = short.rsplitn(3, ':');
                let container = parts.next().unwrap_or_default().to_string();
                let _published = parts.next();
                (parts.next().unwrap_or_default().to_string(), container)
            }
            _ => (
                text(&port["host_ip"]).unwrap_or_default(),
                text(&port["target"]).unwrap_or_default(),
            ),
        })
        .collect();
    for (host_ip, _) in &mappings {
        assert!(
            host_ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()),
            "a port is published beyond loopback: {ports:?}"
        );
    }
    assert!(
        mappings
            .iter()
            .any(|(_, container)| *container == listen.port().to_string()),
        "port {} is not published: {ports:?}",
        listen.port()
    );
}

/// Draining after SIGTERM must end before compose's SIGKILL (Docker's default: 10 s).
fn check_stop_grace_period(service: &Value, env: &BTreeMap<String, String>) {
    let grace = env.get("EDGECERT_SHUTDOWN_GRACE").map_or_else(
        || edgecert::config::ServeArgs::for_database("").shutdown_grace,
        |seconds| {
            seconds
                .parse()
                .expect("EDGECERT_SHUTDOWN_GRACE is whole seconds")
        },
    );
    let stop = text(&service["stop_grace_period"]).map_or(Duration::from_secs(10), |d| {
        parse_duration(&d).unwrap_or_else(|| panic!("stop_grace_period {d:?}"))
    });
    assert!(
        Duration::from_secs(grace) < stop,
        "EDGECERT_SHUTDOWN_GRACE={grace} s does not end before stop_grace_period ({stop:?})"
    );
}

/// Compose durations such as `30s`, `1m30s` or `500ms`.
fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        total += match &rest[..unit_len] {
            "h" => Duration::from_secs(number * 3600),
            "m" => Duration::from_secs(number * 60),
            "s" => Duration::from_secs(number),
            "ms" => Duration::from_millis(number),
            _ => return None,
        };
        rest = &rest[unit_len..];
    }
    (total > Duration::ZERO).then_some(total)
}

/// The binary with exactly the container's environment, in a scratch working directory.
fn edgecert(args: &[String], env: &BTreeMap<String, String>, dir: &Path) -> Command {
    let mut command = Command::new(EDGECERT);
    command.args(args).env_clear().envs(env).current_dir(dir);
    command
}
