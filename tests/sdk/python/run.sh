#!/usr/bin/env bash
# Conformance suite: drive edgecert through the official Cloudflare Python SDK (unmodified).
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
    rm -rf "$work"
}
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

# 4. Start edgecert on a free loopback port and wait for its "serving" line.
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
env "${server_env[@]}" "$bin" serve 2>"$log" >"$work/edgecert.stdout" &
server_pid=$!

port="$("$venv/bin/python" - "$log" "$server_pid" <<'PY'
import os, re, sys, time
path, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 60
pat = re.compile(r"listen=\"?127\.0\.0\.1:(\d+)")
with open(path, "r", errors="replace") as f:
    buf = ""
    while time.monotonic() < deadline:
        chunk = f.read()
        if chunk:
            buf += chunk
            for line in re.sub(r"\x1b\[[0-9;]*m", "", buf).splitlines():
                if "edgecert is serving the API" in line:
                    m = pat.search(line)
                    if m:
                        print(m.group(1))
                        sys.exit(0)
            continue
        try:
            os.kill(pid, 0)
        except OSError:
            sys.stderr.write("edgecert exited before serving\n")
            sys.exit(1)
        time.sleep(0.05)  # waiting on new log output, bounded by the 60 s deadline
sys.stderr.write("timed out after 60 s waiting for 'edgecert is serving the API'\n")
sys.exit(1)
PY
)" || { echo "run.sh: edgecert did not start; its log:" >&2; cat "$log" >&2; exit 1; }

export EDGECERT_BASE_URL="http://127.0.0.1:$port/client/v4"
export EDGECERT_TOKEN="$token"
export EDGECERT_CA_KEY="$ca_dir/root.key"
export EDGECERT_CA_CERT="$ca_dir/root.pem"
export EDGECERT_SDK_LOG="$log"
# The SDK must not pick up credentials or a base URL from the caller's environment.
unset CLOUDFLARE_API_TOKEN CLOUDFLARE_API_KEY CLOUDFLARE_EMAIL CLOUDFLARE_API_USER_SERVICE_KEY \
      CLOUDFLARE_BASE_URL CLOUDFLARE_CUSTOM_HEADERS || true

echo "run.sh: edgecert serving on 127.0.0.1:$port (db: ${db_url%%://*})" >&2
set +e
(cd "$here" && "$venv/bin/python" -m pytest -p no:cacheprovider "$@")
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
    echo "run.sh: pytest failed ($rc); last edgecert log lines:" >&2
    tail -n 15 "$log" >&2 || true
fi
exit "$rc"
