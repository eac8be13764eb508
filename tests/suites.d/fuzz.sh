#!/usr/bin/env bash
# Fuzz smoke test: builds the libFuzzer targets (tests/mk/fuzz.mk), and for each
# one replays every regression input and every corpus file, then fuzzes it
# for FUZZ_SMOKE_SECONDS (default 20), two targets at a time.
# A target passes when nothing crashed, leaked or timed out.
# Last line: "fuzz: N passed, N failed" (one count per target).
set -u
cd "$(dirname "$0")/../.."

TARGETS=(frame http tokens message cluster proxy)
SECONDS_EACH=${FUZZ_SMOKE_SECONDS:-20}
JOBS=${FUZZ_JOBS:-2}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
LOGS=$FUZZ_BUILD/logs
passed=0
failed=0

if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz: clang not found (apt-get install clang libclang-rt-14-dev)"
  echo "fuzz: 0 passed, ${#TARGETS[@]} failed"
  exit 1
fi

mkdir -p "$LOGS"
if ! make -s fuzz-build FUZZ_BUILD="$FUZZ_BUILD" >"$LOGS/build.log" 2>&1; then
  echo "fuzz: build failed; see $LOGS/build.log"
  tail -n 30 "$LOGS/build.log"
  echo "fuzz: 0 passed, ${#TARGETS[@]} failed"
  exit 1
fi

# Sanitizer or libFuzzer reports that mean the run found something, even
# if an exit code were lost on the way.
BAD='ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|runtime error:|invariant failed|SUMMARY: (libFuzzer|AddressSanitizer|UndefinedBehaviorSanitizer)'

report() {
  local t=$1 rc=$2 log=$LOGS/$1.log
  if [ "$rc" -eq 0 ] && ! grep -Eq "$BAD" "$log"; then
    local cov eps
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
    eps=$(grep -Eo 'average_exec_per_sec: +[0-9]+' "$log" | tail -n 1 | grep -Eo '[0-9]+$')
    echo "fuzz $t: ok (${cov:-no stats}, ${eps:-?} exec/s)"
    passed=$((passed + 1))
  else
    echo "FAIL fuzz $t (exit $rc); log $log, inputs in $FUZZ_BUILD/artifacts/$t/"
    grep -E "$BAD|^Running: |Test unit written" "$log" | head -n 20
    failed=$((failed + 1))
  fi
}

i=0
while [ $i -lt ${#TARGETS[@]} ]; do
  pids=()
  batch=()
  for ((j = 0; j < JOBS && i < ${#TARGETS[@]}; j++, i++)); do
    t=${TARGETS[$i]}
    make -s "fuzz-smoke-$t" FUZZ_BUILD="$FUZZ_BUILD" FUZZ_SMOKE_SECONDS="$SECONDS_EACH" \
      >"$LOGS/$t.log" 2>&1 &
    pids+=($!)
    batch+=("$t")
  done
  for ((j = 0; j < ${#pids[@]}; j++)); do
    wait "${pids[$j]}"
    report "${batch[$j]}" $?
  done
done

echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
