#!/usr/bin/env bash
# Conformance suite: drives a real edgecert server through the official, unmodified
# Cloudflare TypeScript SDK (npm `cloudflare`, pinned in package.json / package-lock.json).
# edgecert runs with its edge listeners, its test controls and managed certificates ordered
# from a Pebble ACME CA on loopback (../acme.sh; needs the Debian package `pebble`, curl,
# openssl and python3, and fails without them). `*.serial.mjs` files move edgecert's one
# clock, so they run after the others, one at a time.
#
#   bash tests/sdk/typescript/run.sh [extra node --test arguments]
#
# Environment:
#   EDGECERT_BIN                 edgecert binary to test (default: `cargo build`, target/debug/edgecert)
#   EDGECERT_SDK_DATABASE_URL    database to use instead of a throwaway SQLite file (e.g. postgres://...);
#                                a random EDGECERT_MASTER_KEY is generated for it
#   EDGECERT_SDK_KEEP_TMP=1      keep the temporary directory (CA, database, server log)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"

for tool in node npm openssl; do
    command -v "$tool" >/dev/null || { echo "run.sh: '$tool' is required" >&2; exit 2; }
done

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

if [[ -n "${EDGECERT_BIN:-}" ]]; then
    bin="$EDGECERT_BIN"
else
    (cd "$repo" && cargo build --quiet)
    bin="$repo/target/debug/edgecert"
fi
[[ -x "$bin" ]] || { echo "run.sh: edgecert binary not found or not executable: $bin" >&2; exit 2; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/edgecert-sdk-ts.XXXXXX")"
server_pid=""
drain_pid=""
cleanup() {
    local rc=$?
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [[ -n "$drain_pid" ]]; then
        wait "$drain_pid" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 && -f "$tmp/server.log" ]]; then
        echo "---- edgecert server log (last 40 lines) ----" >&2
        tail -n 40 "$tmp/server.log" >&2 || true
        acme_log_tail
    fi
    acme_stop
    if [[ "${EDGECERT_SDK_KEEP_TMP:-}" == 1 ]]; then
        echo "run.sh: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
# shellcheck source=tests/sdk/acme.sh
source "$here/../acme.sh"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Throwaway test CA that edgecert is told to trust.
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
    -keyout "$tmp/root.key" -out "$tmp/root.pem" \
    -subj "/O=edgecert SDK Test CA/CN=edgecert SDK Test Root" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

token="sdk-$(openssl rand -hex 24)"

# Pebble's DNS server, and the ACME directory edgecert will order from (Pebble itself starts
# once edgecert's edge HTTP port is known, as it validates on that port).
acme_prepare "$tmp"

server_env=(
    "EDGECERT_LISTEN=127.0.0.1:0"
    "EDGECERT_BOOTSTRAP_TOKEN=$token"
    "EDGECERT_TRUST_ROOTS=$tmp/root.pem"
    "EDGECERT_LOG_FORMAT=text"
    "NO_COLOR=1"
)
if [[ -n "${EDGECERT_SDK_DATABASE_URL:-}" ]]; then
    server_env+=("DATABASE_URL=$EDGECERT_SDK_DATABASE_URL" "EDGECERT_MASTER_KEY=$(openssl rand -base64 32)")
else
    server_env+=("DATABASE_URL=sqlite://$tmp/edgecert.db")
fi

# Start the server with stderr on a FIFO so we can wait for the "serving" line with a timeout.
mkfifo "$tmp/stderr.fifo"
env "${server_env[@]}" "$bin" serve \
    --acme-directory "$ACME_DIRECTORY" --acme-ca-bundle "$ACME_CA_BUNDLE" \
    --edge-listen 127.0.0.1:0 --edge-http-listen 127.0.0.1:0 --test-controls=true \
    2>"$tmp/stderr.fifo" &
server_pid=$!
exec 3<"$tmp/stderr.fifo"

# The API's line comes first, then the edge's two; each names its bound port.
port="" edge_https="" edge_http=""
deadline=$((SECONDS + 60))
: >"$tmp/server.log"
while [[ -z "$port" || -z "$edge_https" || -z "$edge_http" ]]; do
    remaining=$((deadline - SECONDS))
    if ((remaining <= 0)); then
        echo "run.sh: edgecert did not report it was serving within 60 s" >&2
        exit 1
    fi
    if ! IFS= read -r -t "$remaining" line <&3; then
        echo "run.sh: edgecert exited or stayed silent before serving the API and the edge" >&2
        exit 1
    fi
    printf '%s\n' "$line" >>"$tmp/server.log"
    clean="$(printf '%s' "$line" | sed -E 's/\x1b\[[0-9;]*m//g')"
    [[ "$clean" == *"edgecert is serving"* ]] || continue
    if ! [[ "$clean" =~ listen=\"?127\.0\.0\.1:([0-9]+) ]]; then
        echo "run.sh: could not parse the port from: $clean" >&2
        exit 1
    fi
    case "$clean" in
        *"serving the API"*) port="${BASH_REMATCH[1]}" ;;
        *"edge over HTTPS"*) edge_https="${BASH_REMATCH[1]}" ;;
        *"edge over plain HTTP"*) edge_http="${BASH_REMATCH[1]}" ;;
    esac
done
# Keep draining the server's stderr so it never blocks on a full pipe.
cat <&3 >>"$tmp/server.log" &
drain_pid=$!
exec 3<&-

export EDGECERT_BASE_URL="http://127.0.0.1:$port/client/v4"
export EDGECERT_TOKEN="$token"
export EDGECERT_CA_KEY="$tmp/root.key"
export EDGECERT_CA_CERT="$tmp/root.pem"

# Pebble, validating HTTP-01 on edgecert's edge HTTP port; then, for the lifecycle tests, the
# test controls (outside /client/v4), the edge's HTTPS port, Pebble's root (what issued
# certificates chain to) and challtestsrv's API (to break a name's DNS).
acme_start_pebble "$edge_http"
export EDGECERT_URL="http://127.0.0.1:$port"
export EDGECERT_EDGE_HTTPS="127.0.0.1:$edge_https"
export EDGECERT_ACME_ROOT="$ACME_ROOT"
export EDGECERT_DNS_MANAGEMENT="$ACME_DNS_MANAGEMENT"
# The SDK reads these; make sure nothing from the caller's environment leaks in.
unset CLOUDFLARE_BASE_URL CLOUDFLARE_API_TOKEN CLOUDFLARE_API_KEY CLOUDFLARE_EMAIL \
    CLOUDFLARE_API_USER_SERVICE_KEY CLOUDFLARE_CUSTOM_HEADERS 2>/dev/null || true

echo "run.sh: edgecert $("$bin" --version 2>/dev/null || echo '') serving on $EDGECERT_BASE_URL" >&2

set +e
(cd "$here" && node --test "$@")
status=$?
if [[ $status -eq 0 ]]; then
    # The clock is edgecert's only one: moved while other files' tests upload certificates,
    # it would expire theirs. So these run alone, after the rest.
    (cd "$here" && node --test --test-concurrency=1 "$@" ./*.serial.mjs)
    status=$?
fi
set -e
exit "$status"
