#!/usr/bin/env bash
# Runs test binaries one after another; prints a summary; fails if any failed.
#   scripts/run-tests.sh LABEL BIN...
set -uo pipefail
label=$1; shift
passed=0; failed=0; failed_names=()
for bin in "$@"; do
    echo "== $label: $(basename "$bin")"
    if "$bin"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1)); failed_names+=("$(basename "$bin")")
    fi
done
echo "$label: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || { echo "$label: failed: ${failed_names[*]}" >&2; exit 1; }
