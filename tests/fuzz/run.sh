#!/bin/bash
# Runs Brook's libFuzzer targets (docs/fuzzing.md): what `make fuzz` (the CMake target "fuzz")
# calls.
#   tests/fuzz/run.sh BIN_DIR SRC_DIR OUT_DIR TARGET...
# Environment:
#   FUZZ_SECONDS  how long each target runs (default 60)
#   FUZZ_JOBS     how many targets run at once (default: the number of cores)
#   FUZZ_MERGE=1  afterwards, merge what the runs found (minimised: -merge=1) into the repo
#                 corpus SRC_DIR/corpus/<target>; otherwise the repo is left as it is
#   FUZZ_ARGS     more libFuzzer flags for every target
# Each target reads SRC_DIR/corpus/<target> and writes new inputs to OUT_DIR/corpus/<target>,
# crashes to OUT_DIR/artifacts/<target>/, its log to OUT_DIR/<target>.log. Prints per target
# the executions, libFuzzer's coverage (cov: edges, ft: features), the corpus and crashes.
# Fails when any target found a crash, leak or timeout.
set -u
BIN=$1
SRC=$2
OUT=$3
shift 3
SECONDS_EACH=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
mkdir -p "$OUT"

run_one() {
    t=$1
    mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t"
    rm -f "$OUT/artifacts/$t"/* 2>/dev/null
    extra=""
    [ -f "$SRC/$t.options" ] && extra=$(cat "$SRC/$t.options")
    [ -f "$SRC/$t.dict" ] && extra="$extra -dict=$SRC/$t.dict"
    # shellcheck disable=SC2086 # the options are words
    "$BIN/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$OUT/artifacts/$t/" $extra ${FUZZ_ARGS:-} \
        "$OUT/corpus/$t" "$SRC/corpus/$t" >"$OUT/$t.log" 2>&1
    echo $? >"$OUT/$t.rc"
}

echo "fuzz: $# targets, ${SECONDS_EACH} s each, $JOBS at a time; output in $OUT"
running=0
for t in "$@"; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n 2>/dev/null || wait
        running=$((running - 1))
    fi
done
wait

failed=0
printf '%-20s %12s %8s %8s %10s %8s  %s\n' target executions cov ft corpus exec/s result
for t in "$@"; do
    log="$OUT/$t.log"
    rc=$(cat "$OUT/$t.rc" 2>/dev/null || echo 1)
    # The last status line: "#N DONE cov: C ft: F corp: U/S ... exec/s: E ..." (-fork=1:
    # "#N: cov: C ft: F corp: U exec/s E ...", counted over all its jobs)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    execs=$(echo "$last" | sed -n 's/^#\([0-9]*\).*/\1/p')
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([^ ]*\).*/\1/p')
    eps=$(echo "$last" | sed -n 's/.* exec\/s:\{0,1\} \([0-9]*\).*/\1/p')
    found=$(ls "$OUT/artifacts/$t" 2>/dev/null | tr '\n' ' ')
    if [ "$rc" = 0 ] && [ -z "$found" ]; then
        result=ok
    else
        result="FAILED (exit $rc) $found"
        failed=1
    fi
    printf '%-20s %12s %8s %8s %10s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
        "${corp:-?}" "${eps:-?}" "$result"
done

if [ "${FUZZ_MERGE:-0}" = 1 ]; then
    for t in "$@"; do
        mkdir -p "$SRC/corpus/$t"
        "$BIN/$t" -merge=1 "$SRC/corpus/$t" "$OUT/corpus/$t" >"$OUT/$t.merge.log" 2>&1 &&
            echo "fuzz: $t: merged into $SRC/corpus/$t ($(ls "$SRC/corpus/$t" | wc -l) files)"
    done
fi
[ "$failed" = 0 ] || echo "fuzz: failures: see $OUT/<target>.log and $OUT/artifacts/"
exit "$failed"
