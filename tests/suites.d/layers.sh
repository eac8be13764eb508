#!/usr/bin/env bash
# The layering of ../shared/DESIGN.md, checked on the objects the build
# made: from `nm`, which file uses a symbol that which other file defines.
#  - no call cycle between files;
#  - each folder uses only the folders it may (a layer calls down by name,
#    up only through callbacks it was handed);
#  - protocol/ is pure: no libuv, no sockets;
#  - no source file over 700 lines.
# Last line: "layers: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
exec /usr/bin/python3 - "$BUILD" <<'EOF'
import os, subprocess, sys

build = sys.argv[1]
passed = failed = 0

def ok(msg):
    global passed
    passed += 1
    print("ok:", msg)

def fail(msg):
    global failed
    failed += 1
    print("FAIL:", msg)

# the folders and what each may use (besides itself)
ALLOWED = {
    "protocol": set(),
    "config": set(),
    "server/util": set(),
    "server/net": {"server/util", "config"},
    "server/http": {"server/net", "server/util", "protocol", "config"},
    "server/ws": {"server/net", "server/util", "protocol", "config"},
    "server/chat": {"server/ws", "server/util", "protocol", "config"},
    "server/cluster": {"server/chat", "server/util", "protocol", "config"},
    "server": {"server/util", "server/net", "server/http", "server/ws", "server/chat",
               "server/cluster", "protocol", "config"},
}

srcs = []
for top in ("protocol", "config", "server"):
    for root, _, files in os.walk(top):
        srcs += [os.path.join(root, f) for f in files if f.endswith(".c")]
objs = {}
for src in sorted(srcs):
    o = os.path.join(build, src[:-2] + ".o")
    if not os.path.exists(o):
        fail("%s: no object %s (build first)" % (src, o))
        continue
    objs[src] = o

defined, used = {}, {}
for src, o in objs.items():
    out = subprocess.run(["nm", "-P", o], capture_output=True, text=True).stdout
    used[src] = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind == "U":
            used[src].add(name)
        elif kind in "TDBRGSC":
            defined[name] = src

edges = {s: set() for s in objs}
via = {}
for s, names in used.items():
    for n in names:
        d = defined.get(n)
        if d and d != s:
            edges[s].add(d)
            via.setdefault((s, d), []).append(n)

def folder(path):
    return os.path.dirname(path)

# the folder graph, for the log
fe = {}
for s_, ds in edges.items():
    for d in ds:
        if folder(s_) != folder(d):
            fe.setdefault(folder(s_), set()).add(folder(d))
for f in sorted(fe):
    print("  %s -> %s" % (f, ", ".join(sorted(fe[f]))))

# folder rules
bad = []
for s, ds in edges.items():
    for d in ds:
        fs, fd = folder(s), folder(d)
        if fs != fd and fd not in ALLOWED.get(fs, set()):
            bad.append("%s -> %s (%s)" % (s, d, ", ".join(sorted(via[(s, d)])[:4])))
if bad:
    fail("calls a folder may not make:\n  " + "\n  ".join(sorted(bad)))
else:
    ok("every folder calls only the layers below it (%d files, %d edges)"
       % (len(edges), sum(len(v) for v in edges.values())))

# cycles between files (Tarjan)
index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def strong(v):
    index[v] = low[v] = n[0]
    n[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges[v]:
        if w not in index:
            strong(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            sccs.append(sorted(comp))
for v in edges:
    if v not in index:
        strong(v)
if sccs:
    fail("call cycles between files: " + "; ".join(", ".join(c) for c in sccs))
else:
    ok("no call cycle between the %d files" % len(edges))

# protocol/ is pure
impure = [s for s in objs if s.startswith("protocol/") and
          any(u.startswith("uv_") or u in ("socket", "connect", "accept", "read", "write", "send",
                                           "recv", "open")
              for u in used[s])]
if impure:
    fail("protocol/ files with I/O: " + ", ".join(impure))
else:
    ok("protocol/ uses no libuv and no I/O")

# file sizes
big = []
for top in ("protocol", "config", "server"):
    for root, _, files in os.walk(top):
        for f in files:
            if f.endswith((".c", ".h")):
                p = os.path.join(root, f)
                with open(p, errors="replace") as fh:
                    lines = sum(1 for _ in fh)
                if lines > 700:
                    big.append("%s (%d lines)" % (p, lines))
if big:
    fail("source files over 700 lines: " + ", ".join(big))
else:
    ok("no source file over 700 lines")

print("layers: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
EOF
