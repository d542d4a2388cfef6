#!/usr/bin/env bash
# Runs libFuzzer targets one after another, each for SECONDS over its seed
# corpus (tests/fuzz/corpus/NAME, in git) and what earlier runs found
# (BUILD/corpus/NAME, not in git: new entries go there). A crash, a leak or
# a broken invariant fails the run; its input is kept in BUILD/artifacts/.
# Prints one line per target and a summary.
#   scripts/run-fuzz.sh BUILD SECONDS NAME...
set -uo pipefail
build=$1; seconds=$2; shift 2
cd "$(dirname "$0")/.."
mkdir -p "$build/artifacts" "$build/logs"
passed=0; failed=0; failed_names=()
printf '%-18s %8s %10s %8s %6s  %s\n' target seconds execs exec/s cov result
for name in "$@"; do
    bin=$build/fuzz_$name seeds=tests/fuzz/corpus/$name found=$build/corpus/$name
    log=$build/logs/$name.log
    mkdir -p "$found" "$seeds"
    dict=(); [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
    start=$(date +%s)
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$build/artifacts/$name-" "${dict[@]}" \
        "$found" "$seeds" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    if [ "$rc" -eq 0 ]; then
        result=ok; passed=$((passed + 1))
    else
        result="FAILED (rc $rc, log $log)"; failed=$((failed + 1)); failed_names+=("$name")
    fi
    printf '%-18s %8s %10s %8s %6s  %s\n' "$name" "$(( $(date +%s) - start ))" "${execs:-?}" \
        "${speed:-?}" "${cov:-?}" "$result"
    if [ "$rc" -ne 0 ]; then
        grep -E 'ERROR|invariant|SUMMARY|Test unit written' "$log" | head -20 >&2
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || { echo "fuzz: failed: ${failed_names[*]}" >&2; exit 1; }
