#!/usr/bin/env bash
# Coverage-guided fuzzing of edgecert's parsers with cargo fuzz (libFuzzer), bounded in time.
# Each target starts from its seed corpus in fuzz/corpus/<target> and runs for FUZZ_SECONDS
# (default 60); any crash, failed invariant, timeout or out-of-memory fails the run, and the
# input that did it is kept under fuzz/artifacts/<target>/ with the command that replays it.
#
#   bash fuzz/run.sh                      every target, 60 s each
#   FUZZ_SECONDS=10 bash fuzz/run.sh csr_fields
#
# Runs on the stable toolchain: `--sanitizer none` drops AddressSanitizer, which needs nightly's
# -Zsanitizer (edgecert forbids unsafe code, so libFuzzer's coverage and the debug assertions
# cargo fuzz turns on are what matter). New inputs the fuzzer finds go to a scratch corpus,
# so the committed seeds only change by hand (see README.md, "Fuzzing").
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# The version this script was written against; CI installs it when cargo fuzz is missing.
CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13.2}"
seconds="${FUZZ_SECONDS:-60}"
# Builds for libFuzzer share nothing with the main build (other flags, another target triple).
target_dir="${CARGO_TARGET_DIR:-$here/target}"

if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck disable=SC1091
    source "$HOME/.cargo/env"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
cargo fuzz --version

if (($# > 0)); then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi
((${#targets[@]} > 0)) || {
    echo "fuzz: no targets" >&2
    exit 1
}

cargo fmt --manifest-path Cargo.toml --check

# One build for every target; `cargo fuzz run` below then only links what is already built.
cargo fuzz build --sanitizer none --debug-assertions --target-dir "$target_dir"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/edgecert-cargo-fuzz.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
summary=()
for target in "${targets[@]}"; do
    [[ -d "corpus/$target" ]] || {
        echo "fuzz: no seed corpus at fuzz/corpus/$target" >&2
        exit 1
    }
    mkdir -p "$scratch/$target" "artifacts/$target"
    log="$scratch/$target.log"
    echo "==> fuzz: $target for ${seconds}s"
    # The scratch corpus comes first: libFuzzer writes what it finds into the first directory.
    # -timeout: one input taking 10 s is a finding (a request that slow pins a worker).
    status=0
    cargo fuzz run --sanitizer none --debug-assertions --target-dir "$target_dir" \
        "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" || true
    if [[ "$status" -ne 0 ]]; then
        tail -n 60 "$log" >&2
        echo "fuzz: FAILED: $target (exit $status); the input is under fuzz/artifacts/$target/" >&2
        exit 1
    fi
    done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)"
    summary+=("$target: ${done_line:-no DONE line}")
done

echo "==> fuzz: every target ran ${seconds}s without a finding"
printf '  %s\n' "${summary[@]}"
