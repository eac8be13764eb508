#!/usr/bin/python3
"""Cluster benchmark: delivered messages/s for 1 node vs 3 nodes (same total
clients), and cross-node latency through Redis.

    /usr/bin/python3 tests/bench/cluster_bench.py [--runs 3] [-n 1000] [-d 7]
        [--append tests/bench/RESULTS.md]

Configurations, each started fresh per run (a fresh redis-server too):
  single      1 node, no [cluster] (no Redis code runs)
  1 node      1 node with redis_url (every message also PUBLISHed)
  3 nodes     3 nodes, one Redis, one shared port (reuse_port = on): the
              kernel spreads the clients, ~2/3 of each message's deliveries
              are cross-node
The load is tests/bench/loadgen `broadcast` (closed loop: K senders, W
messages in flight each; a message completes when all N clients have it;
every client checks per-sender order and loss). Server CPU is summed over
every fastwsd process and redis-server from /proc.

Cross-node latency: with 2 nodes idle, a client on node A chats 400
timestamped messages (5 ms apart); a client on node B (cross-node) and one
on A (same node) record arrival - send time.

Prints a Markdown section; --append adds it to a file. Loopback only; every
process is started and stopped by its PID.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from harness import WS, Conn, free_port  # noqa: E402

BUILD = os.environ.get("BUILD", "build")
FASTWSD = os.path.join(REPO, os.environ.get("FASTWSD", os.path.join(BUILD, "fastwsd")))
LOADGEN = os.path.join(REPO, os.environ.get("LOADGEN", os.path.join(BUILD, "bench", "loadgen")))
REDIS = shutil.which("redis-server")
CLK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def wait_port(port, timeout=5.0):
    t = time.monotonic() + timeout
    while time.monotonic() < t:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("nothing listens on %d" % port)


def http_get(port, path):
    c = Conn(port)
    try:
        return c.request("GET", path)
    finally:
        c.close()


class Procs:
    """Processes of one configuration; stopped by PID."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="fastwsd-cbench-")
        self.procs = []     # (name, Popen)
        self.private = []   # each node's own port

    def redis(self):
        port = free_port()
        p = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", self.tmp, "--loglevel", "warning"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(("redis", p))
        wait_port(port)
        return port

    def node(self, name, shared, redis_port):
        own = free_port()
        conf = os.path.join(self.tmp, "%s.conf" % name)
        with open(conf, "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:%d,127.0.0.1:%d\nreuse_port = on\n"
                    "log_level = warn\nstatic_dir = %s\n" % (own, shared, self.tmp))
            f.write("[websocket]\npermessage_deflate = off\nmax_send_buffer = 268435456\n"
                    "idle_timeout = 0\nheartbeat_interval = 0\n")
            if redis_port:
                f.write("[cluster]\nredis_url = redis://127.0.0.1:%d\nnode_id = %s\n"
                        "channel_prefix = bench\n" % (redis_port, name))
        p = subprocess.Popen([FASTWSD, "-c", conf], stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.tmp, name + ".log"), "wb"))
        self.procs.append((name, p))
        self.private.append(own)
        wait_port(own)
        if redis_port:
            t = time.monotonic() + 10
            while http_get(own, "/healthz").json()["status"] != "ok":
                if time.monotonic() > t:
                    raise RuntimeError("node %s did not join the cluster" % name)
                time.sleep(0.05)
        return own

    def cpu(self):
        return sum(cpu_s(p.pid) for _, p in self.procs)

    def stop(self):
        for _, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _, p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def run_broadcast(config, args):
    pr = Procs()
    try:
        shared = free_port()
        rport = pr.redis() if config != "single" else None
        for i in range(3 if config == "3 nodes" else 1):
            pr.node("n%d" % (i + 1), shared, rport)
        if len(pr.private) > 1:
            time.sleep(0.5)   # heartbeats: every node knows the others
        c0, t0 = pr.cpu(), time.monotonic()
        gen = subprocess.Popen([LOADGEN, "broadcast", "--port", str(shared), "-n", str(args.n),
                                "-k", str(args.k), "-w", str(args.w), "-d", str(args.d),
                                "--setup-timeout", "60", "--drain-timeout", "5"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        # mid-run: how the kernel spread the clients over the nodes
        time.sleep(1.0 + args.d / 2.0)
        spread = [int(float(next(ln.split()[1] for ln in
                                 http_get(p, "/metrics").body.decode().splitlines()
                                 if ln.startswith("fastws_connections "))))
                  for p in pr.private]
        stdout, _ = gen.communicate(timeout=args.d + 120)
        wall = time.monotonic() - t0
        cpu = pr.cpu() - c0
        r = json.loads(stdout.decode().strip().splitlines()[-1])
        r["spread"] = spread
        r["all_cpu_pct"] = 100.0 * cpu / wall
        return r
    finally:
        pr.stop()


def cross_node_latency(args):
    pr = Procs()
    try:
        rport = pr.redis()
        a = pr.node("A", free_port(), rport)
        b = pr.node("B", free_port(), rport)
        sender, same = WS(a, "/ws/sender"), WS(a, "/ws/same")
        other = WS(b, "/ws/other")
        for c in (sender, same, other):   # let presence settle, drain user_joined
            c.sock.settimeout(1.0)
        time.sleep(0.5)
        for c in (sender, same, other):
            try:
                while True:
                    c.recv_text(timeout=0.2)
            except Exception:
                c.buf.clear()
        lat = {"same": [], "cross": []}
        n = args.probes
        for i in range(n):
            sender.chat({"i": i, "t": time.monotonic_ns()})
            for name, c in (("same", same), ("cross", other)):
                while True:
                    obj = json.loads(c.recv_text(timeout=5))
                    if obj["type"] == "chat":
                        break
                lat[name].append((time.monotonic_ns() - obj["data"]["t"]) / 1000.0)
            time.sleep(0.005)
        for c in (sender, same, other):
            c.close()
        return {k: (pct(v, 50), pct(v, 99)) for k, v in lat.items()}
    finally:
        pr.stop()


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def med(rs, key):
    return statistics.median(r[key] for r in rs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("-w", type=int, default=4)
    ap.add_argument("-d", type=int, default=7)
    ap.add_argument("--probes", type=int, default=400)
    ap.add_argument("--append")
    args = ap.parse_args()
    for path in (FASTWSD, LOADGEN):
        if not os.path.exists(path):
            sys.exit("missing %s (make; make %s)" % (path, LOADGEN))
    if not REDIS:
        sys.exit("redis-server is not installed")
    load0 = os.getloadavg()
    t0 = time.monotonic()
    results = {}
    for config in ("single", "1 node", "3 nodes"):
        results[config] = [run_broadcast(config, args) for _ in range(args.runs)]
        print("cluster_bench: %s done" % config, file=sys.stderr)
    lat = [cross_node_latency(args) for _ in range(args.runs)]
    load1 = os.getloadavg()

    rows = [
        ("chat messages per second (up)", "msgs_per_s", "%.0f"),
        ("deliveries per second (up)", "deliveries_per_s", "%.0f"),
        ("broadcast latency p50, ms (down)", "lat_p50_us", None),
        ("broadcast latency p99, ms (down)", "lat_p99_us", None),
        ("CPU of all server processes (fastwsd + redis), % (down)", "all_cpu_pct", "%.0f"),
        ("load generator CPU, %", "gen_cpu_pct", "%.0f"),
    ]
    out = []
    out.append("\n## cluster: 1 node vs 3 nodes through Redis\n")
    out.append("Generated by `/usr/bin/python3 tests/bench/cluster_bench.py` (%d run(s), medians). "
               "loadgen `broadcast -n %d -k %d -w %d -d %d` against one port; the nodes share it "
               "(`reuse_port = on`). *single*: no `[cluster]`; *1 node*: the same with "
               "`redis_url` (each message also PUBLISHed, and echoed back by Redis); "
               "*3 nodes*: three processes and one redis-server, the kernel spreading the "
               "clients, so ~2/3 of the deliveries of each message cross Redis. No pinning.\n"
               % (args.runs, args.n, args.k, args.w, args.d))
    out.append("- nproc: %d; load average at start %.2f, at end %.2f; total time %.0f s%s\n"
               % (os.cpu_count(), load0[0], load1[0], time.monotonic() - t0,
                  " -- **3 nodes + redis + the generator share %d cores here: this shows the "
                  "cost of the backplane, not the scale-out a machine with a core per node "
                  "would give**" % os.cpu_count() if os.cpu_count() < 5 else ""))
    out.append("| metric | single | 1 node + Redis | 3 nodes + Redis | 3 nodes / single |")
    out.append("|---|---|---|---|---|")
    for label, key, fmt in rows:
        vals = [med(results[c], key) for c in ("single", "1 node", "3 nodes")]
        if fmt is None:
            cells = ["%.2f" % (v / 1000.0) for v in vals]
        else:
            cells = [fmt % v for v in vals]
        ratio = "%.2fx" % (vals[2] / vals[0]) if vals[0] and "generator" not in label else ""
        out.append("| %s | %s | %s |" % (label, " | ".join(cells), ratio))
    viol = [sum(r["violations"] + r["missing"] + r["order_violations"] for r in results[c])
            for c in ("single", "1 node", "3 nodes")]
    out.append("| loss/order violations (all runs) | %d | %d | %d | |" % tuple(viol))
    spread = results["3 nodes"][0]["spread"]
    out.append("| clients per node (3 nodes, first run) | | | %s | |"
               % " / ".join(str(x) for x in spread))
    out.append("")
    out.append("Cross-node latency, idle (2 nodes; a Python client on A chats %d timestamped "
               "messages 5 ms apart; arrival - send, microseconds, median of runs):\n"
               % args.probes)
    out.append("| path | p50, us | p99, us |")
    out.append("|---|---|---|")
    for name, label in (("same", "same node (A -> A)"), ("cross", "cross-node (A -> Redis -> B)")):
        out.append("| %s | %.0f | %.0f |" % (label, statistics.median(x[name][0] for x in lat),
                                             statistics.median(x[name][1] for x in lat)))
    text = "\n".join(out) + "\n"
    print(text)
    if args.append:
        with open(args.append, "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
