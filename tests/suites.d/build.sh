#!/usr/bin/env bash
# The build as a newcomer meets it.
#
# First run: `make run` on a machine that lacks node-llhttp. Nothing is
# uninstalled: dpkg-query and apt-get on the PATH are stand-ins that say
# node-llhttp is missing and "install" it by copying llhttp's sources into
# LLHTTP_DIR, a directory that does not exist when make starts (exactly what
# the real package does to /usr/share/llhttp). The page must be served on the
# first invocation. Then: header dependency tracking, the user's CFLAGS kept
# apart from the project's, libjwt gone, `make unit T=` and
# `make integration T=` running only what the filter names.
# Last line: "build: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
REPO=$(pwd)
# This suite runs make itself; the outer make's flags are not its own.
unset MAKEFLAGS MAKELEVEL MFLAGS MAKEOVERRIDES
passed=0
failed=0
ok() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; failed=$((failed + 1)); }

tmp=$(mktemp -d /tmp/fastwsd-build.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill -- -"$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- stand-ins for the package tools -------------------------------------
mkdir -p "$tmp/bin"
cat >"$tmp/bin/dpkg-query" <<'EOF'
#!/bin/sh
# Every package is installed but node-llhttp, until the stand-in apt-get ran.
for last; do :; done
if [ "$last" = node-llhttp ] && [ ! -e "$FAKE_LLHTTP_DIR" ]; then exit 1; fi
echo "install ok installed"
EOF
cat >"$tmp/bin/apt-get" <<'EOF'
#!/bin/sh
echo "apt-get $*" >>"$FAKE_APT_LOG"
case " $* " in
  *" install "*node-llhttp*)
    mkdir -p "$FAKE_LLHTTP_DIR" && cp /usr/share/llhttp/*.c "$FAKE_LLHTTP_DIR/";;
esac
exit 0
EOF
chmod +x "$tmp/bin/dpkg-query" "$tmp/bin/apt-get"

port=$(free_port)
cat >"$tmp/run.conf" <<EOF
[server]
listen = 127.0.0.1:$port
static_dir = $REPO/static
log_level = warn
EOF

export FAKE_LLHTTP_DIR=$tmp/llhttp FAKE_APT_LOG=$tmp/apt.log
setsid env PATH="$tmp/bin:$PATH" make run BUILD="$tmp/build" LLHTTP_DIR="$FAKE_LLHTTP_DIR" \
  CONF="$tmp/run.conf" >"$tmp/run.log" 2>&1 &
pid=$!
served=0
for _ in $(seq 1 600); do   # up to 60 s for install + build + start
  kill -0 "$pid" 2>/dev/null || break
  if /usr/bin/python3 - "$port" <<'EOF' 2>/dev/null; then served=1; break; fi
import sys, urllib.request
r = urllib.request.urlopen("http://127.0.0.1:%s/static/" % sys.argv[1], timeout=2)
sys.exit(0 if r.status == 200 and b"<html" in r.read().lower() else 1)
EOF
  sleep 0.1
done
if [ "$served" = 1 ] && grep -q "install.*node-llhttp" "$tmp/apt.log" 2>/dev/null; then
  ok "first make run installs the missing package, builds and serves the page"
else
  fail "first make run on a machine without node-llhttp"
  tail -n 20 "$tmp/run.log"
fi
kill -- -"$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=

# From here on the build dir of the first run is reused (llhttp objects built).
mk() { make --no-print-directory BUILD="$tmp/build" LLHTTP_DIR="$FAKE_LLHTTP_DIR" "$@"; }

# --- dependency tracking --------------------------------------------------
# `make -W H -n` says what would be rebuilt if H changed: exactly the
# objects whose compiler-written .d names H, and not the others.
check_header() {
  local h=$1 want got
  want=$(grep -l "$h" $(find "$tmp/build" -name '*.d' -path '*/build/*' ! -path '*/tests/*') 2>/dev/null |
    sed 's/\.d$/.o/' | sort)
  got=$(mk -W "$h" -n "$tmp/build/fastwsd" | grep -oE -- "-o $tmp/build/[^ ]+\.o" | sed 's/^-o //' | sort)
  if [ -n "$want" ] && [ "$want" = "$got" ]; then
    ok "touching $h rebuilds only its $(wc -l <<<"$got") includers"
  else
    fail "touching $h: want [$want] got [$got]"
  fi
}
check_header protocol/utf8.h
check_header config/config.h
total=$(find "$tmp/build" -name '*.o' ! -path '*/llhttp/*' | wc -l)
n=$(mk -W protocol/utf8.h -n "$tmp/build/fastwsd" | grep -c -- ' -c -o ')
if [ "$n" -lt "$total" ]; then ok "a header is not every object's dependency ($n of $total)"; else fail "utf8.h rebuilds all $total objects"; fi

# --- the user's CFLAGS ----------------------------------------------------
line=$(mk -B -n CFLAGS=-O0 "$tmp/build/protocol/utf8.o" | grep -- ' -c ')
if grep -q -- '-O0' <<<"$line" && grep -q -- '-std=gnu11' <<<"$line" && grep -q -- '-Wall -Wextra' <<<"$line" &&
   ! grep -q -- '-O2' <<<"$line"; then
  ok "make CFLAGS=-O0 keeps the project's flags and drops the default -O2"
else
  fail "CFLAGS=-O0 compile line: $line"
fi

# --- libjwt is not linked ---------------------------------------------------
link=$(mk -B -n "$tmp/build/fastwsd" | tail -n 1)
if ! grep -q -- '-ljwt' <<<"$link" && ! grep -q 'libjwt' Makefile; then
  ok "libjwt is neither linked nor installed"
else
  fail "libjwt still in the Makefile or link line"
fi

# --- make unit T= / make integration T= -----------------------------------
mk -s unit T=no-such-test >/dev/null 2>&1   # builds them all, runs none
out=$(mk -s unit T=utf8 2>&1)
if grep -q 'utf8' <<<"$out" && ! grep -qi 'frame' <<<"$out" && grep -qE '^\[  PASSED  \] [1-9]' <<<"$out"; then
  ok "make unit T=utf8 runs only the utf8 tests"
else
  fail "make unit T=utf8"; tail -n 10 <<<"$out"
fi

out=$(mk integration T=test_http.HttpRoutes.test_root 2>&1)
last=$(grep -E '^integration: ' <<<"$out" | tail -n 1)
if [[ "$last" =~ ^integration:\ ([0-9]+)\ passed,\ 0\ failed ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] &&
   [ "${BASH_REMATCH[1]}" -le 5 ]; then
  ok "make integration T=... runs just the named tests ($last)"
else
  fail "make integration T=...: $last"; tail -n 10 <<<"$out"
fi

echo "build: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
