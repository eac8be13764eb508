"""Turns the load generator's JSON lines into tests/bench/RESULTS.md.

    report.py --summary < lines            one short line per result (progress)
    report.py --results R.jsonl --out RESULTS.md [--mode ...]   (see run.sh)
    report.py --results tests/bench/RESULTS.jsonl --out tests/bench/RESULTS.md
                                           (regenerates from the recorded settings)

Medians over runs per server, and the fastwsd/peer ratio of each median.
Python 3 standard library only.
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys

SERVERS = {"fastwsd": "fastwsd", "fastapi": "FastAPI (uvicorn)", "node": "Node ws"}

# scenario -> (title, explanation, [(key, label, better, scale, fmt)])
#   better: "up" (higher is better), "down", or None (no ratio)
TABLES = [
    ("connect", "connect: N clients on /ws/<id>, with the user_joined storm",
     "Handshakes at up to 256 in flight; every arrival sends user_joined to all "
     "clients already there (N(N-1)/2 frames), and the run waits for all of them "
     "(\"settled\") within a time cap; a server that does not settle in time is "
     "cut off there, and its RSS then includes output still queued. RSS per connection = server VmRSS growth "
     "from before the first connection to after the storm, divided by N.",
     [("connected", "clients connected (of N)", "up", 1, "{:.0f}"),
      ("connect_rate", "handshakes completed per second", "up", 1, "{:.0f}"),
      ("join_rate", "user_joined frames delivered per second", "up", 1, "{:.0f}"),
      ("settled_runs", "runs where every user_joined arrived in time", None, 1, "{}"),
      ("server_rss_per_conn_kb", "server RSS per connection, KiB", "down", 1, "{:.2f}"),
      ("server_cpu_s", "server CPU, s", "down", 1, "{:.2f}"),
      ("gen_cpu_s", "load generator CPU, s", None, 1, "{:.2f}")]),
    ("broadcast", "broadcast, closed loop",
     "K=10 senders among N clients, W=4 chat messages in flight per sender; a "
     "message is complete when all N clients (the sender included) have it. "
     "Latency: send to each delivery.",
     [("connected", "clients connected", None, 1, "{:.0f}"),
      ("settled_runs", "runs fully set up in time (all N, storm over)", None, 1, "{}"),
      ("msgs_per_s", "chat messages per second", "up", 1, "{:.0f}"),
      ("deliveries_per_s", "deliveries per second", "up", 1, "{:.0f}"),
      ("lat_p50_us", "latency p50, ms", "down", 1e-3, "{:.2f}"),
      ("lat_p99_us", "latency p99, ms", "down", 1e-3, "{:.2f}"),
      ("lat_max_us", "latency max, ms", "down", 1e-3, "{:.2f}"),
      ("violations", "loss/order violations (all runs)", None, 1, "{:.0f}"),
      ("undelivered_at_cap", "not yet delivered when the 5 s drain ran out (all runs)", None, 1, "{:.0f}"),
      ("server_cpu_pct", "server CPU %", None, 1, "{:.0f}"),
      ("gen_cpu_pct", "load generator CPU %", None, 1, "{:.0f}")]),
    ("openloop", "broadcast, open loop",
     "R=20 chat messages per second in total from K=10 senders, whatever the "
     "server does (N clients: 20*N deliveries/s offered). Latency from the time "
     "each message was due, so a server that falls behind shows it.",
     [("connected", "clients connected", None, 1, "{:.0f}"),
      ("settled_runs", "runs fully set up in time (all N, storm over)", None, 1, "{}"),
      ("deliveries_per_s", "deliveries per second achieved", "up", 1, "{:.0f}"),
      ("lat_p50_us", "latency p50, ms", "down", 1e-3, "{:.2f}"),
      ("lat_p99_us", "latency p99, ms", "down", 1e-3, "{:.2f}"),
      ("lat_max_us", "latency max, ms", "down", 1e-3, "{:.2f}"),
      ("violations", "loss/order violations (all runs)", None, 1, "{:.0f}"),
      ("undelivered_at_cap", "not yet delivered when the 5 s drain ran out (all runs)", None, 1, "{:.0f}"),
      ("server_cpu_pct", "server CPU %", "down", 1, "{:.0f}"),
      ("gen_cpu_pct", "load generator CPU %", None, 1, "{:.0f}")]),
    ("private", "private, closed loop",
     "N clients in pairs, each sends private messages to its partner with W=4 "
     "in flight.",
     [("connected", "clients connected", None, 1, "{:.0f}"),
      ("settled_runs", "runs fully set up in time (all N, storm over)", None, 1, "{}"),
      ("msgs_per_s", "private messages per second", "up", 1, "{:.0f}"),
      ("lat_p50_us", "latency p50, ms", "down", 1e-3, "{:.2f}"),
      ("lat_p99_us", "latency p99, ms", "down", 1e-3, "{:.2f}"),
      ("violations", "loss/order violations (all runs)", None, 1, "{:.0f}"),
      ("undelivered_at_cap", "not yet delivered when the 5 s drain ran out (all runs)", None, 1, "{:.0f}"),
      ("server_cpu_pct", "server CPU %", None, 1, "{:.0f}"),
      ("gen_cpu_pct", "load generator CPU %", None, 1, "{:.0f}")]),
    ("pingpong", "pingpong: one client, {\"type\":\"ping\"} round trips",
     "One connection, one ping in flight: the latency floor at low load.",
     [("msgs_per_s", "round trips per second", "up", 1, "{:.0f}"),
      ("lat_p50_us", "round trip p50, us", "down", 1, "{:.1f}"),
      ("lat_p99_us", "round trip p99, us", "down", 1, "{:.1f}"),
      ("server_cpu_pct", "server CPU %", None, 1, "{:.0f}")]),
    ("idle", "idle connections with heartbeats",
     "N connections on the echo path (the chat path would cost N(N-1)/2 "
     "user_joined frames to set up), held while the server sends protocol "
     "pings that the generator answers with masked pongs. CPU is the server's "
     "during the hold; RSS per connection from before the first connection to "
     "the end of the hold.",
     [("connected", "connections held", "up", 1, "{:.0f}"),
      ("connect_rate", "handshakes per second", "up", 1, "{:.0f}"),
      ("server_rss_per_conn_kb", "server RSS per connection, KiB", "down", 1, "{:.2f}"),
      ("server_cpu_pct", "server CPU % during the hold", "down", 1, "{:.2f}"),
      ("hold_pings_per_s", "pings received per second", None, 1, "{:.0f}"),
      ("closed_during_hold", "connections closed during the hold", None, 1, "{:.0f}"),
      ("gen_cpu_pct", "load generator CPU %", None, 1, "{:.1f}")]),
]


# Settings run.sh passes (and records in a {"meta": ...} line of the .jsonl).
DEFAULTS = {"mode": "full", "runs": "3", "servers": "fastwsd fastapi node", "pin": "",
            "commands": [], "elapsed": "?", "load_start": "0 0 0", "load_end": "0 0 0",
            "nofile": "?", "note": "", "fastwsd_rev": ""}


def summary():
    keys = ["connected", "connect_rate", "msgs_per_s", "deliveries_per_s", "lat_p50_us",
            "lat_p99_us", "violations", "server_rss_per_conn_kb", "server_cpu_pct",
            "gen_cpu_pct"]
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        parts = []
        for k in keys:
            if k in r and r[k] is not None:
                v = r[k]
                parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
        print(f"bench:   {r.get('server')} {r.get('scenario')}: " + " ".join(parts))


def derived(r):
    """Adds the values the tables need that the generator does not print."""
    if "drained" in r and "undelivered_at_cap" not in r:
        # Lines of older generators: undelivered at the drain cap is not loss.
        r["undelivered_at_cap"] = 0 if r["drained"] else r.get("missing", 0)
        if not r["drained"]:
            r["missing"] = 0
            r["violations"] = r.get("order_violations", 0)
    if r.get("scenario") == "connect":
        t = (r.get("connect_s") or 0) + (r.get("settle_s") or 0)
        r["join_rate"] = r.get("joins_rx", 0) / t if t > 0 else None
    return r


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=20).stdout.strip()
    except Exception:
        return ""


def machine():
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1048576:.1f} GiB"
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "memory": mem,
        "python": sh("/usr/bin/python3 -c 'import sys,fastapi,uvicorn,websockets;"
                     "print(sys.version.split()[0], \"fastapi\", fastapi.__version__,"
                     " \"uvicorn\", uvicorn.__version__, \"websockets\", websockets.__version__)'"),
        "node": sh("node --version") + " ws " + sh(
            "node -p \"require('./tests/bench/peers/node_modules/ws/package.json').version\""),
        "libuv": sh("pkg-config --modversion libuv"),
    }


def fmt_val(v, scale, f):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    return f.format(v * scale)


def report(a):
    rows = []
    for line in open(a.results):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        if "meta" in r:  # run.sh's settings: the defaults when regenerating
            for k, v in r["meta"].items():
                if getattr(a, k, None) in (None, ""):
                    setattr(a, k, v)
            continue
        rows.append(derived(r))
    for k, v in DEFAULTS.items():
        if getattr(a, k) in (None, ""):
            setattr(a, k, v)
    servers = [s for s in a.servers.split() if s]
    m = machine()
    out = []
    w = out.append
    title = {"full": "", "quick": " (quick mode)", "idle": ": idle connections"}[a.mode]
    w(f"# fastwsd benchmarks{title}\n")
    w("Generated by `tests/bench/run.sh` (`make bench`"
      + {"full": "", "quick": " with BENCH_QUICK=1", "idle": "-idle"}[a.mode]
      + "). Each cell is the median of "
      f"{a.runs} run(s); a ratio is fastwsd's median divided by the peer's "
      "(\"up\": higher is better for fastwsd, \"down\": lower is better). Every run "
      "starts a fresh server. Benchmarks report; no test asserts on them.\n")
    w("## Machine\n")
    w(f"- nproc: {m['nproc']}; CPU: {m['cpu']}; kernel: {m['kernel']}; memory: {m['memory']}")
    w(f"- load average (1/5/15 min) at start: {a.load_start}; at end: {a.load_end}"
      + (" -- **the machine was shared with other work during this run: absolute "
         "numbers are depressed and noisy; ratios are the more robust reading**"
         if max(float(a.load_start.split()[0]), float(a.load_end.split()[0])) > 1.0 else ""))
    w(f"- pinning: {a.pin}; open files limit: {a.nofile}")
    w(f"- fastwsd {a.fastwsd_rev} (libuv {m['libuv']}); Python {m['python']}; "
      f"Node {m['node']}")
    w(f"- total time: {a.elapsed} s")
    if a.note:
        w(f"- note: {a.note}")
    w("")
    w("## Servers\n")
    w("- **fastwsd**: `build/fastwsd` with a bench config: `permessage_deflate = off`, "
      "`max_send_buffer = 268435456`, `rate_limit = 0`, `idle_timeout = 0`, "
      "`heartbeat_interval` 0 (idle: as below), `echo_path = /echo`.")
    w("- **FastAPI (uvicorn)**: `tests/bench/peers/fastapi_peer.py`, the original's "
      "design: a ConnectionManager dict, broadcast = loop awaiting `send_text(json.dumps(...))` "
      "per client; uvicorn defaults (h11, websockets), no compression, one process.")
    w("- **Node ws**: `tests/bench/peers/node_ws_peer.js`, npm `ws` with "
      "`perMessageDeflate: false`, the envelope encoded once per broadcast.")
    w("")
    w("## Commands\n")
    w("```sh")
    w("make bench" + {"full": "", "quick": "   # BENCH_QUICK=1", "idle": "-idle"}[a.mode])
    w("# which runs, per server and run (server pinned to CPU 0, loadgen to CPU 1):")
    for c in a.commands:
        w(c)
    w("```\n")
    errors = [r for r in rows if "error" in r]
    for key, head, expl, metrics in TABLES:
        sel = [r for r in rows if r.get("scenario") == key and "error" not in r]
        if not sel:
            continue
        ns = sorted({r.get("clients") for r in sel})
        w(f"## {head}\n")
        w(expl + f" N = {', '.join(str(n) for n in ns)}.\n")
        peers = [s for s in servers if s != "fastwsd"]
        hdr = ["metric"] + [SERVERS.get(s, s) for s in servers]
        if "fastwsd" in servers:
            hdr += [f"fastwsd/{SERVERS.get(p, p)}" for p in peers]
        w("| " + " | ".join(hdr) + " |")
        w("|" + "---|" * len(hdr))
        for mk, label, better, scale, f in metrics:
            med = {}
            for s in servers:
                rs = [r for r in sel if r.get("server") == s]
                if mk == "settled_runs":
                    med[s] = f"{sum(1 for r in rs if r.get('settled'))}/{len(rs)}" if rs else None
                    continue
                vals = [r[mk] for r in rs if isinstance(r.get(mk), (int, float))]
                if mk in ("violations", "undelivered_at_cap", "closed_during_hold") and vals:
                    med[s] = sum(vals)
                else:
                    med[s] = statistics.median(vals) if vals else None
            cells = [label + {"up": " (up)", "down": " (down)", None: ""}[better]]
            cells += [fmt_val(med[s], scale, f) for s in servers]
            if "fastwsd" in servers:
                for p in peers:
                    x, y = med.get("fastwsd"), med.get(p)
                    if better and isinstance(x, (int, float)) and isinstance(y, (int, float)) and y:
                        q = x / y
                        cells.append(f"{q:.2f}x" if q >= 0.1 else f"{q:.2g}x")
                    else:
                        cells.append("")
            w("| " + " | ".join(cells) + " |")
        w("")
    if errors:
        w("## Runs without a result\n")
        for r in errors:
            w(f"- run {r.get('run')}: {r.get('scenario')} on {r.get('server')}: {r.get('error')}")
        w("")
    w("Raw lines of every run: the `.jsonl` file beside this report.")
    with open(a.out, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--summary", action="store_true")
    ap.add_argument("--results")
    ap.add_argument("--out")
    for k in DEFAULTS:
        ap.add_argument("--" + k.replace("_", "-"))
    a = ap.parse_args()
    if a.commands and isinstance(a.commands, str) and os.path.exists(a.commands):
        a.commands = open(a.commands).read().splitlines()
    if a.summary:
        summary()
    else:
        report(a)


if __name__ == "__main__":
    main()
