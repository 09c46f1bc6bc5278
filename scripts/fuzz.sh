#!/usr/bin/env bash
# Runs the libFuzzer targets built in $FUZZ_BUILD_DIR/fuzz (make fuzz-build) one after the other, FUZZ_SECONDS each
# (default 60), seeded with tests/fuzz/corpus/<target> (read only) and a scratch corpus under $FUZZ_BUILD_DIR/corpus
# that receives the new inputs. Prints one line per target (executions, exec/s, cov, ft, corpus, result); crash,
# leak and sanitizer inputs land in $FUZZ_BUILD_DIR/artifacts/, full logs in $FUZZ_BUILD_DIR/logs/.
# FUZZ_TARGETS="router config" limits the run. Exits non-zero when any target found something, and then prints the
# finding (the violated invariant or sanitizer summary and the input in base64), since CI keeps only the console.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${FUZZ_BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-$(ls "$build"/fuzz/ | sed -n 's/^fuzz_//p' | sort)}
mkdir -p "$build/artifacts" "$build/logs"
failed=0
printf '%-16s %12s %9s %6s %7s %14s  %s\n' target executions exec/s cov ft corpus result
for t in $targets; do
    bin=$build/fuzz/fuzz_$t
    scratch=$build/corpus/$t
    log=$build/logs/$t.log
    mkdir -p "$scratch"
    args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$build/artifacts/$t-")
    [ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
    result=ok
    "$bin" "${args[@]}" "$scratch" "tests/fuzz/corpus/$t" >"$log" 2>&1 || { result="FAILED (see $log)"; failed=1; }
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
    printf '%-16s %12s %9s %6s %7s %14s  %s\n' "$t" "${execs:--}" "${rate:--}" "${cov:--}" "${ft:--}" "${corp:--}" "$result"
    # CI keeps only the console: show what was found (the violated invariant or sanitizer report, and the input)
    [ "$result" = ok ] || grep -E 'invariant violated|ERROR: |SUMMARY: |^Base64: |Test unit written' "$log" | sed 's/^/    /' | head -20
done
exit $failed
