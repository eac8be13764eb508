#!/usr/bin/env bash
# The systemd units as installed: `make install` into a scratch prefix,
# systemd-analyze verify on each unit, the service's offline security
# exposure at most 2.0, and `make uninstall` removing what install put.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
passed=0
failed=0
ok() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; failed=$((failed + 1)); }

root=$(mktemp -d /tmp/fastwsd-systemd.XXXXXX)
trap 'rm -rf "$root"' EXIT
prefix=$root/usr
etc=$root/etc
units=$prefix/lib/systemd/system

if make -s install BUILD="$BUILD" PREFIX="$prefix" SYSCONFDIR="$etc" >"$root/install.log" 2>&1 &&
   [ -x "$prefix/bin/fastwsd" ] && [ -f "$etc/fastws/fastws.conf" ] &&
   [ -f "$prefix/share/fastws/static/index.html" ] && [ -f "$units/fastwsd.service" ]; then
  ok "make install puts binary, config, page and units in place"
else
  fail "make install"; cat "$root/install.log"
fi

if "$prefix/bin/fastwsd" -t -c "$etc/fastws/fastws.conf" >/dev/null 2>&1; then
  ok "the installed config passes fastwsd -t"
else
  fail "the installed config does not pass fastwsd -t"
fi

for unit in "$units"/fastwsd*.service "$units"/fastwsd*.socket; do
  [ -f "$unit" ] || continue
  name=$(basename "$unit")
  case "$name" in *@.service) check="$root/$(echo "$name" | sed 's/@/@node1/')"; cp "$unit" "$check";; *) check=$unit;; esac
  # ExecStart names the installed binary, so verify can check it exists.
  out=$(systemd-analyze verify "$check" 2>&1)
  # Without a running systemd, verify still reports unit-file errors; the
  # lines about the missing manager or other units are not ours.
  errs=$(grep -v -E 'Failed to (connect|setup)|System has not been booted|No such file or directory.*/etc/fastws|multi-user.target|sockets.target|network.target|redis' <<<"$out" | grep -E -i 'error|invalid|unknown|failed' || true)
  if [ -z "$errs" ]; then ok "systemd-analyze verify $name"; else fail "systemd-analyze verify $name"; echo "$out"; fi
done

score=$(systemd-analyze security --offline=true "$units/fastwsd.service" 2>/dev/null |
        sed -n -E 's/.*Overall exposure level for .*: ([0-9.]+).*/\1/p')
if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
  ok "security exposure $score <= 2.0"
else
  fail "security exposure '${score:-none}' is not <= 2.0"
fi

make -s uninstall PREFIX="$prefix" SYSCONFDIR="$etc" >/dev/null 2>&1
if [ ! -e "$prefix/bin/fastwsd" ] && [ ! -e "$units/fastwsd.service" ] &&
   [ ! -e "$prefix/share/fastws" ] && [ -f "$etc/fastws/fastws.conf" ]; then
  ok "make uninstall removes the binary, page and units, keeps the config"
else
  fail "make uninstall"
fi

echo "systemd: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
