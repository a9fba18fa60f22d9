#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time from the committed seed
# corpus (fuzz/corpus/TARGET). What CI calls; also the way to fuzz locally.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# New inputs the fuzzer finds go to fuzz/corpus-found/ (ignored by git), so
# the committed corpus only changes by hand. A crash stops the run with a
# non-zero status; its input is in fuzz/artifacts/TARGET/, and
#   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...
# replays it. A crash found becomes a regression case in tests/regressions.rs.
#
# Toolchain: cargo-fuzz wants nightly (AddressSanitizer). Where only the
# stable toolchain exists (nightly cannot be fetched on a new machine), the
# targets are built without a sanitizer on stable: safe Rust needs none to
# find panics, which is what these targets look for.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-60}"
shift || true

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz (a few minutes, once per machine)"
    cargo install cargo-fuzz --locked
fi

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
    flags=(--sanitizer address --debug-assertions)
else
    echo "fuzz/run.sh: no nightly toolchain: building on stable without a sanitizer"
    toolchain=()
    # Without a sanitizer cargo-fuzz needs nothing unstable.
    flags=(--sanitizer none --debug-assertions)
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
fi

start=$(date +%s)
cargo "${toolchain[@]}" fuzz build "${flags[@]}"
echo "fuzz/run.sh: built ${targets[*]} in $(( $(date +%s) - start )) s"

for target in "${targets[@]}"; do
    mkdir -p "corpus-found/$target" "corpus/$target"
    echo "fuzz/run.sh: $target for ${seconds} s"
    # -rss_limit_mb: a 2-core, 24 GiB CI machine; -timeout: one input taking
    # 10 s is a hang worth reporting; -max_len: the seeds reach ~30 KB.
    log="corpus-found/$target.log"
    extra=(-max_len=65536)
    if [ "$target" = validate_structured ]; then
        # `arbitrary` turns bytes into a request model: without length
        # control libFuzzer feeds it whole models from the start, instead of
        # growing inputs from a few bytes over minutes.
        extra=(-max_len=4096 -len_control=0)
    fi
    if ! cargo "${toolchain[@]}" fuzz run "${flags[@]}" "$target" \
        "corpus-found/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10 "${extra[@]}" \
        -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "fuzz/run.sh: $target FAILED: the input is in fuzz/artifacts/$target/, the log in fuzz/$log" >&2
        exit 1
    fi
    grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
done
echo "fuzz/run.sh: ${#targets[@]} targets ran ${seconds} s each without a crash"
