#!/usr/bin/env python3
"""Allocations per broadcast message in the steady state (issue 9).
Starts BINARY under the malloc_count.so shim, connects 10 clients with
Python websockets (no compression), warms up with 200 broadcasts, then
counts malloc+calloc+realloc over 2000 more. Prints one JSON line.
Usage: malloc_per_message.py BINARY SHIM"""
import asyncio, json, os, re, signal, socket, subprocess, sys, tempfile, time
import websockets

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def counts(log):
    with open(log) as f:
        m = re.findall(r"malloc=(\d+) calloc=(\d+) realloc=(\d+)", f.read())
    return sum(map(int, m[-1]))

async def run(port, pid, log):
    url = "ws://127.0.0.1:%d/ws/c%%d" % port
    cs = [await websockets.connect(url % i, compression=None) for i in range(10)]
    async def burst(n):
        for i in range(n):
            await cs[i % 10].send(json.dumps({"type": "chat", "data": {"text": "hello %d" % i}}))
        for c in cs:
            got = 0
            while got < n:
                if json.loads(await c.recv())["type"] == "chat":
                    got += 1
    await burst(200)
    os.kill(pid, signal.SIGUSR1); await asyncio.sleep(0.3)
    before = counts(log)
    await burst(2000)
    os.kill(pid, signal.SIGUSR1); await asyncio.sleep(0.3)
    after = counts(log)
    for c in cs:
        await c.close()
    return before, after

def main():
    binary, shim = sys.argv[1], os.path.abspath(sys.argv[2])
    port = free_port()
    tmp = tempfile.mkdtemp()
    conf, log = os.path.join(tmp, "c.conf"), os.path.join(tmp, "log")
    with open(conf, "w") as f:
        f.write("[server]\nlisten = 127.0.0.1:%d\n[websocket]\npermessage_deflate = off\n" % port)
    with open(log, "w") as lf:
        proc = subprocess.Popen([binary, "-c", conf], stderr=lf, env=dict(os.environ, LD_PRELOAD=shim))
    time.sleep(0.3)
    try:
        before, after = asyncio.run(run(port, proc.pid, log))
    finally:
        proc.terminate(); proc.wait(timeout=10)
    print(json.dumps({"scenario": "malloc_per_message", "messages": 2000, "recipients": 10,
                      "allocations": after - before,
                      "allocations_per_message": round((after - before) / 2000, 3)}))

main()
