#!/usr/bin/env bash
# bench/run.sh: edgecert's CSR creation against Cloudflare's cfssl, on loopback.
#
# cfssl's `POST /api/v1/cfssl/newkey` makes a key and a CSR and persists nothing; edgecert's
# `POST .../custom_csrs` also encrypts and stores the key. Both get the same wrk load
# (-t2 -c2, lua scripts in this directory), one server at a time, so on a small machine
# neither competes with the other for CPU. Rows:
#   create  P-256, and RSA-2048 generated inline (EDGECERT_RSA_POOL_SIZE=0), edgecert on
#           SQLite and on PostgreSQL vs cfssl: req/s, p50, p99; P-256 also on SQLite with
#           EDGECERT_SQLITE_SYNCHRONOUS=full (backend sqlite-full);
#   burst   N/2 RSA-2048 creates on 2 connections to an edgecert whose pool of N keys is full
#           (cfssl has no pool: compared with its sustained RSA p50);
#   list    page 1 and a far page of a zone seeded by SQL with 100,000 CSRs;
#   upload  certificate upload time as edgecert logs it (server side), and curl's time;
#   memory  edgecert's VmRSS / VmHWM after the list load;
#   edge    the edge against nginx: kept-alive proxied GETs and new TLS connections
#           (bench/edge.sh, also runnable alone).
# Every answer must be 2xx: one error or socket error fails the run, since a benchmark of
# error answers is meaningless. Nothing is judged on speed.
#
# Usage: bench/run.sh [--smoke]
#   --smoke  1 s rows (2 s for inline RSA), small fixtures, debug build (`cargo build`);
#            for CI: about 40 s after the build. A full run takes about 4 minutes.
# Progress goes to stderr; the report (markdown) is the only thing printed to stdout.
# Environment:
#   EDGECERT_BIN         binary to benchmark instead of building one
#   BENCH_PG_URL         PostgreSQL server (default postgres://postgres@127.0.0.1:5432); a
#                        database edgecert_bench_<pid> is created there and dropped at exit
#   BENCH_REPORT         also write the report to this file
#   BENCH_ALLOW_NO_POOL  1: when edgecert exposes no edgecert_rsa_pool_keys gauge, warn and
#                        run the burst on inline generation instead of failing
#   BENCH_POOL_TIMEOUT   seconds to wait for the RSA pool to fill (default 120)
#   BENCH_KEEP_WORK      1: keep the temporary directory (logs, wrk output) after the run

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
PY=(python3 "$BENCH_DIR/bench.py")

# Separate zones, so the create load never changes the list fixture's count.
ZONE_CREATE=be0c0000000000000000000000000001
ZONE_LIST=be0c0000000000000000000000000002
ZONE_UPLOAD=be0c0000000000000000000000000003
ZONE_BURST=be0c0000000000000000000000000004
LIST_PER_PAGE=50
STARTUP_TIMEOUT=60
# An edgecert without a key pool never shows the gauge; one with a pool shows it from the
# first scrape or soon after, so waiting longer than this for it to appear is pointless.
POOL_GAUGE_GRACE=15

PIDS=()
WORK=""
PG_DB=""
PG_ADMIN_URL=""
EC_PID="" EC_API="" EC_METRICS="" EC_LOG=""
# Extra VAR=value settings for the next start_edgecert only.
EC_EXTRA_ENV=()

log() { printf 'bench: %s\n' "$*" >&2; }
warn() { printf 'bench: WARNING: %s\n' "$*" >&2; }
die() {
    printf 'bench: ERROR: %s\n' "$*" >&2
    exit 1
}

configure() {
    MODE=full
    case "${1:-}" in
    "") ;;
    --smoke) MODE=smoke ;;
    -h | --help)
        sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *) die "unknown argument ${1} (usage: bench/run.sh [--smoke])" ;;
    esac
    # Smoke gives inline RSA 2 s: one RSA-2048 generation can take most of a second on a busy
    # CI machine, and a row in which no request completed fails.
    if [[ $MODE == smoke ]]; then
        CREATE_SECS=1 RSA_SECS=2 LIST_SECS=1 SEED_COUNT=2000 FAR_PAGE=20 UPLOADS=5 POOL_SIZE=8
    else
        CREATE_SECS=10 RSA_SECS=10 LIST_SECS=5 SEED_COUNT=100000 FAR_PAGE=2000 UPLOADS=40 POOL_SIZE=128
    fi
    POOL_TIMEOUT=${BENCH_POOL_TIMEOUT:-120}
    PG_SERVER_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
    PG_SERVER_URL=${PG_SERVER_URL%/}
}

require_tools() {
    local tool missing=()
    for tool in wrk cfssl curl openssl psql python3 awk; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    if [[ -z ${EDGECERT_BIN:-} ]] && ! command -v cargo >/dev/null; then
        missing+=(cargo)
    fi
    ((${#missing[@]} == 0)) || die "missing tools: ${missing[*]}"
}

# --- processes -------------------------------------------------------------------------------

# A zombie still answers kill -0, so the state letter is what tells whether it runs.
process_alive() {
    local state
    state=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

forget_pid() {
    local pid=$1 kept=() p
    for p in "${PIDS[@]}"; do
        [[ $p == "$pid" ]] || kept+=("$p")
    done
    PIDS=("${kept[@]}")
}

# Stops one process this script started and reaps it; its exit status goes to STOP_STATUS.
# Not run in $(...): a subshell can neither reap the process nor update PIDS.
stop_process() {
    local pid=$1 i
    STOP_STATUS=0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        process_alive "$pid" || break
        sleep 0.1
    done
    if process_alive "$pid"; then
        warn "process $pid still runs 15 s after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || STOP_STATUS=$?
    forget_pid "$pid"
}

free_port() { "${PY[@]}" free-port; }

# Polls URL until it answers with HTTP status WANT; fails at once, with the log, when the
# process died.
wait_until_answers() {
    local label=$1 url=$2 pid=$3 logfile=$4 want=$5 status start=$SECONDS
    while ((SECONDS - start < STARTUP_TIMEOUT)); do
        process_alive "$pid" ||
            die "$label exited during start-up; its log ends with:"$'\n'"$(tail -20 "$logfile")"
        status=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$url") || true
        [[ $status == "$want" ]] && return 0
        sleep 0.2
    done
    die "$label did not answer $url with $want within $STARTUP_TIMEOUT s; see $logfile"
}

start_cfssl() {
    local port
    port=$(free_port)
    CFSSL_ADDR=127.0.0.1:$port
    CFSSL_LOG=$WORK/cfssl.log
    cfssl serve -address 127.0.0.1 -port "$port" >"$CFSSL_LOG" 2>&1 &
    CFSSL_PID=$!
    PIDS+=("$CFSSL_PID")
    # cfssl has no health endpoint; without a CA only newkey and a few others are set up, and
    # a GET on newkey answers 405 once it listens.
    wait_until_answers cfssl "http://$CFSSL_ADDR/api/v1/cfssl/newkey" "$CFSSL_PID" "$CFSSL_LOG" 405
}

stop_cfssl() {
    # cfssl does not handle SIGTERM: it dies of it (143), which is its normal way to stop.
    stop_process "$CFSSL_PID"
}

# start_edgecert NAME DATABASE_URL RSA_POOL_SIZE: one edgecert with a clean environment, so
# an EDGECERT_* or RUST_LOG of the caller cannot change what is measured (or silence the
# request log the upload row reads).
start_edgecert() {
    local name=$1 database_url=$2 pool_size=$3 extra=()
    EC_API=127.0.0.1:$(free_port)
    EC_METRICS=127.0.0.1:$(free_port)
    while [[ $EC_METRICS == "$EC_API" ]]; do EC_METRICS=127.0.0.1:$(free_port); done
    EC_LOG=$WORK/edgecert-$name.log
    [[ $database_url == postgres* ]] && extra+=("EDGECERT_MASTER_KEY=$PG_MASTER_KEY")
    env -i PATH="$PATH" HOME="${HOME:-/tmp}" RUST_LOG=info EDGECERT_LOG_FORMAT=json \
        EDGECERT_LISTEN="$EC_API" EDGECERT_METRICS_LISTEN="$EC_METRICS" \
        DATABASE_URL="$database_url" EDGECERT_BOOTSTRAP_TOKEN="$TOKEN" \
        EDGECERT_TRUST_ROOTS="$WORK/ca/root.pem" EDGECERT_RSA_POOL_SIZE="$pool_size" \
        EDGECERT_SHUTDOWN_GRACE=5 "${extra[@]}" "${EC_EXTRA_ENV[@]}" \
        "$EDGECERT_BIN" serve >>"$EC_LOG" 2>&1 &
    EC_PID=$!
    PIDS+=("$EC_PID")
    wait_until_answers "edgecert ($name)" "http://$EC_API/readyz" "$EC_PID" "$EC_LOG" 200
    log "edgecert ($name) pid $EC_PID on $EC_API, metrics on $EC_METRICS"
}

stop_edgecert() {
    stop_process "$EC_PID"
    # README: SIGTERM drains and exits 0; anything else is a bug worth seeing.
    ((STOP_STATUS == 0)) || die "edgecert exited with status $STOP_STATUS on SIGTERM; see $EC_LOG"
}

# --- fixtures --------------------------------------------------------------------------------

# The same subject and SANs for both servers, so both build the same CSR; files are named by
# edgecert's key type.
edgecert_body() {
    printf '{"country":"US","state":"Texas","locality":"Austin","organization":"Example Inc","common_name":"example.com","sans":["example.com","www.example.com"],"key_type":"%s"}\n' "$1"
}

cfssl_body() {
    printf '{"hosts":["example.com","www.example.com"],"CN":"example.com","key":{"algo":"%s","size":%d},"names":[{"C":"US","ST":"Texas","L":"Austin","O":"Example Inc"}]}\n' "$1" "$2"
}

write_bodies() {
    BODIES=$WORK/bodies
    mkdir -p "$BODIES"
    edgecert_body p256v1 >"$BODIES/edgecert-p256v1.json"
    edgecert_body rsa2048 >"$BODIES/edgecert-rsa2048.json"
    cfssl_body ecdsa 256 >"$BODIES/cfssl-p256v1.json"
    cfssl_body rsa 2048 >"$BODIES/cfssl-rsa2048.json"
}

# A throwaway root that edgecert trusts through EDGECERT_TRUST_ROOTS. It signs the leaves
# directly, so an upload is the leaf alone.
make_ca() {
    local ca=$WORK/ca
    mkdir -p "$ca"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$ca/root.key" -out "$ca/root.pem" -days 30 \
        -subj "/O=edgecert bench/CN=edgecert bench root" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$ca/openssl.log" ||
        die "cannot make the test CA: $(cat "$ca/openssl.log")"
    printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature' \
        'extendedKeyUsage=serverAuth' 'subjectAltName=DNS:example.com,DNS:www.example.com' \
        >"$ca/leaf.ext"
}

sign_csr() {
    local csr=$1 out=$2 ca=$WORK/ca
    openssl x509 -req -in "$csr" -CA "$ca/root.pem" -CAkey "$ca/root.key" \
        -CAcreateserial -CAserial "$ca/root.srl" -days 90 -sha256 -extfile "$ca/leaf.ext" \
        -out "$out" 2>>"$ca/openssl.log" || die "cannot sign $csr: $(tail -5 "$ca/openssl.log")"
}

create_pg_database() {
    PG_ADMIN_URL=$PG_SERVER_URL/postgres
    psql -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" -c 'SELECT 1' >/dev/null 2>&1 ||
        die "PostgreSQL is not reachable at $PG_ADMIN_URL (set BENCH_PG_URL)"
    PG_DB=edgecert_bench_$$
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN_URL" \
        -c "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB" >/dev/null ||
        die "cannot create database $PG_DB"
    PG_DB_URL=$PG_SERVER_URL/$PG_DB
    PG_MASTER_KEY=$(openssl rand -base64 32)
}

# --- API calls -------------------------------------------------------------------------------

# api METHOD PATH OUT [BODY_FILE]: one edgecert call that must answer 2xx.
api() {
    local method=$1 path=$2 out=$3 body=${4:-} status
    local args=(-sS --max-time 60 -o "$out" -w '%{http_code}' -X "$method"
        -H "Authorization: Bearer $TOKEN")
    [[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "@$body")
    status=$(curl "${args[@]}" "http://$EC_API/client/v4/$path") ||
        die "curl $method $path failed"
    [[ $status == 2?? ]] || die "$method $path answered $status: $(head -c 500 "$out")"
}

json_field() { "${PY[@]}" json "$@"; }

# --- measurements ----------------------------------------------------------------------------

# run_wrk KIND ROW BACKEND TARGET SECONDS URL [METHOD BODY_FILE TOKEN]
run_wrk() {
    local kind=$1 row=$2 backend=$3 target=$4 secs=$5 url=$6
    local method=${7:-GET} body=${8:-} token=${9:-}
    local label="$target $kind $row ($backend)"
    local out=$WORK/wrk-${target}-${backend}-${kind}-${row//[^A-Za-z0-9]/_}.out
    BENCH_METHOD=$method BENCH_BODY_FILE=$body BENCH_TOKEN=$token \
        wrk -t2 -c2 -d"${secs}s" --timeout 30s --latency -s "$BENCH_DIR/request.lua" "$url" \
        >"$out" 2>&1 || die "wrk failed for $label: $(tail -5 "$out")"
    "${PY[@]}" wrk-result --output "$out" --label "$label" --kind "$kind" --row "$row" \
        --backend "$backend" --target "$target" --results "$RESULTS" >&2
}

bench_cfssl() {
    log "cfssl: P-256 ${CREATE_SECS} s, RSA-2048 ${RSA_SECS} s"
    start_cfssl
    local url=http://$CFSSL_ADDR/api/v1/cfssl/newkey
    run_wrk create P-256 none cfssl "$CREATE_SECS" "$url" POST "$BODIES/cfssl-p256v1.json"
    run_wrk create "RSA-2048 sustained" none cfssl "$RSA_SECS" "$url" POST \
        "$BODIES/cfssl-rsa2048.json"
    stop_cfssl
}

bench_creates() {
    local backend=$1 url=http://$EC_API/client/v4/zones/$ZONE_CREATE/custom_csrs
    run_wrk create P-256 "$backend" edgecert "$CREATE_SECS" "$url" POST \
        "$BODIES/edgecert-p256v1.json" "$TOKEN"
    run_wrk create "RSA-2048 sustained" "$backend" edgecert "$RSA_SECS" "$url" POST \
        "$BODIES/edgecert-rsa2048.json" "$TOKEN"
}

# The P-256 create row again on SQLite with synchronous=full (the WAL flushed to disk at every
# commit, which survives power loss) on a fresh database, beside the default synchronous=normal
# (flushed at checkpoints; survives a crash of edgecert, not of the machine).
bench_sqlite_full() {
    local url
    log "sqlite, synchronous=full: creates, P-256 ${CREATE_SECS} s"
    EC_EXTRA_ENV=(EDGECERT_SQLITE_SYNCHRONOUS=full)
    start_edgecert sqlite-full "sqlite://$WORK/sqlite-full/edgecert.db" 0
    EC_EXTRA_ENV=()
    url=http://$EC_API/client/v4/zones/$ZONE_CREATE/custom_csrs
    run_wrk create P-256 sqlite-full edgecert "$CREATE_SECS" "$url" POST \
        "$BODIES/edgecert-p256v1.json" "$TOKEN"
    stop_edgecert
}

# CSRs made through the API and signed by the test CA first, then uploaded back to back.
# Each upload carries an x-request-id, so its line in edgecert's request log (latency_ms,
# measured by edgecert itself) can be told from every other request's.
bench_uploads() {
    local backend=$1 dir=$WORK/uploads-$1 i id result client
    local url=http://$EC_API/client/v4/zones/$ZONE_UPLOAD/custom_certificates
    mkdir -p "$dir"
    for ((i = 1; i <= UPLOADS; i++)); do
        api POST "zones/$ZONE_UPLOAD/custom_csrs" "$dir/csr-$i.json" "$BODIES/edgecert-p256v1.json"
        id=$("${PY[@]}" csr-pem "$dir/csr-$i.json" "$dir/csr-$i.pem")
        sign_csr "$dir/csr-$i.pem" "$dir/cert-$i.pem"
        "${PY[@]}" upload-body "$dir/cert-$i.pem" "$id" >"$dir/upload-$i.json"
    done
    : >"$dir/client-seconds"
    for ((i = 1; i <= UPLOADS; i++)); do
        result=$(curl -sS --max-time 60 -o "$dir/uploaded-$i.json" \
            -w '%{http_code} %{time_total}' -H "Authorization: Bearer $TOKEN" \
            -H 'Content-Type: application/json' -H "x-request-id: bench-upload-$backend-$i" \
            --data-binary "@$dir/upload-$i.json" "$url") || die "curl upload $i failed"
        [[ ${result%% *} == 2?? ]] ||
            die "upload $i on $backend answered ${result%% *}: $(head -c 500 "$dir/uploaded-$i.json")"
        echo "${result#* }" >>"$dir/client-seconds"
    done
    client=$("${PY[@]}" samples "$dir/client-seconds")
    "${PY[@]}" log-latency --log "$EC_LOG" --prefix "bench-upload-$backend-" \
        --expect "$UPLOADS" --client "$client" --label "upload ($backend)" \
        --backend "$backend" --results "$RESULTS" >&2
}

# One CSR made through the API is the template the SQL copies: listing never reads the key,
# so copies of one key cost the list what distinct keys would.
seed_list_zone() {
    local backend=$1 out=$WORK/list-$1.json total count
    api POST "zones/$ZONE_LIST/custom_csrs" "$out" "$BODIES/edgecert-p256v1.json"
    case $backend in
    sqlite) "${PY[@]}" seed-sqlite --db "$SQLITE_DB" --zone "$ZONE_LIST" --count "$SEED_COUNT" ;;
    postgres) "${PY[@]}" seed-postgres --url "$PG_DB_URL" --zone "$ZONE_LIST" --count "$SEED_COUNT" ;;
    esac
    # per_page 5 is the API's minimum (1 is refused with 6008).
    api GET "zones/$ZONE_LIST/custom_csrs?per_page=5" "$out"
    total=$(json_field "$out" result_info.total_count)
    [[ $total == "$SEED_COUNT" ]] || die "list total_count is $total after seeding, expected $SEED_COUNT"
    api GET "zones/$ZONE_LIST/custom_csrs?page=$FAR_PAGE&per_page=$LIST_PER_PAGE" "$out"
    count=$(json_field "$out" result_info.count)
    [[ $count == "$LIST_PER_PAGE" ]] || die "page $FAR_PAGE holds $count CSRs, expected $LIST_PER_PAGE"
}

bench_lists() {
    local backend=$1 page base=http://$EC_API/client/v4/zones/$ZONE_LIST/custom_csrs
    log "$backend: seeding $SEED_COUNT CSRs"
    seed_list_zone "$backend"
    for page in 1 "$FAR_PAGE"; do
        run_wrk list "page $page" "$backend" edgecert "$LIST_SECS" \
            "$base?page=$page&per_page=$LIST_PER_PAGE" GET "" "$TOKEN"
    done
}

record_memory() {
    local backend=$1 rss hwm
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$EC_PID/status")
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$EC_PID/status")
    [[ -n $rss && -n $hwm ]] || die "cannot read memory of edgecert pid $EC_PID"
    "${PY[@]}" record --results "$RESULTS" \
        "{\"kind\":\"memory\",\"backend\":\"$backend\",\"rss_mb\":$((rss / 1024)).$((rss % 1024 * 10 / 1024)),\"hwm_mb\":$((hwm / 1024)).$((hwm % 1024 * 10 / 1024))}"
    log "  memory ($backend): VmRSS $((rss / 1024)) MB, VmHWM $((hwm / 1024)) MB"
}

# rsa_pool_keys ADDRESS: the edgecert_rsa_pool_keys gauge (summed over any labels), or
# nothing when the metrics do not have it.
rsa_pool_keys() {
    curl -fsS --max-time 5 "http://$1/metrics" 2>/dev/null |
        awk '$1 ~ /^edgecert_rsa_pool_keys(\{|$)/ {sum += $2; seen = 1} END {if (seen) print sum}'
}

# pool_claims ADDRESS RESULT: edgecert_rsa_pool_claims_total{result="RESULT"}, 0 if absent.
pool_claims() {
    curl -fsS --max-time 5 "http://$1/metrics" 2>/dev/null |
        awk -v series="edgecert_rsa_pool_claims_total{result=\"$2\"}" \
            '$1 == series {sum += $2} END {print sum + 0}'
}

# wait_for_rsa_pool ADDRESS WANT TIMEOUT: 0 once the pool holds WANT keys, 1 on timeout,
# 2 when the gauge never appeared (an edgecert without a pool).
wait_for_rsa_pool() {
    local address=$1 want=$2 timeout=$3 start=$SECONDS keys seen=0
    while ((SECONDS - start < timeout)); do
        keys=$(rsa_pool_keys "$address") || keys=""
        if [[ -n $keys ]]; then
            seen=1
            awk -v have="$keys" -v want="$want" 'BEGIN {exit !(have + 0 >= want + 0)}' && return 0
        elif ((!seen && SECONDS - start >= POOL_GAUGE_GRACE)); then
            return 2
        fi
        sleep 0.5
    done
    log "RSA pool holds ${keys:-no} keys after $timeout s, expected $want"
    return 1
}

bench_burst() {
    local backend=$1 database_url=$2 note="" waited=0 start=$SECONDS misses
    start_edgecert "$backend-burst" "$database_url" "$POOL_SIZE"
    wait_for_rsa_pool "$EC_METRICS" "$POOL_SIZE" "$POOL_TIMEOUT" || waited=$?
    case $waited in
    0) log "$backend: RSA pool full ($POOL_SIZE keys) after $((SECONDS - start)) s" ;;
    1) die "the RSA pool did not reach $POOL_SIZE keys within $POOL_TIMEOUT s (BENCH_POOL_TIMEOUT)" ;;
    *)
        [[ ${BENCH_ALLOW_NO_POOL:-} == 1 ]] ||
            die "edgecert exposes no edgecert_rsa_pool_keys gauge on http://$EC_METRICS/metrics: no RSA key pool to measure (BENCH_ALLOW_NO_POOL=1 runs the burst anyway)"
        warn "no edgecert_rsa_pool_keys gauge: the burst runs on inline RSA generation (BENCH_ALLOW_NO_POOL=1)"
        note="NO POOL: inline"
        ;;
    esac
    misses=$(pool_claims "$EC_METRICS" miss)
    "${PY[@]}" burst --address "$EC_API" --path "/client/v4/zones/$ZONE_BURST/custom_csrs" \
        --token "$TOKEN" --body-file "$BODIES/edgecert-rsa2048.json" \
        --requests $((POOL_SIZE / 2)) --connections 2 --label "RSA-2048 burst ($backend)" \
        --row "RSA-2048 burst" --backend "$backend" --note "$note" --results "$RESULTS" >&2
    # A full pool of N serves N/2 requests without one inline generation; a miss means the
    # row measured something else than it says.
    misses=$(($(pool_claims "$EC_METRICS" miss) - misses))
    if [[ -z $note ]] && ((misses > 0)); then
        die "$misses of $((POOL_SIZE / 2)) burst requests missed the full RSA pool"
    fi
    stop_edgecert
}

# Everything for one backend, one edgecert at a time: the main instance generates RSA keys
# inline for the sustained row; the burst needs a restart with a pool.
bench_backend() {
    local backend=$1 database_url=$2
    log "$backend: starting edgecert"
    start_edgecert "$backend" "$database_url" 0
    api GET "zones/$ZONE_CREATE/custom_csrs?per_page=5" "$WORK/auth-check.json"
    log "$backend: creates, P-256 ${CREATE_SECS} s, RSA-2048 ${RSA_SECS} s"
    bench_creates "$backend"
    log "$backend: $UPLOADS certificate uploads"
    bench_uploads "$backend"
    bench_lists "$backend"
    record_memory "$backend"
    stop_edgecert
    log "$backend: RSA burst of $((POOL_SIZE / 2)) with a pool of $POOL_SIZE"
    bench_burst "$backend" "$database_url"
}

# --- setup, report, cleanup ------------------------------------------------------------------

build_edgecert() {
    if [[ -n ${EDGECERT_BIN:-} ]]; then
        [[ -x $EDGECERT_BIN ]] || die "EDGECERT_BIN=$EDGECERT_BIN is not an executable"
        EDGECERT_BIN=$(cd "$(dirname "$EDGECERT_BIN")" && pwd)/$(basename "$EDGECERT_BIN")
        return
    fi
    local profile=release flags=(--release) target_dir
    [[ $MODE == smoke ]] && profile=debug flags=()
    log "cargo build${flags[*]:+ ${flags[*]}}"
    (cd "$REPO" && cargo build "${flags[@]}" >&2) || die "cargo build failed"
    target_dir=$(cd "$REPO" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    EDGECERT_BIN=$target_dir/$profile/edgecert
    [[ -x $EDGECERT_BIN ]] || die "no binary at $EDGECERT_BIN after cargo build"
}

edgecert_revision() {
    local rev
    rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null) || {
        echo unknown
        return
    }
    # The binary may include uncommitted edits; say so rather than claim the commit.
    [[ -z $(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null) ]] || rev+="-dirty"
    echo "$rev"
}

write_meta() {
    local cpu cfssl_version pg_version
    cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
    cfssl_version=$(cfssl version 2>/dev/null | awk '/^Version/ {print "cfssl " $2; exit}')
    pg_version=$(psql -X -At "$PG_ADMIN_URL" -c 'SHOW server_version' 2>/dev/null | awk '{print $1}')
    META_MODE=$MODE \
        META_NPROC=$(nproc) \
        META_CPU=${cpu:-unknown} \
        META_KERNEL="$(uname -sr)" \
        META_EDGECERT_REV=$(edgecert_revision) \
        META_EDGECERT_BIN=$BENCHED_BIN \
        META_CFSSL_VERSION=${cfssl_version:-cfssl ?} \
        META_PG_VERSION=${pg_version:-?} \
        META_CREATE_SECS=$CREATE_SECS \
        META_RSA_SECS=$RSA_SECS \
        META_LIST_SECS=$LIST_SECS \
        META_SEEDED=$SEED_COUNT \
        META_UPLOADS=$UPLOADS \
        META_FAR_PAGE=$FAR_PAGE \
        META_POOL_SIZE=$POOL_SIZE \
        python3 - >"$WORK/meta.json" <<'EOF'
import json, os
meta = {k[5:].lower(): v for k, v in os.environ.items() if k.startswith("META_")}
meta["list_rows"] = ["page 1", "page " + meta.pop("far_page")]
print(json.dumps(meta))
EOF
}

cleanup() {
    local status=$? pid logfile
    trap - EXIT INT TERM
    set +e
    for pid in "${PIDS[@]}"; do
        stop_process "$pid"
    done
    if [[ -n $PG_DB ]]; then
        psql -X -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null ||
            warn "could not drop database $PG_DB"
    fi
    if ((status != 0)) && [[ -n $WORK && -d $WORK ]]; then
        for logfile in "$WORK"/*.log; do
            [[ -s $logfile ]] || continue
            printf '\n--- last lines of %s ---\n' "$(basename "$logfile")" >&2
            tail -15 "$logfile" >&2
        done
    fi
    if [[ -n $WORK ]]; then
        if [[ ${BENCH_KEEP_WORK:-} == 1 ]]; then
            log "kept $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$status"
}

main() {
    configure "$@"
    require_tools
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    local started=$SECONDS
    build_edgecert
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/edgecert-bench.XXXXXX")
    # A copy, so a rebuild in the tree during the run cannot swap the binary between restarts.
    cp "$EDGECERT_BIN" "$WORK/edgecert"
    BENCHED_BIN=$EDGECERT_BIN
    EDGECERT_BIN=$WORK/edgecert
    RESULTS=$WORK/results.jsonl
    TOKEN=bench-$(openssl rand -hex 24)
    SQLITE_DB=$WORK/sqlite/edgecert.db
    : >"$RESULTS"
    log "$MODE run, edgecert $BENCHED_BIN, work dir $WORK"
    create_pg_database
    write_bodies
    make_ca
    write_meta

    bench_cfssl
    bench_backend sqlite "sqlite://$SQLITE_DB"
    bench_sqlite_full
    bench_backend postgres "$PG_DB_URL"

    log "done in $((SECONDS - started)) s"
    "${PY[@]}" report --results "$RESULTS" --meta "$WORK/meta.json" --out "${BENCH_REPORT:-}"

    # The edge against nginx (bench/edge.sh), on the same binary, after the rows above.
    local edge_flags=()
    [[ $MODE == smoke ]] && edge_flags=(--smoke)
    printf '\n'
    EDGECERT_BIN=$EDGECERT_BIN bash "$BENCH_DIR/edge.sh" "${edge_flags[@]}" |
        tee -a "${BENCH_REPORT:-/dev/null}"
}

main "$@"
