# shellcheck shell=bash
# Sourced by tests/sdk/*/run.sh: a real ACME CA on loopback for edgecert's managed
# certificates, set up as tests/api/managed_certs.rs does. Pebble validates HTTP-01 by
# fetching the token from edgecert's edge HTTP listener; pebble-challtestsrv is its DNS server
# and answers every name with 127.0.0.1, so every hostname a test creates resolves to edgecert.
#
#   acme_prepare DIR          check the tools (fail loudly), write Pebble's TLS files, start
#                             pebble-challtestsrv and pick Pebble's ports. Sets ACME_DIRECTORY
#                             and ACME_CA_BUNDLE, which edgecert needs at its start.
#   acme_start_pebble PORT    start Pebble, validating HTTP-01 on PORT (edgecert's edge HTTP
#                             port, known once edgecert is up). Sets ACME_ROOT (Pebble's
#                             issuing root, PEM) and ACME_DNS_MANAGEMENT (challtestsrv's API).
#   acme_stop                 stop both, by pid. Call it from the EXIT trap.
#
# Pebble and challtestsrv take their addresses on the command line and print no bound port,
# so theirs are picked free here; edgecert binds port 0 itself and logs what it got.

acme_pids=()
acme_dir=""

acme_die() {
    echo "run.sh: $*" >&2
    exit 2
}

# A loopback port free right now for TCP (and, with `udp`, for UDP on the same number).
acme_free_port() {
    python3 - "${1:-tcp}" <<'PY'
import socket, sys
while True:
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    port = tcp.getsockname()[1]
    if sys.argv[1] != "udp":
        break
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        udp.bind(("127.0.0.1", port))
        break
    except OSError:
        tcp.close()
    finally:
        udp.close()
print(port)
PY
}

# Waits up to 30 s for LOG to contain TEXT and PORT to accept connections; fails loudly with
# the log if the process PID exits first. Waits on the log and the port, checked every 50 ms.
acme_wait_ready() {
    local name="$1" pid="$2" log="$3" text="$4" port="$5"
    local deadline=$((SECONDS + 30))
    until grep -q "$text" "$log" 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$log" >&2
            acme_die "$name exited before it was ready"
        fi
        if ((SECONDS >= deadline)); then
            cat "$log" >&2
            acme_die "$name was not ready within 30 s"
        fi
        sleep 0.05
    done
}

acme_prepare() {
    acme_dir="$1/acme"
    mkdir -p "$acme_dir"
    local tool
    for tool in pebble pebble-challtestsrv openssl curl python3; do
        command -v "$tool" >/dev/null 2>&1 ||
            acme_die "'$tool' is required for the managed certificate tests (Debian: apt-get install pebble curl openssl python3)"
    done

    # Pebble ships no TLS certificate usable outside its source tree: a throwaway CA and a
    # leaf for 127.0.0.1. edgecert trusts the CA through --acme-ca-bundle.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 7 \
        -keyout "$acme_dir/tls-ca.key" -out "$acme_dir/tls-ca.pem" \
        -subj "/CN=edgecert SDK Pebble TLS CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$acme_dir/pebble-tls.key" -out "$acme_dir/pebble-tls.csr" -subj "/CN=127.0.0.1" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
        >"$acme_dir/pebble-tls.ext"
    openssl x509 -req -in "$acme_dir/pebble-tls.csr" -CA "$acme_dir/tls-ca.pem" \
        -CAkey "$acme_dir/tls-ca.key" -set_serial "0x$(openssl rand -hex 8)" -days 7 -sha256 \
        -extfile "$acme_dir/pebble-tls.ext" -out "$acme_dir/pebble-tls.pem" 2>/dev/null

    local dns management
    dns="$(acme_free_port udp)"
    management="$(acme_free_port)"
    # DNS only: every A query is 127.0.0.1 (until a test says otherwise), no AAAA answers, and
    # none of its own challenge servers (edgecert answers the challenges).
    pebble-challtestsrv -dns01 "127.0.0.1:$dns" -management "127.0.0.1:$management" \
        -http01 "" -https01 "" -tlsalpn01 "" -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
        >"$acme_dir/challtestsrv.log" 2>&1 &
    acme_pids+=("$!")
    acme_wait_ready pebble-challtestsrv "$!" "$acme_dir/challtestsrv.log" \
        "Starting management server" "$management"
    ACME_DNS="127.0.0.1:$dns"
    ACME_DNS_MANAGEMENT="http://127.0.0.1:$management"

    acme_listen="$(acme_free_port)"
    acme_management="$(acme_free_port)"
    ACME_DIRECTORY="https://127.0.0.1:$acme_listen/dir"
    ACME_CA_BUNDLE="$acme_dir/tls-ca.pem"
}

acme_start_pebble() {
    local http_port="$1"
    # Let's Encrypt's 90 days rather than Pebble's five years, so expiry and renewal look real.
    cat >"$acme_dir/pebble-config.json" <<JSON
{"pebble": {
  "listenAddress": "127.0.0.1:$acme_listen",
  "managementListenAddress": "127.0.0.1:$acme_management",
  "certificate": "$acme_dir/pebble-tls.pem",
  "privateKey": "$acme_dir/pebble-tls.key",
  "httpPort": $http_port,
  "tlsPort": $(acme_free_port),
  "ocspResponderURL": "",
  "externalAccountBindingRequired": false,
  "certificateValidityPeriod": 7776000
}}
JSON
    # The caller's PEBBLE_* settings would change what Pebble does. No artificial delays, no
    # spurious badNonce, and every order validated afresh.
    local name
    for name in $(compgen -e | grep '^PEBBLE_' || true); do
        unset "$name"
    done
    (cd "$acme_dir" && PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
        exec pebble -config "$acme_dir/pebble-config.json" -dnsserver "$ACME_DNS") \
        >"$acme_dir/pebble.log" 2>&1 &
    acme_pids+=("$!")
    acme_wait_ready pebble "$!" "$acme_dir/pebble.log" "ACME directory available at" "$acme_listen"
    acme_wait_ready pebble "${acme_pids[-1]}" "$acme_dir/pebble.log" "ACME directory available at" "$acme_management"
    ACME_ROOT="$acme_dir/pebble-root.pem"
    curl --silent --show-error --fail --noproxy '*' --max-time 30 --cacert "$ACME_CA_BUNDLE" \
        "https://127.0.0.1:$acme_management/roots/0" >"$ACME_ROOT" ||
        acme_die "cannot fetch Pebble's root from its management port"
    grep -q "BEGIN CERTIFICATE" "$ACME_ROOT" || acme_die "Pebble's root is not a PEM certificate"
}

# Pebble's log, for a failing run's diagnostics.
acme_log_tail() {
    [[ -n "$acme_dir" && -f "$acme_dir/pebble.log" ]] || return 0
    echo "---- pebble log (last 20 lines) ----" >&2
    tail -n 20 "$acme_dir/pebble.log" >&2 || true
}

acme_stop() {
    local pid
    for pid in "${acme_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${acme_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    acme_pids=()
}
