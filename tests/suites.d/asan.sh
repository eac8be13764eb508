#!/usr/bin/env bash
# The integration suite against an ASan + UBSan build of the daemon
# (tests/mk/asan.mk: build-asan/fastwsd).
#
# Every test's daemon log is kept (FASTWSD_KEEP_TMP, in a private TMPDIR:
# tests/integration/harness.py writes <TMPDIR>/fastwsd-it-*/fastwsd.log) and
# scanned for sanitizer reports: a report anywhere adds one failure, even
# when the test that caused it passed. Logs with a report are copied to
# build-asan/sanitizer-logs/; the rest is deleted.
# Last line: "asan: N passed, N failed" (the integration counts, + 1 failure
# if any sanitizer report was found).
set -u
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
ASAN_BIN=build-asan/fastwsd
OUT=build-asan/sanitizer-logs

if ! make -s asan >/tmp/fastwsd-asan-build.$$ 2>&1; then
  echo "asan: build failed"
  tail -n 30 /tmp/fastwsd-asan-build.$$
  rm -f /tmp/fastwsd-asan-build.$$
  echo "asan: 0 passed, 1 failed"
  exit 1
fi
rm -f /tmp/fastwsd-asan-build.$$

if [ ! -f tests/integration/run.py ]; then
  echo "asan: tests/integration/run.py not found; built $ASAN_BIN only"
  echo "asan: 0 passed, 1 failed"
  exit 1
fi

tmp=$(mktemp -d /tmp/fastwsd-asan.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/run.out

# abort_on_error: a report kills the daemon with SIGABRT, which the harness
# notices; halt_on_error: UBSan's first finding is fatal too.
# FASTWSD_SANITIZED tells tests that measure RSS or timing that ASan's
# shadow memory and quarantine make those numbers meaningless.
TMPDIR=$tmp FASTWSD_KEEP_TMP=1 FASTWSD=$ASAN_BIN FASTWSD_SANITIZED=asan \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS=${LSAN_OPTIONS:-} \
  FASTWSD_TEST_TIMEOUT=${FASTWSD_TEST_TIMEOUT:-60} \
  $PY tests/integration/run.py "$@" >"$out" 2>&1
rc=$?

# The run's own output, without its final count line (ours replaces it).
grep -Ev '^integration: [0-9]+ passed' "$out"

last=$(grep -E '^integration: [0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
if [ -z "$last" ]; then
  echo "asan: the integration run printed no result line (exit $rc)"
  p=0
  f=1
else
  p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$last")
  f=$(sed -E 's/.*passed, ([0-9]+) failed.*/\1/' <<<"$last")
fi

MARKERS='ERROR: AddressSanitizer|ERROR: LeakSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer'
logs=0
bad=()
for log in "$tmp"/fastwsd-it-*/fastwsd.log; do
  [ -f "$log" ] || continue
  logs=$((logs + 1))
  if grep -Eq "$MARKERS" "$log"; then
    bad+=("$log")
  fi
done
echo "asan: scanned $logs daemon logs"
if [ ${#bad[@]} -gt 0 ]; then
  rm -rf "$OUT"
  mkdir -p "$OUT"
  echo "FAIL asan: sanitizer reports in ${#bad[@]} daemon log(s), copied to $OUT/:"
  for log in "${bad[@]}"; do
    name=$(basename "$(dirname "$log")").log
    cp "$log" "$OUT/$name"
    echo "--- $OUT/$name"
    grep -E -A 12 "$MARKERS" "$log" | head -n 40
  done
  f=$((f + 1))
elif [ "$logs" -eq 0 ] && [ "$p" -gt 0 ]; then
  # The harness no longer keeps logs where we look: say so loudly.
  echo "FAIL asan: no daemon logs found under $tmp (harness layout changed?)"
  f=$((f + 1))
fi

if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
  echo "FAIL asan: the integration run exited $rc"
  f=1
fi
echo "asan: $p passed, $f failed"
[ "$f" -eq 0 ]
