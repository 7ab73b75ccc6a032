#!/usr/bin/env bash
# bench/edge.sh: edgecert's edge against nginx, on loopback, in the same run.
#
# Both terminate TLS for app.example.com with a P-256 certificate from the same throwaway CA
# (edgecert with the key of its CSR, nginx with a key of the same kind) and proxy to one
# nginx origin answering `200 ok`. One server is up at a time. The load client is
# examples/edgeload.rs (2 connections; wrk and h2load take the SNI from the URL, which would
# have to resolve): rows
#   keep-alive  GETs over two kept-alive TLS connections, proxied to the origin;
#   handshake   one new TLS connection per GET (full handshake, no resumption).
# Every answer must be 200: one error fails the run. Nothing is judged on speed; the table
# gives edgecert / nginx as a ratio.
#
# Usage: bench/edge.sh [--smoke]   (--smoke: 1 s rows and a debug build, for CI)
# Environment: EDGECERT_BIN (binary to benchmark), EDGELOAD_BIN (the load client),
# BENCH_KEEP_WORK=1 (keep the work directory). The report (markdown) goes to stdout.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
HOST=app.example.com
ZONE=be0c00000000000000000000000000ed
PIDS=()
WORK=""

log() { printf 'bench edge: %s\n' "$*" >&2; }
die() {
    printf 'bench edge: ERROR: %s\n' "$*" >&2
    exit 1
}

free_port() { python3 "$BENCH_DIR/bench.py" free-port; }

stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e
    stop_all
    if ((status != 0)) && [[ -n $WORK ]]; then
        for logfile in "$WORK"/*.log; do
            [[ -s $logfile ]] && { printf '\n--- %s ---\n' "$logfile" >&2; tail -15 "$logfile" >&2; }
        done
    fi
    if [[ -n $WORK && ${BENCH_KEEP_WORK:-} != 1 ]]; then rm -rf "$WORK"; fi
    exit "$status"
}

# Waits until `curl` (its arguments) answers 200, for at most 30 s.
wait_for_200() {
    local _
    for _ in $(seq 300); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' "$@" 2>/dev/null) == 200 ]] && return 0
        sleep 0.1
    done
    die "no 200 from curl $*"
}

make_certificates() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=edgecert bench root" -keyout "$WORK/root.key" -out "$WORK/root.pem" 2>/dev/null
    printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
        "$HOST" >"$WORK/leaf.ext"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$HOST" \
        -keyout "$WORK/nginx.key" -out "$WORK/nginx.csr" 2>/dev/null
    sign "$WORK/nginx.csr" "$WORK/nginx.pem"
}

# Signs a CSR file with the bench root; the leaf is written to $2 (leaf only: the root is
# what clients trust).
sign() {
    openssl x509 -req -in "$1" -CA "$WORK/root.pem" -CAkey "$WORK/root.key" -CAcreateserial \
        -days 1 -sha256 -extfile "$WORK/leaf.ext" -out "$2" 2>/dev/null
}

start_nginx() {
    local name=$1 server_block=$2
    mkdir -p "$WORK/$name"
    cat >"$WORK/$name/nginx.conf" <<EOF
worker_processes auto;
# Run as root (the bench's files are in a private directory); ignored, with a notice, otherwise.
user root;
pid $WORK/$name/nginx.pid;
error_log $WORK/$name.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $WORK/$name/body;
    proxy_temp_path $WORK/$name/proxy;
    fastcgi_temp_path $WORK/$name/fastcgi;
    uwsgi_temp_path $WORK/$name/uwsgi;
    scgi_temp_path $WORK/$name/scgi;
    $server_block
}
EOF
    nginx -p "$WORK/$name" -c "$WORK/$name/nginx.conf" -g 'daemon off;' 2>>"$WORK/$name.log" &
    PIDS+=($!)
}

start_edgecert() {
    local token=$1 api=$2 edge=$3
    mkdir -p "$WORK/edgecert"
    env -i PATH="$PATH" RUST_LOG=warn EDGECERT_LISTEN="$api" EDGECERT_EDGE_LISTEN="$edge" \
        EDGECERT_BOOTSTRAP_TOKEN="$token" EDGECERT_TRUST_ROOTS="$WORK/root.pem" \
        DATABASE_URL="sqlite://$WORK/edgecert/edgecert.db" \
        "$EDGECERT_BIN" serve >"$WORK/edgecert.log" 2>&1 &
    PIDS+=($!)
    wait_for_200 "http://$api/healthz"
}

api() {
    local method=$1 path=$2 body=${3:-}
    curl -sS --fail-with-body -X "$method" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' ${body:+--data "$body"} \
        "http://$API/client/v4/zones/$ZONE/$path"
}

# A CSR from edgecert, signed by the bench root, uploaded for $HOST; the zone's fallback origin.
configure_edgecert() {
    local origin=$1 csr csr_id
    csr=$(api POST custom_csrs "$(printf '{"common_name":"%s","sans":["%s"],"country":"US","state":"MA","locality":"Boston","organization":"Bench","key_type":"p256v1"}' "$HOST" "$HOST")")
    csr_id=$(printf '%s' "$csr" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["id"])')
    printf '%s' "$csr" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["csr"])' >"$WORK/edgecert.csr"
    sign "$WORK/edgecert.csr" "$WORK/edgecert.pem"
    python3 - "$csr_id" "$WORK/edgecert.pem" "$HOST" >"$WORK/hostname.json" <<'EOF'
import json, sys
csr_id, pem, host = sys.argv[1:]
print(json.dumps({"hostname": host,
                  "ssl": {"custom_csr_id": csr_id, "custom_certificate": open(pem).read()}}))
EOF
    api POST custom_hostnames "$(cat "$WORK/hostname.json")" >/dev/null
    api PUT custom_hostnames/fallback_origin "{\"origin\":\"$origin\"}" >/dev/null
}

# Runs one row against the TLS server at $2; appends "row target rps p50 p99" to $RESULTS.
load() {
    local row=$1 address=$2 target=$3 mode=keepalive out
    [[ $row == handshake ]] && mode=handshake
    out=$WORK/$target-$row.json
    "$EDGELOAD_BIN" --connect "$address" --sni "$HOST" --ca "$WORK/root.pem" \
        --connections 2 --seconds "$SECS" --mode "$mode" >"$out" ||
        die "edgeload failed for $target $row"
    python3 - "$out" "$row" "$target" >>"$RESULTS" <<'EOF'
import json, sys
path, row, target = sys.argv[1:]
r = json.load(open(path))
if r["errors"] or not r["requests"]:
    sys.exit(f"{target} {row}: {r['errors']} errors, {r['requests']} answers; last: {r['last_error']}")
print(row, target, f"{r['rps']:.0f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}")
EOF
    log "$target $row: $(tail -1 "$RESULTS")"
}

report() {
    python3 - "$RESULTS" <<'EOF'
import sys
rows = {}
for line in open(sys.argv[1]):
    row, target, rps, p50, p99 = line.split()
    rows.setdefault(row, {})[target] = (float(rps), p50, p99)
print("| edge row | edgecert | nginx | ratio |")
print("| --- | ---: | ---: | ---: |")
for row, label in [("keep-alive", "GET over 2 kept-alive TLS connections, proxied"),
                   ("handshake", "new TLS connection per GET (full handshake)")]:
    e, n = rows[row]["edgecert"], rows[row]["nginx"]
    print(f"| {label} | {e[0]:,.0f} req/s, p50 {e[1]} ms, p99 {e[2]} ms "
          f"| {n[0]:,.0f} req/s, p50 {n[1]} ms, p99 {n[2]} ms | {e[0] / n[0]:.2f}x |")
EOF
}

build() {
    local profile=release flags=(--release) target_dir
    [[ $MODE == smoke ]] && profile=debug flags=()
    target_dir=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    if [[ -z ${EDGELOAD_BIN:-} ]]; then
        (cd "$REPO" && cargo build "${flags[@]}" --example edgeload >&2) || die "cannot build edgeload"
        EDGELOAD_BIN=$target_dir/$profile/examples/edgeload
    fi
    if [[ -z ${EDGECERT_BIN:-} ]]; then
        (cd "$REPO" && cargo build "${flags[@]}" >&2) || die "cannot build edgecert"
        EDGECERT_BIN=$target_dir/$profile/edgecert
    fi
    [[ -x $EDGELOAD_BIN && -x $EDGECERT_BIN ]] || die "missing $EDGELOAD_BIN or $EDGECERT_BIN"
}

main() {
    MODE=full SECS=10
    case "${1:-}" in
    "") ;;
    --smoke) MODE=smoke SECS=1 ;;
    *) die "usage: bench/edge.sh [--smoke]" ;;
    esac
    for tool in nginx openssl curl python3; do
        command -v "$tool" >/dev/null || die "$tool is missing (apt-get install nginx openssl curl)"
    done
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    build
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/edgecert-bench-edge.XXXXXX")
    RESULTS=$WORK/results.txt
    : >"$RESULTS"
    make_certificates

    local origin_port front_port edge_port
    origin_port=$(free_port)
    start_nginx origin "server { listen 127.0.0.1:$origin_port; location / { return 200 \"ok\\n\"; } }"
    wait_for_200 "http://127.0.0.1:$origin_port/"

    log "edgecert ($EDGECERT_BIN), $SECS s per row"
    TOKEN=bench-$(openssl rand -hex 24)
    API=127.0.0.1:$(free_port)
    edge_port=$(free_port)
    start_edgecert "$TOKEN" "$API" "127.0.0.1:$edge_port"
    configure_edgecert "127.0.0.1:$origin_port"
    wait_for_200 --cacert "$WORK/root.pem" --resolve "$HOST:$edge_port:127.0.0.1" "https://$HOST:$edge_port/"
    load keep-alive "127.0.0.1:$edge_port" edgecert
    load handshake "127.0.0.1:$edge_port" edgecert
    kill -TERM "${PIDS[-1]}" && wait "${PIDS[-1]}" || true
    unset 'PIDS[-1]'

    log "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), $SECS s per row"
    front_port=$(free_port)
    start_nginx front "upstream origin { server 127.0.0.1:$origin_port; keepalive 16; }
    server {
        listen 127.0.0.1:$front_port ssl;
        ssl_certificate $WORK/nginx.pem;
        ssl_certificate_key $WORK/nginx.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache off;
        ssl_session_tickets off;
        # nginx closes a connection after 1,000 requests by default; edgecert does not.
        keepalive_requests 100000000;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }"
    wait_for_200 --cacert "$WORK/root.pem" --resolve "$HOST:$front_port:127.0.0.1" "https://$HOST:$front_port/"
    load keep-alive "127.0.0.1:$front_port" nginx
    load handshake "127.0.0.1:$front_port" nginx
    report
}

main "$@"
