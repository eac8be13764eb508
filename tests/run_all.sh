#!/usr/bin/env bash
# Runs every test suite and ends with one line: "N passed, N failed".
# Each suite reports its own counts; a suite that crashes before reporting
# counts as one failure.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PY=/usr/bin/python3   # Debian's Python: python3-websockets lives there
passed=0
failed=0
log_dir=$BUILD/test-logs
mkdir -p "$log_dir"

add() { passed=$((passed + $1)); failed=$((failed + $2)); }

run_unit() {
  local bin=$1 name out p f
  name=$(basename "$bin")
  out=$(CMOCKA_MESSAGE_OUTPUT=TAP "$bin" 2>&1)
  local rc=$?
  p=$(grep -c '^ok ' <<<"$out")
  f=$(grep -c '^not ok ' <<<"$out")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  echo "unit $name: $p passed, $f failed"
  [ "$f" -gt 0 ] && grep -E '^not ok|^#' <<<"$out" | head -40
  add "$p" "$f"
}

for bin in "$BUILD"/tests/test_*; do
  [ -x "$bin" ] && run_unit "$bin"
done

# Integration: the real daemon on loopback, driven by raw sockets and websockets.
run_py_suite() {
  local label=$1; shift
  local out_file=$log_dir/$label.log last p f
  "$@" >"$out_file" 2>&1
  local rc=$?
  last=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$out_file" | tail -n 1)
  if [ -z "$last" ]; then
    echo "$label: no result line (exit $rc); see $out_file"
    tail -n 30 "$out_file"
    add 0 1
    return
  fi
  p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$last")
  f=$(sed -E 's/.*passed, ([0-9]+) failed.*/\1/' <<<"$last")
  echo "$last"
  if [ "$f" -gt 0 ]; then grep -E '^(FAIL|ERROR)' "$out_file" | head -40; fi
  add "$p" "$f"
}

if [ -f tests/integration/run.py ]; then
  FASTWSD=$BUILD/fastwsd run_py_suite integration $PY tests/integration/run.py
fi

for extra in tests/suites.d/*.sh; do
  [ -f "$extra" ] || continue
  label=$(basename "$extra" .sh)
  BUILD=$BUILD run_py_suite "$label" bash "$extra"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
