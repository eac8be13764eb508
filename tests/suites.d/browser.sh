#!/usr/bin/env bash
# Browser suite: node's test runner over tests/browser/*.test.js (playwright-core
# driving /usr/bin/chromium against a real fastwsd at $BUILD/fastwsd).
# Last line, exactly: "browser: N passed, N failed"; exit 1 if any failed.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export BUILD
dir=tests/browser
SUITE_TIMEOUT=${BROWSER_SUITE_TIMEOUT:-110}   # seconds for the whole suite

result() { echo "browser: $1 passed, $2 failed"; [ "$2" -eq 0 ]; exit $?; }

for need in node npm /usr/bin/chromium "$BUILD/fastwsd"; do
  if ! command -v "$need" >/dev/null 2>&1 && [ ! -x "$need" ]; then
    echo "FAIL browser: $need not found (make deps; make)"
    result 0 1
  fi
done

if [ ! -d "$dir/node_modules" ]; then
  if ! PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$dir" --no-audit --no-fund; then
    echo "FAIL browser: npm ci --prefix $dir failed"
    result 0 1
  fi
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
# TAP so the summary is machine-readable; one file at a time (each starts its own
# fastwsd and Chromium, and the machine may have 2 cores).
timeout -k 5 "$SUITE_TIMEOUT" node --test --test-reporter=tap --test-concurrency=1 "$dir/" >"$out" 2>&1
rc=$?
cat "$out"
pass=$(grep -E '^# pass [0-9]+' "$out" | tail -n 1 | awk '{print $3}')
fail=$(grep -E '^# fail [0-9]+' "$out" | tail -n 1 | awk '{print $3}')
pass=${pass:-0}
fail=${fail:-0}
cancelled=$(grep -E '^# cancelled [0-9]+' "$out" | tail -n 1 | awk '{print $3}')
fail=$((fail + ${cancelled:-0}))   # a test cancelled (hook failed, timed out) did not pass
grep -E '^ *not ok ' "$out" | sed -E 's/^ *not ok [0-9]+ - /FAIL /'
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "FAIL browser: suite timed out after ${SUITE_TIMEOUT}s"
  fail=$((fail + 1))
elif [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
  echo "FAIL browser: node --test exited $rc"
  fail=1
fi
result "$pass" "$fail"
