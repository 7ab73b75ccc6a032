#!/usr/bin/env bash
# bench/edge.sh: edgecert's edge against nginx, on loopback, in the same run.
#
# Both terminate TLS for app.example.com with a P-256 certificate from the same throwaway CA
# (edgecert with the key of its CSR, nginx with a key of the same kind) and proxy to one
# nginx origin answering `200 ok`. One server is up at a time. The load client is
# examples/edgeload.rs (2 connections; wrk and h2load take the SNI from the URL, which would
# have to resolve): rows
#   keep-alive  GETs over two kept-alive TLS connections, proxied to the origin;
#   handshake   one new TLS connection per GET (full handshake, no resumption), with the
#               P-256 certificate and with an RSA-2048 one (rsa.example.com);
#   scale       edgecert only: 10,000 more hostnames written into its database, then its
#               resident memory and how long applying a change takes (its reload gauge).
# Every answer must be 200: one error fails the run. Nothing is judged on speed; the table
# gives edgecert / nginx as a ratio.
#
# Usage: bench/edge.sh [--smoke]   (--smoke: 1 s rows and a debug build, for CI)
# Environment: EDGECERT_BIN (binary to benchmark), EDGELOAD_BIN (the load client),
# BENCH_KEEP_WORK=1 (keep the work directory). The report (markdown) goes to stdout.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
# The P-256 and the RSA-2048 hostname; each server holds a certificate of that key type for it.
HOST=app.example.com
RSA_HOST=rsa.example.com
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
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$HOST" \
        -keyout "$WORK/nginx.key" -out "$WORK/nginx.csr" 2>/dev/null
    sign "$WORK/nginx.csr" "$WORK/nginx.pem" "$HOST"
    openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$RSA_HOST" \
        -keyout "$WORK/nginx-rsa.key" -out "$WORK/nginx-rsa.csr" 2>/dev/null
    sign "$WORK/nginx-rsa.csr" "$WORK/nginx-rsa.pem" "$RSA_HOST"
}

# Signs the CSR file $1 for host $3 with the bench root; the leaf is written to $2 (leaf
# only: the root is what clients trust).
sign() {
    printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
        "$3" >"$WORK/leaf.ext"
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
    # No RSA key pool: filling it would take CPU from the edge for the whole run, and the
    # pool serves CSR creation, which this benchmark does not measure.
    env -i PATH="$PATH" RUST_LOG=warn EDGECERT_LISTEN="$api" EDGECERT_EDGE_LISTEN="$edge" \
        EDGECERT_RSA_POOL_SIZE=0 \
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

# For host $1, a CSR of key type $2 from edgecert, signed by the bench root and uploaded.
upload_for() {
    local host=$1 key_type=$2 csr csr_id
    csr=$(api POST custom_csrs "$(printf '{"common_name":"%s","sans":["%s"],"country":"US","state":"MA","locality":"Boston","organization":"Bench","key_type":"%s"}' "$host" "$host" "$key_type")")
    csr_id=$(printf '%s' "$csr" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["id"])')
    printf '%s' "$csr" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["csr"])' >"$WORK/$host.csr"
    sign "$WORK/$host.csr" "$WORK/$host.pem" "$host"
    python3 - "$csr_id" "$WORK/$host.pem" "$host" >"$WORK/hostname.json" <<'EOF'
import json, sys
csr_id, pem, host = sys.argv[1:]
print(json.dumps({"hostname": host,
                  "ssl": {"custom_csr_id": csr_id, "custom_certificate": open(pem).read()}}))
EOF
    api POST custom_hostnames "$(cat "$WORK/hostname.json")" >/dev/null
}

# Both hostnames, and the zone's fallback origin $1.
configure_edgecert() {
    upload_for "$HOST" p256v1
    upload_for "$RSA_HOST" rsa2048
    api PUT custom_hostnames/fallback_origin "{\"origin\":\"$1\"}" >/dev/null
}

# Runs one row against the TLS server at $2; appends "row target rps p50 p99" to $RESULTS.
load() {
    local row=$1 address=$2 target=$3 mode=handshake host=$HOST out
    [[ $row == keep-alive ]] && mode=keepalive
    [[ $row == handshake-rsa ]] && host=$RSA_HOST
    out=$WORK/$target-$row.json
    "$EDGELOAD_BIN" --connect "$address" --sni "$host" --ca "$WORK/root.pem" \
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

# A metric's value from edgecert's /metrics.
metric() {
    curl -sS -H "Authorization: Bearer $TOKEN" "http://$API/metrics" |
        awk -v name="$1" '$1 == name {print $2}'
}

# The scale row: $SCALE more hostnames with certificates, written straight into the database
# (copies of app.example.com's row, so the same key), then edgecert's resident memory and the
# time a re-read of everything served takes after a change, as its own gauge reports it.
bench_scale() {
    local pid=$1 first
    log "edgecert with $SCALE more hostnames"
    sqlite3 "$WORK/edgecert/edgecert.db" >/dev/null <<EOF
PRAGMA busy_timeout = 10000;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $SCALE)
INSERT INTO custom_hostnames (id, zone_id, hostname, ssl_id, ssl_options, key_id, key_owned,
    custom_csr_id, certificate, custom_metadata, custom_origin_server, custom_origin_sni,
    ownership_token, created_at_us)
SELECT randomblob(16), zone_id, 'h' || i || '.bench.example.com', randomblob(16), ssl_options,
    key_id, key_owned, custom_csr_id, certificate, custom_metadata, custom_origin_server,
    custom_origin_sni, randomblob(16), created_at_us + i
FROM custom_hostnames, n WHERE hostname = '$HOST';
EOF
    first=$(api GET "custom_hostnames?hostname=$HOST" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"][0]["id"])')
    local reloads=() _ served
    for _ in 1 2 3 4 5 6; do
        api PATCH "custom_hostnames/$first" '{"custom_metadata":{"bench":"'"$RANDOM"'"}}' >/dev/null
        sleep 1
        reloads+=("$(metric edgecert_edge_reload_seconds)")
    done
    served=$(metric edgecert_edge_served_names)
    ((${served%.*} >= SCALE)) || die "the edge serves $served names, not the $SCALE seeded"
    SCALE_RSS_KB=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    # The first re-read opens the new rows; the median of the other five is the steady cost.
    SCALE_RELOAD_MS=$(printf '%s\n' "${reloads[@]:1}" | sort -g | awk 'NR == 3 {printf "%.1f", $1 * 1000}')
    log "scale: $served names, VmRSS $SCALE_RSS_KB kB, re-read ${SCALE_RELOAD_MS} ms (all: ${reloads[*]})"
}

# Every row against the TLS server listening on loopback port $1.
load_all() {
    local port=$1 target=$2 host
    for host in "$HOST" "$RSA_HOST"; do
        wait_for_200 --cacert "$WORK/root.pem" --resolve "$host:$port:127.0.0.1" "https://$host:$port/"
    done
    load keep-alive "127.0.0.1:$port" "$target"
    load handshake "127.0.0.1:$port" "$target"
    load handshake-rsa "127.0.0.1:$port" "$target"
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
                   ("handshake", "new TLS connection per GET, P-256 (full handshake)"),
                   ("handshake-rsa", "new TLS connection per GET, RSA-2048 (full handshake)")]:
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
    MODE=full SECS=10 SCALE=10000
    case "${1:-}" in
    "") ;;
    --smoke) MODE=smoke SECS=1 SCALE=500 ;;
    *) die "usage: bench/edge.sh [--smoke]" ;;
    esac
    for tool in nginx openssl curl python3 sqlite3; do
        command -v "$tool" >/dev/null || die "$tool is missing (apt-get install nginx openssl curl sqlite3)"
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
    load_all "$edge_port" edgecert
    bench_scale "${PIDS[-1]}"
    kill -TERM "${PIDS[-1]}" && wait "${PIDS[-1]}" || true
    unset 'PIDS[-1]'

    log "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), $SECS s per row"
    front_port=$(free_port)
    local proxy="location / { proxy_pass http://origin; proxy_http_version 1.1;
            proxy_set_header Connection \"\"; }
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache off;
        ssl_session_tickets off;
        # nginx closes a connection after 1,000 requests by default; edgecert does not.
        keepalive_requests 100000000;"
    start_nginx front "upstream origin { server 127.0.0.1:$origin_port; keepalive 16; }
    server {
        listen 127.0.0.1:$front_port ssl;
        server_name $HOST;
        ssl_certificate $WORK/nginx.pem;
        ssl_certificate_key $WORK/nginx.key;
        $proxy
    }
    server {
        listen 127.0.0.1:$front_port ssl;
        server_name $RSA_HOST;
        ssl_certificate $WORK/nginx-rsa.pem;
        ssl_certificate_key $WORK/nginx-rsa.key;
        $proxy
    }"
    load_all "$front_port" nginx
    report
    printf '\nWith %s more hostnames served: edgecert VmRSS %s MB; a change is applied to the\n' \
        "$SCALE" "$((SCALE_RSS_KB / 1024))"
    printf 'in-memory maps (everything re-read) in %s ms (median of five).\n' "$SCALE_RELOAD_MS"
}

main "$@"
