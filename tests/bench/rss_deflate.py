#!/usr/bin/env python3
"""Daemon RSS per idle WebSocket connection with permessage-deflate offered
and negotiated, against not offered (issue 5). Opens N raw connections to
127.0.0.1 (bounded, closes them all at the end), reads VmRSS of the daemon
before and after. Usage: rss_deflate.py BINARY [N]"""
import base64, os, resource, socket, subprocess, sys, tempfile, time

def vmrss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def run(binary, n, offer):
    port = free_port()
    tmp = tempfile.mkdtemp()
    conf = os.path.join(tmp, "c.conf")
    with open(conf, "w") as f:
        f.write("[server]\nlisten = 127.0.0.1:%d\necho_path = /echo\n"
                "[websocket]\nheartbeat_interval = 0\nidle_timeout = 0\n" % port)
    proc = subprocess.Popen([binary, "-c", conf], stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    base = vmrss(proc.pid)
    socks = []
    ext = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if offer else ""
    negotiated = 0
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(("GET /echo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                   "%s\r\n" % (port, key, ext)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        assert head.startswith(b"HTTP/1.1 101"), head[:40]
        negotiated += b"permessage-deflate" in head
        socks.append(s)
    time.sleep(0.5)
    after = vmrss(proc.pid)
    for s in socks:
        s.close()
    proc.terminate(); proc.wait(timeout=10)
    return (after - base) * 1024.0 / n, negotiated

if __name__ == "__main__":
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for offer in (False, True):
        per, neg = run(binary, n, offer)
        print('{"scenario":"rss_per_connection","deflate_offered":%s,"connections":%d,'
              '"negotiated":%d,"rss_bytes_per_connection":%.0f}'
              % ("true" if offer else "false", n, neg, per))
