#!/usr/bin/env bash
# What a daemon's user reads: the command line (--help, --version, long
# options, usage errors), the man pages (they lint cleanly and render), the
# documentation against the code (every key config/config.c accepts is in
# config/fastws.conf.5 and fastws.conf, under its section), no links out of
# the repository, and `make install`/`make uninstall` of the man pages.
# Last line: "docs: N passed, N failed".
#
# CONFIG_C, MAN5 and CONF name the files the drift check compares (the
# defaults are the repository's); pointing CONFIG_C at a copy with one more
# key shows the check failing.
set -u
cd "$(dirname "$0")/../.."
# This suite runs make itself; the outer make's flags are not its own.
unset MAKEFLAGS MAKELEVEL MFLAGS MAKEOVERRIDES
BUILD=${BUILD:-build}
BIN=$BUILD/fastwsd
CONFIG_C=${CONFIG_C:-config/config.c}
MAN5=${MAN5:-config/fastws.conf.5}
MAN8=${MAN8:-config/fastwsd.8}
CONF=${CONF:-fastws.conf}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
passed=0
failed=0
ok() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; failed=$((failed + 1)); }

tmp=$(mktemp -d /tmp/fastwsd-docs.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# run NAME ARGS...: runs the binary, leaving $tmp/NAME.out, .err and .rc.
run() {
  local name=$1; shift
  "$BIN" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
  echo $? >"$tmp/$name.rc"
}
rc() { cat "$tmp/$1.rc"; }
lines() { wc -l <"$tmp/$1"; }
show() { echo "  exit $(rc "$1"); stdout:"; sed 's/^/    /' "$tmp/$1.out" | head -20
         echo "  stderr:"; sed 's/^/    /' "$tmp/$1.err" | head -20; }

if [ ! -x "$BIN" ]; then
  fail "no binary $BIN (build first)"
  echo "docs: $passed passed, $failed failed"
  exit 1
fi

# --- the command line -------------------------------------------------------
for opt in --help -h; do
  run help "$opt"
  if [ "$(rc help)" = 0 ] && [ ! -s "$tmp/help.err" ] && grep -q '^Usage: fastwsd' "$tmp/help.out" &&
     grep -q -- '--config' "$tmp/help.out" && grep -q -- '--test' "$tmp/help.out" &&
     grep -q -- '--version' "$tmp/help.out" && grep -q -- '--help' "$tmp/help.out"; then
    ok "fastwsd $opt: exit 0, usage with every long option on stdout"
  else
    fail "fastwsd $opt"; show help
  fi
done

for opt in --version -V; do
  run version "$opt"
  first=$(head -n 1 "$tmp/version.out")
  missing=
  for lib in 'libuv [0-9]' 'OpenSSL [0-9]' 'zlib [0-9]' 'jansson [0-9]' 'llhttp [0-9]+\.[0-9]+\.[0-9]+$'; do
    grep -E -q "^$lib" "$tmp/version.out" || missing="$missing ${lib%% *}"
  done
  if [ "$(rc version)" = 0 ] && [ ! -s "$tmp/version.err" ] &&
     grep -E -q '^fastwsd [0-9]+\.[0-9]+\.[0-9]+$' <<<"$first" && [ -z "$missing" ]; then
    ok "fastwsd $opt: exit 0, '$first', then libuv, OpenSSL, zlib, jansson, llhttp"
  else
    fail "fastwsd $opt (missing:${missing:- none})"; show version
  fi
done

# usage errors: exit 2, nothing on stdout, one line on stderr naming the
# culprit and pointing at --help
usage_error() {
  local label=$1 culprit=$2; shift 2
  run usage "$@"
  if [ "$(rc usage)" = 2 ] && [ ! -s "$tmp/usage.out" ] && [ "$(lines usage.err)" = 1 ] &&
     grep -q -F -- "$culprit" "$tmp/usage.err" && grep -q -F -- "--help" "$tmp/usage.err"; then
    ok "$label: exit 2, one line: $(cat "$tmp/usage.err")"
  else
    fail "$label"; show usage
  fi
}
usage_error "fastwsd --bogus" "'--bogus'" --bogus
usage_error "fastwsd --bogus=1" "'--bogus'" --bogus=1
usage_error "fastwsd -x" "'-x'" -x
usage_error "fastwsd -c (no argument)" "'-c'" -c
usage_error "fastwsd --config (no argument)" "'--config'" --config
usage_error "fastwsd --test=yes" "'--test'" --test=yes
usage_error "fastwsd -t extra (positional argument)" "'extra'" -t extra

run long --config "$CONF" --test
run short -c "$CONF" -t
if [ "$(rc long)" = 0 ] && [ "$(rc short)" = 0 ] && cmp -s "$tmp/long.out" "$tmp/short.out" &&
   cmp -s "$tmp/long.err" "$tmp/short.err" && grep -q 'is valid' "$tmp/long.out"; then
  ok "fastwsd --config $CONF --test works as -c $CONF -t (exit 0)"
else
  fail "--config/--test differ from -c/-t"; show long; show short
fi
run longeq --config="$CONF" --test
if [ "$(rc longeq)" = 0 ] && cmp -s "$tmp/longeq.out" "$tmp/short.out"; then
  ok "fastwsd --config=$CONF --test (exit 0)"
else
  fail "--config=FILE"; show longeq
fi
printf '[server]\nlog_level = loud\n' >"$tmp/bad.conf"
run badconf --config "$tmp/bad.conf" --test
if [ "$(rc badconf)" = 1 ] && grep -q 'log_level' "$tmp/badconf.err"; then
  ok "fastwsd --config BAD --test: exit 1, names the key"
else
  fail "--config BAD --test"; show badconf
fi

for opt in --help -h; do
  run token token "$opt"
  if [ "$(rc token)" = 0 ] && [ ! -s "$tmp/token.err" ] &&
     grep -q '^usage: fastwsd token' "$tmp/token.out" && grep -q -- '--ttl' "$tmp/token.out"; then
    ok "fastwsd token $opt: exit 0, usage on stdout"
  else
    fail "fastwsd token $opt"; show token
  fi
done

# --- the man pages ----------------------------------------------------------
for page in "$MAN8" "$MAN5"; do
  if ! command -v groff >/dev/null 2>&1; then
    fail "groff not installed (Debian package groff-base, in make deps): cannot lint $page"
  else
    out=$(groff -man -ww -z "$page" 2>&1)
    r=$?
    if [ "$r" = 0 ] && [ -z "$out" ]; then
      ok "groff -man -ww -z $page: no warnings"
    else
      fail "groff -man -ww -z $page (exit $r)"; echo "$out" | head -20
    fi
  fi
  if command -v man >/dev/null 2>&1; then
    out=$(MANWIDTH=80 MAN_KEEP_FORMATTING= man -l "$page" 2>"$tmp/man.err")
    r=$?
    if [ "$r" = 0 ] && [ ! -s "$tmp/man.err" ] && grep -q '^NAME' <<<"$out" &&
       grep -q '^SEE ALSO' <<<"$out"; then
      ok "man -l $page renders ($(wc -l <<<"$out") lines)"
    else
      fail "man -l $page (exit $r)"; head -20 "$tmp/man.err"
    fi
  else
    echo "note: man not installed, man -l $page not tried"
  fi
done

missing=
for sect in NAME SYNOPSIS DESCRIPTION OPTIONS '"TOKEN SUBCOMMAND"' SIGNALS FILES '"EXIT STATUS"' \
            ENVIRONMENT '"SEE ALSO"'; do
  grep -q -x -F ".SH $sect" "$MAN8" || missing="$missing .SH_$sect"
done
for word in SIGHUP SIGTERM SIGINT NOTIFY_SOCKET WATCHDOG_USEC LISTEN_FDS LISTEN_PID JOURNAL_STREAM \
            '\-\-help' '\-\-version' '\-\-config' '\-\-test' '\-\-ttl'; do
  grep -q -F -- "$word" "$MAN8" || missing="$missing $word"
done
if [ -z "$missing" ]; then
  ok "$MAN8 has every section and documents the options, the token subcommand, signals and environment"
else
  fail "$MAN8 does not mention:$missing"
fi

# --- drift: config/config.c against the man page and fastws.conf ------------
# The key table of config.c: {"section", "name", cfg_parse_..., ...} entries,
# and the sections[] array. Each key must appear under its section: in the
# man page as ".TP" then ".B key" after ".SS [section]", in fastws.conf as a
# "key =" line after "[section]". Keys documented but no longer accepted
# fail too.
drift=$("$PY" - "$CONFIG_C" "$MAN5" "$CONF" <<'EOF'
import re, sys
src, man, conf = (open(p, encoding="utf-8").read() for p in sys.argv[1:4])
keys = re.findall(r'\{\s*"([a-z_]+)"\s*,\s*"([a-z_]+)"\s*,\s*(?:cfg_)?parse_[a-z0-9_]+\s*,', src)
m = re.search(r'sections\[\]\s*=\s*\{([^}]*)\}', src)
sections = re.findall(r'"([a-z_]+)"', m.group(1)) if m else []
problems = []
if len(keys) < 10 or not sections:
    problems.append("could not extract the key table (%d keys, %d sections) from %s"
                    % (len(keys), len(sections), sys.argv[1]))
for s, _ in keys:
    if s not in sections:
        problems.append("key section [%s] is not in sections[]" % s)

def man_entries(text):
    """(section, key) of every .TP/.B entry under a .SS [section]."""
    out, sect, prev = set(), None, ""
    for line in text.splitlines():
        m = re.match(r'\.SS\s+"?\[([a-z_]+)\]"?\s*$', line)
        if m:
            sect = m.group(1)
        elif line.startswith(".SH"):
            sect = None
        elif sect and prev.strip() == ".TP":
            m = re.match(r'\.B\s+([a-z_]+)\s*$', line)
            if m:
                out.add((sect, m.group(1)))
        prev = line
    return out

def man_sections(text):
    return set(re.findall(r'^\.SS\s+"?\[([a-z_]+)\]"?\s*$', text, re.M))

def conf_entries(text):
    out, sect = set(), None
    for line in text.splitlines():
        m = re.match(r'\[([a-z_]+)\]\s*$', line)
        if m:
            sect = m.group(1)
            continue
        m = re.match(r'([a-z_]+)\s*=', line)
        if m and sect:
            out.add((sect, m.group(1)))
    return out

doc, shipped = man_entries(man), conf_entries(conf)
for s in sections:
    if s not in man_sections(man):
        problems.append("%s: no .SS [%s]" % (sys.argv[2], s))
    if not re.search(r'^\[%s\]\s*$' % re.escape(s), conf, re.M):
        problems.append("%s: no [%s] section" % (sys.argv[3], s))
for k in keys:
    if k not in doc:
        problems.append("%s: [%s] %s is not documented" % (sys.argv[2], k[0], k[1]))
    if k not in shipped:
        problems.append("%s: [%s] %s is missing" % (sys.argv[3], k[0], k[1]))
for k in sorted(doc - set(keys)):
    problems.append("%s: [%s] %s is documented but %s does not accept it" % (sys.argv[2], k[0], k[1], sys.argv[1]))
for k in sorted(shipped - set(keys)):
    problems.append("%s: [%s] %s is set but %s does not accept it" % (sys.argv[3], k[0], k[1], sys.argv[1]))
print("keys=%d sections=%d" % (len(keys), len(sections)))
for p in problems:
    print("problem: " + p)
sys.exit(1 if problems else 0)
EOF
)
r=$?
if [ "$r" = 0 ]; then
  ok "drift: every key of $CONFIG_C is in $MAN5 and $CONF under its section ($(head -n 1 <<<"$drift"))"
else
  fail "drift between $CONFIG_C and the documentation"; sed 's/^/  /' <<<"$drift"
fi

# Every key's entry says its default and what a reload does with it.
entries=$(awk '/^\.SH "SECTIONS AND KEYS"/ { on = 1; next } /^\.SH/ { on = 0 }
  on && /^\.TP/ { n++ } on && /^Default:/ { d++ } on && /^Reload:/ { r++ }
  END { printf "%d %d %d", n, d, r }' "$MAN5")
read -r n_tp n_def n_rel <<<"$entries"
if [ "$n_tp" -gt 0 ] && [ "$n_tp" = "$n_def" ] && [ "$n_tp" = "$n_rel" ]; then
  ok "$MAN5: each of the $n_tp keys has a Default: and a Reload: line"
else
  fail "$MAN5: $n_tp entries, $n_def Default: lines, $n_rel Reload: lines"
fi

# --- no links out of the repository ------------------------------------------
out=$(grep -rn '\.\./shared' README.md protocol/ 2>&1)
if [ -z "$out" ]; then
  ok "no ../shared references in README.md and protocol/"
else
  fail "../shared referenced"; echo "$out"
fi
if [ -f protocol/README.md ]; then
  ok "protocol/README.md exists"
else
  fail "protocol/README.md is missing"
fi

# --- make install / uninstall of the man pages ------------------------------
dest=$tmp/dest
man8=$dest/usr/share/man/man8/fastwsd.8
man5=$dest/usr/share/man/man5/fastws.conf.5
installed=0
if make -s install BUILD="$BUILD" DESTDIR="$dest" PREFIX=/usr SYSCONFDIR=/etc >"$tmp/install.log" 2>&1 &&
   [ -f "$man8" ] && [ -f "$man5" ] && grep -q '/usr/share/fastws/static' "$man8" &&
   ! grep -q '/usr/local' "$man8" "$man5"; then
  installed=1
  ok "make install DESTDIR PREFIX=/usr puts fastwsd.8 and fastws.conf.5 in man8/ and man5/ (paths follow PREFIX)"
else
  fail "make install of the man pages"; cat "$tmp/install.log"; ls -R "$dest/usr/share/man" 2>&1 | head
fi
if command -v man >/dev/null 2>&1 && [ -f "$man8" ]; then
  if MANWIDTH=80 man -l "$man8" 2>/dev/null | grep -q '^NAME'; then
    ok "the installed fastwsd.8 renders"
  else
    fail "the installed fastwsd.8 does not render"
  fi
fi
make -s uninstall BUILD="$BUILD" DESTDIR="$dest" PREFIX=/usr SYSCONFDIR=/etc >"$tmp/uninstall.log" 2>&1
if [ "$installed" = 1 ] && [ ! -e "$man8" ] && [ ! -e "$man5" ]; then
  ok "make uninstall removes both man pages"
elif [ "$installed" = 0 ]; then
  fail "make uninstall not checked: make install failed"
else
  fail "make uninstall left man pages"; cat "$tmp/uninstall.log"
fi

echo "docs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
