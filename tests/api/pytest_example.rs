//! The README's pytest example (`examples/pytest`), run with `python -m pytest` against the
//! real binary with its test controls on, so the documented fixtures keep working. It needs
//! an interpreter with pytest and the Cloudflare SDK (`examples/pytest/requirements.txt`):
//! `EDGECERT_PYTEST_PYTHON` names one (default `python3`). Without them the test prints
//! SKIPPED and passes, unless `EDGECERT_REQUIRE_PYTEST=1`, as `.ci/run` sets after making one.

use std::process::Command;

use crate::common::TOKEN;
use crate::process::{Server, edgecert};

const PYTHON_ENV: &str = "EDGECERT_PYTEST_PYTHON";
const REQUIRE_ENV: &str = "EDGECERT_REQUIRE_PYTEST";
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/pytest");

#[test]
fn the_pytest_example_passes_against_a_real_edgecert() {
    let python = std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".to_string());
    let usable = Command::new(&python)
        .args(["-c", "import pytest, cloudflare, httpx"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !usable {
        assert!(
            std::env::var(REQUIRE_ENV).as_deref() != Ok("1"),
            "{python} cannot import pytest and the Cloudflare SDK, and {REQUIRE_ENV}=1: \
             pip install -r examples/pytest/requirements.txt and set {PYTHON_ENV}"
        );
        eprintln!(
            "SKIPPED: {python} lacks pytest or the Cloudflare SDK; set {PYTHON_ENV} to an \
             interpreter with examples/pytest/requirements.txt installed"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = edgecert(dir.path());
    command
        .env("EDGECERT_TEST_CONTROLS", "true")
        .env("EDGECERT_BOOTSTRAP_TOKEN", TOKEN)
        .env("EDGECERT_RSA_POOL_SIZE", "0");
    let server = Server::start(command);
    assert!(
        server.logged("test controls are on").is_some(),
        "no warning that the test controls are on"
    );
    let output = Command::new(&python)
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-q", EXAMPLE])
        .env("EDGECERT_URL", format!("http://{}", server.addr))
        .env("EDGECERT_TOKEN", TOKEN)
        .output()
        .expect("run pytest");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "pytest failed:\n{report}");
    assert!(report.contains("3 passed"), "{report}");
    server.stop();
}
