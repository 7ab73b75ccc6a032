#!/usr/bin/env bash
# Conformance suite: drive edgecert through the official Cloudflare Python SDK (unmodified).
# edgecert runs with its edge listeners, its test controls and managed certificates ordered
# from a Pebble ACME CA on loopback (tests/sdk/acme.sh; needs the Debian package `pebble`,
# curl and openssl, and fails without them).
#
# Env (all optional):
#   EDGECERT_BIN               edgecert binary (default: `cargo build` then target/debug/edgecert)
#   EDGECERT_SDK_VENV          venv directory to create/reuse (default: a temp dir, removed on exit)
#   EDGECERT_SDK_DATABASE_URL  database URL (e.g. postgres://...); default sqlite in a temp dir.
#                              With it, EDGECERT_MASTER_KEY (base64 of 32 bytes) is passed to
#                              edgecert: yours if set, else a random one (needs a fresh database)
#   PYTHON                     python interpreter used to create the venv (default python3)
# Extra arguments are passed to pytest (e.g. `run.sh -k pagination -x`).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/edgecert-sdk-py.XXXXXX")"
server_pid=""

# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    acme_stop
    rm -rf "$work"
}
# shellcheck source=tests/sdk/acme.sh
source "$here/../acme.sh"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. Python venv with the pinned SDK and pytest.
venv="${EDGECERT_SDK_VENV:-$work/venv}"
if [[ ! -x "$venv/bin/python" ]]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"

# 2. The edgecert binary.
if [[ -n "${EDGECERT_BIN:-}" ]]; then
    bin="$EDGECERT_BIN"
else
    (cd "$repo" && cargo build --quiet)
    bin="$repo/target/debug/edgecert"
fi
[[ -x "$bin" ]] || { echo "run.sh: edgecert binary not found: $bin" >&2; exit 1; }

# 3. Throwaway test CA (trusted by edgecert via EDGECERT_TRUST_ROOTS).
ca_dir="$work/ca"
mkdir -p "$ca_dir"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
    -keyout "$ca_dir/root.key" -out "$ca_dir/root.pem" \
    -subj "/O=edgecert SDK conformance CA/CN=edgecert SDK Test Root" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# 4. Pebble's DNS server, and the ACME directory edgecert will order from (Pebble itself
#    starts once edgecert's edge HTTP port is known, as it validates on that port).
acme_prepare "$work"

# 5. Start edgecert on free loopback ports (API, edge HTTPS, edge HTTP) and wait for its
#    "serving" lines.
token="sdk-$(openssl rand -hex 24)"
log="$work/edgecert.log"
: >"$log"
db_url="${EDGECERT_SDK_DATABASE_URL:-sqlite://$work/edgecert.db}"
server_env=(
    "DATABASE_URL=$db_url"
    "EDGECERT_BOOTSTRAP_TOKEN=$token"
    "EDGECERT_TRUST_ROOTS=$ca_dir/root.pem"
    "EDGECERT_LISTEN=127.0.0.1:0"
    "RUST_LOG=${RUST_LOG:-info}"
)
if [[ -n "${EDGECERT_SDK_DATABASE_URL:-}" ]]; then
    # A database remembers its master key's fingerprint: pass EDGECERT_MASTER_KEY to reuse a
    # database across runs; otherwise a fresh key is made (the database must then be new).
    server_env+=("EDGECERT_MASTER_KEY=${EDGECERT_MASTER_KEY:-$(openssl rand -base64 32)}")
fi
env "${server_env[@]}" "$bin" serve \
    --acme-directory "$ACME_DIRECTORY" --acme-ca-bundle "$ACME_CA_BUNDLE" \
    --edge-listen 127.0.0.1:0 --edge-http-listen 127.0.0.1:0 --test-controls=true \
    2>"$log" >"$work/edgecert.stdout" &
server_pid=$!

ports="$("$venv/bin/python" - "$log" "$server_pid" <<'PY'
import os, re, sys, time
path, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 60
# The API's line comes first, then the edge's two; all three name their bound port.
wanted = {
    "api": "edgecert is serving the API",
    "https": "edgecert is serving the edge over HTTPS",
    "http": "edgecert is serving the edge over plain HTTP",
}
pat = re.compile(r"listen=\"?127\.0\.0\.1:(\d+)")
with open(path, "r", errors="replace") as f:
    buf = ""
    while time.monotonic() < deadline:
        chunk = f.read()
        if chunk:
            buf += chunk
            found = {}
            for line in re.sub(r"\x1b\[[0-9;]*m", "", buf).splitlines():
                for name, text in wanted.items():
                    m = pat.search(line)
                    if text in line and m:
                        found[name] = m.group(1)
            if len(found) == len(wanted):
                print(found["api"], found["https"], found["http"])
                sys.exit(0)
            continue
        try:
            os.kill(pid, 0)
        except OSError:
            sys.stderr.write("edgecert exited before serving\n")
            sys.exit(1)
        time.sleep(0.05)  # waiting on new log output, bounded by the 60 s deadline
sys.stderr.write("timed out after 60 s waiting for edgecert's three 'serving' lines\n")
sys.exit(1)
PY
)" || { echo "run.sh: edgecert did not start; its log:" >&2; cat "$log" >&2; exit 1; }
read -r port edge_https edge_http <<<"$ports"

# 6. Pebble, validating HTTP-01 on edgecert's edge HTTP port.
acme_start_pebble "$edge_http"

export EDGECERT_BASE_URL="http://127.0.0.1:$port/client/v4"
export EDGECERT_TOKEN="$token"
export EDGECERT_CA_KEY="$ca_dir/root.key"
export EDGECERT_CA_CERT="$ca_dir/root.pem"
export EDGECERT_SDK_LOG="$log"
# For the lifecycle tests: the test controls (outside /client/v4), the edge's HTTPS port,
# Pebble's root (what issued certificates chain to) and challtestsrv's API (to break DNS).
export EDGECERT_URL="http://127.0.0.1:$port"
export EDGECERT_EDGE_HTTPS="127.0.0.1:$edge_https"
export EDGECERT_ACME_ROOT="$ACME_ROOT"
export EDGECERT_DNS_MANAGEMENT="$ACME_DNS_MANAGEMENT"
# The SDK must not pick up credentials or a base URL from the caller's environment.
unset CLOUDFLARE_API_TOKEN CLOUDFLARE_API_KEY CLOUDFLARE_EMAIL CLOUDFLARE_API_USER_SERVICE_KEY \
      CLOUDFLARE_BASE_URL CLOUDFLARE_CUSTOM_HEADERS || true

echo "run.sh: edgecert serving on 127.0.0.1:$port, edge on :$edge_https and :$edge_http, ACME at $ACME_DIRECTORY (db: ${db_url%%://*})" >&2
set +e
(cd "$here" && "$venv/bin/python" -m pytest -p no:cacheprovider "$@")
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
    echo "run.sh: pytest failed ($rc); last edgecert log lines:" >&2
    tail -n 15 "$log" >&2 || true
    acme_log_tail
fi
exit "$rc"
