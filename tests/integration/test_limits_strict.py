"""Limits under tiny, strict configs (PROTOCOL.md sections 1, 2, 4, 5):
handshake_timeout against slowloris clients, max_header_size and the
100-field cap (431), frame length arithmetic (1002 / 1009 before any
payload), a fragment flood (memory stays flat), max_message_size over a
reassembled message, max_connections / max_connections_per_ip (503), and the
fd-limit warning when max_connections exceeds RLIMIT_NOFILE.

Memory figures (the daemon's VmRSS) are printed as `RSS ...` lines."""

import os
import resource
import select
import socket
import subprocess
import threading
import time
import unittest

from harness import (ServerTestCase, Server, WS, build_frame, build_request, PeerClosed,
                     OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE)


# 1000 slowloris sockets plus the daemon's own: make sure the soft fd limit
# (inherited by the daemon) has room.
def _raise_nofile(want=8192):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


_raise_nofile()


def vm_kib(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("%s not in /proc/%d/status" % (field, pid))


def report(msg):
    print("\n  RSS " + msg, flush=True)


def next_close(c, timeout=None):
    """The next frame must be a close; returns it."""
    try:
        f = c.recv_frame(timeout)
    except PeerClosed:
        raise AssertionError("server dropped TCP without a close frame")
    if f.opcode != OP_CLOSE:
        raise AssertionError("expected a close frame, got %r" % f)
    return f


def finish_close(c, f):
    """Echo the server's close; the server then closes TCP."""
    try:
        c.sock.sendall(build_frame(OP_CLOSE, f.payload[:2]))
    except OSError:
        pass
    rest = c.read_all_until_eof(3.0)
    if rest:
        raise AssertionError("bytes after the close frame: %r" % rest[:200])
    c.close()


# --------------------------------------------------------------------------
# handshake_timeout
# --------------------------------------------------------------------------

PARTIAL = b"GET /ws/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"


class HandshakeTimeout(ServerTestCase):
    CONFIG = {"websocket": {"handshake_timeout": "1"}}

    def slowloris(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.addCleanup(s.close)
        s.sendall(PARTIAL)
        return s

    def test_slowloris_dropped_within_1_5s(self):
        t0 = time.monotonic()
        s = self.slowloris()
        got = b""
        i = 0
        while True:
            r, _, _ = select.select([s], [], [], 0.3)
            if r:
                try:
                    chunk = s.recv(4096)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                got += chunk
                continue
            elapsed = time.monotonic() - t0
            self.assertLess(elapsed, 1.6, "slowloris still connected after %.2fs" % elapsed)
            try:
                s.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                break
            i += 1
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 1.6, "dropped after %.2fs, want ~1s" % elapsed)
        self.assertGreater(elapsed, 0.8, "dropped after %.2fs, before handshake_timeout" % elapsed)
        self.assertGreater(i, 1, "the trickle never ran")
        print("\n  slowloris dropped after %.2fs (%d bytes trickled), got %r"
              % (elapsed, i, got[:40]), flush=True)
        # anything it got is an HTTP error (408), never a 101
        if got:
            self.assertRegex(got, rb"^HTTP/1\.1 408 ", got[:200])

    def test_thousand_slowloris_do_not_block_a_normal_client(self):
        n = 1000
        socks = []
        deadline = time.monotonic() + 10
        t0 = time.monotonic()
        try:
            while len(socks) < n and time.monotonic() < deadline:
                s = socket.socket()
                s.setblocking(True)
                s.settimeout(2)
                s.connect(("127.0.0.1", self.port))
                s.sendall(PARTIAL)
                socks.append(s)
            self.assertEqual(len(socks), n, "could only open %d slowloris clients" % len(socks))
            opened = time.monotonic() - t0
            stop = threading.Event()

            def trickle():
                while not stop.is_set():
                    for s in socks:
                        try:
                            s.send(b"X")
                        except OSError:
                            pass
                    stop.wait(0.3)

            th = threading.Thread(target=trickle, daemon=True)
            th.start()
            try:
                # a normal client connects and chats while all of them hang on
                t1 = time.monotonic()
                a = self.ws("alice")
                b = self.ws("bob")
                a.recv_until("user_joined", data={"user_id": "bob", "count": 2})
                self.barrier(a, [a, b])
                self.barrier(b, [a, b])
                connect_time = time.monotonic() - t1
                # every slowloris is dropped by its own deadline
                open_ = set(socks)
                end = time.monotonic() + 3.0
                while open_ and time.monotonic() < end:
                    r, _, _ = select.select(list(open_)[:900], [], [], 0.2)
                    for s in r:
                        try:
                            if s.recv(4096) == b"":
                                open_.discard(s)
                        except OSError:
                            open_.discard(s)
                self.assertEqual(len(open_), 0,
                                 "%d of %d slowloris clients still connected %.1fs after "
                                 "the last opened" % (len(open_), n, time.monotonic() - t0 - opened))
            finally:
                stop.set()
                th.join()
            # the normal clients are WebSockets: untouched by handshake_timeout
            self.barrier(a, [a, b])
            print("\n  1000 slowloris opened in %.2fs; normal client connected and chatted in "
                  "%.3fs" % (opened, connect_time), flush=True)
        finally:
            for s in socks:
                s.close()


# --------------------------------------------------------------------------
# header limits
# --------------------------------------------------------------------------

class HeaderLimits(ServerTestCase):
    CONFIG = {"websocket": {"max_header_size": "2048", "handshake_timeout": "5"}}
    PER_TEST = False

    def raw(self, data):
        c = self.conn()
        c.send(data)
        r = c.read_response()
        return c, r

    def expect_431_close(self, data):
        c, r = self.raw(data)
        self.assertEqual(r.status, 431, r)
        self.assertEqual(c.expect_eof(), b"")
        return r

    def test_header_block_over_limit_431(self):
        for path in ("/", "/ws/big"):
            with self.subTest(path=path):
                self.expect_431_close(build_request("GET", path, [
                    ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                    ("X-Big", "a" * 3000)]))

    def test_header_block_under_limit_ok(self):
        c, r = self.raw(build_request("GET", "/", [("X-Big", "a" * 1500)]))
        self.assertEqual(r.status, 200, r)

    def test_many_small_headers_431(self):
        # 101 fields (Host + 100), together far under 2048 bytes
        hs = [("x%d" % i, "v") for i in range(100)]
        data = build_request("GET", "/", hs)
        self.assertLess(len(data), 2048)
        self.expect_431_close(data)

    def test_hundred_fields_ok(self):
        hs = [("x%d" % i, "v") for i in range(99)]   # + Host = 100
        c, r = self.raw(build_request("GET", "/", hs))
        self.assertEqual(r.status, 200, r)

    def test_request_line_over_limit_431(self):
        self.expect_431_close(("GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % ("a" * 3000)).encode())

    def test_request_line_over_limit_unterminated_431(self):
        # the limit applies before the request line ends
        c = self.conn()
        c.send(b"GET /" + b"a" * 4000)
        r = c.read_response()
        self.assertEqual(r.status, 431, r)
        self.assertEqual(c.expect_eof(), b"")

    def test_one_mib_of_headers_refused_early(self):
        pid = self.server.proc.pid
        # warm up the daemon's buffers with a normal request first
        self.assertEqual(self.http("GET", "/").status, 200)
        rss0 = vm_kib(pid)
        c = self.conn()
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        total = 1 << 20
        sent = 0
        line = b"X-Flood: " + b"f" * 1013 + b"\r\n"    # 1 KiB a line
        answered_at = None
        try:
            while sent < total:
                c.sock.sendall(line * 4)
                sent += 4 * len(line)
                if select.select([c.sock], [], [], 0.001)[0]:
                    answered_at = sent
                    break
        except (BrokenPipeError, ConnectionResetError):
            answered_at = sent
        self.assertIsNotNone(answered_at, "the server did not answer while 1 MiB of header "
                             "bytes was sent")
        self.assertLess(answered_at, total)
        r = c.read_response()
        self.assertEqual(r.status, 431, r)
        c.expect_eof()
        rss1 = vm_kib(pid)
        report("1 MiB header flood: answered 431 after %d bytes sent; VmRSS %d -> %d KiB "
               "(%+d KiB)" % (answered_at, rss0, rss1, rss1 - rss0))
        self.assertLess(rss1 - rss0, 1024, "RSS grew by %d KiB" % (rss1 - rss0))


# --------------------------------------------------------------------------
# length arithmetic
# --------------------------------------------------------------------------

class LengthArithmetic(ServerTestCase):
    CONFIG = {"server": {"echo_path": "/echo"},
              "websocket": {"max_message_size": "65536"}}
    PER_TEST = False
    PATHS = ("/echo", "/ws/len")

    def each_path(self, data, code, payload_follows=True):
        for path in self.PATHS:
            with self.subTest(path=path):
                c = self.ws(path=path)
                c.send(data)
                f = next_close(c, timeout=2.0)
                self.assertEqual(f.close_code, code, f)
                finish_close(c, f)

    def test_64bit_length_top_bit_1002(self):
        for n in (1 << 63, (1 << 64) - 1, (1 << 63) + 5):
            with self.subTest(n=n):
                self.each_path(build_frame(OP_TEXT, b"", length_mode=64, length=n) + b"abc",
                               1002)

    def test_non_minimal_lengths_1002(self):
        cases = [(16, 0), (16, 5), (16, 125), (64, 0), (64, 125), (64, 126), (64, 65535)]
        for mode, n in cases:
            with self.subTest(mode=mode, n=n):
                self.each_path(build_frame(OP_TEXT, b"a" * n, length_mode=mode), 1002)

    def test_huge_declared_length_1009_before_payload(self):
        # only the header and mask key go out: the close must come at once
        for n in (1 << 62, (1 << 63) - 1, 65537, 1 << 32):
            with self.subTest(n=n):
                self.each_path(build_frame(OP_TEXT, b"", length=n), 1009)

    def test_limit_exact_ok(self):
        c = self.ws(path="/echo")
        c.send_frame(OP_BINARY, b"\x01" * 65536)
        self.assertEqual(c.recv_message(), (OP_BINARY, b"\x01" * 65536))
        c.close_handshake()


# --------------------------------------------------------------------------
# max_message_size over the reassembled message
# --------------------------------------------------------------------------

class ReassembledLimit(ServerTestCase):
    CONFIG = {"server": {"echo_path": "/echo"},
              "websocket": {"max_message_size": "4096"}}
    PER_TEST = False

    def test_fragments_over_limit_1009_when_passed(self):
        for path in ("/echo", "/ws/frag"):
            with self.subTest(path=path):
                c = self.ws(path=path)
                c.send(build_frame(OP_TEXT, b"a" * 1000, fin=False)
                       + b"".join(build_frame(OP_CONT, b"a" * 1000, fin=False) for _ in range(3)))
                c.expect_nothing(0.3)   # 4000 bytes: still under the limit
                c.send(build_frame(OP_CONT, b"a" * 97, fin=False))   # 4097: over
                f = next_close(c, timeout=2.0)
                self.assertEqual(f.close_code, 1009, f)
                finish_close(c, f)

    def test_many_tiny_fragments_over_limit_1009(self):
        c = self.ws(path="/echo")
        c.send(build_frame(OP_BINARY, b"b", fin=False)
               + b"".join(build_frame(OP_CONT, b"b", fin=False) for _ in range(5000)))
        f = next_close(c, timeout=2.0)
        self.assertEqual(f.close_code, 1009, f)
        finish_close(c, f)

    def test_fragments_at_limit_ok(self):
        c = self.ws(path="/echo")
        c.send(build_frame(OP_BINARY, b"x" * 4000, fin=False) + build_frame(OP_CONT, b"",
                                                                             fin=False)
               + build_frame(OP_CONT, b"y" * 96))
        self.assertEqual(c.recv_message(), (OP_BINARY, b"x" * 4000 + b"y" * 96))
        c.close_handshake()


# --------------------------------------------------------------------------
# one message larger than max_send_buffer, to a client that reads
# --------------------------------------------------------------------------

class SendBufferVsOneMessage(ServerTestCase):
    """max_send_buffer bounds the *unsent* backlog (PROTOCOL.md section 4):
    a client that reads promptly, with nothing queued, is not a slow
    consumer just because one message is bigger than the limit; the kernel
    takes it at once."""
    CONFIG = {"server": {"echo_path": "/echo"},
              "websocket": {"max_message_size": "200000", "max_send_buffer": "65536"}}
    PER_TEST = False

    def test_echo_of_100k_to_a_reading_client(self):
        c = self.ws(path="/echo")
        data = os.urandom(100000)
        c.send_frame(OP_BINARY, data)
        self.assertEqual(c.recv_message(), (OP_BINARY, data))
        c.close_handshake()

    def test_chat_of_100k_to_reading_clients(self):
        a, b = self.connect_all(["big-a", "big-b"])
        text = "k" * 100000
        a.chat(text)
        for c in (a, b):
            self.assertEqual(c.recv_until("chat", client_id="big-a").data, text)


# --------------------------------------------------------------------------
# fragment flood
# --------------------------------------------------------------------------

class FragmentFlood(ServerTestCase):
    CONFIG = {"websocket": {"max_message_size": "200000"}}

    def test_hundred_thousand_one_byte_fragments(self):
        a, b = self.connect_all(["flood", "watch"])
        pid = self.server.proc.pid
        head, tail = b'{"type":"chat","data":"', b'"}'
        body = b"q" * (100000 - len(head) - len(tail))
        msg = head + body + tail
        self.assertEqual(len(msg), 100000)
        data = bytearray(build_frame(OP_TEXT, msg[:1], fin=False))
        for i in range(1, len(msg)):
            data += build_frame(OP_CONT, msg[i:i + 1], fin=i == len(msg) - 1)
        rss0 = vm_kib(pid)
        hwm0 = vm_kib(pid, "VmHWM")
        figures = []
        for rnd in range(3):
            a.send(bytes(data))
            for c in (a, b):
                env = c.recv_until("chat", client_id="flood")
                self.assertEqual(env.data, body.decode())
            figures.append(vm_kib(pid))
        rss1 = vm_kib(pid)
        hwm1 = vm_kib(pid, "VmHWM")
        report("fragment flood (3 x 100,000 one-byte fragments, %d KB on the wire each): "
               "VmRSS %d -> %s KiB (%+d KiB), VmHWM %d -> %d KiB"
               % (len(data) // 1000, rss0, " -> ".join(map(str, figures)), rss1 - rss0,
                  hwm0, hwm1))
        self.assertLess(rss1 - rss0, 4096, "RSS grew by %d KiB" % (rss1 - rss0))
        self.barrier(b, [a, b])


# --------------------------------------------------------------------------
# connection limits
# --------------------------------------------------------------------------

class MaxConnections(ServerTestCase):
    CONFIG = {"limits": {"max_connections": "3"}}

    def test_fourth_upgrade_503_and_slot_frees(self):
        a, b, c = self.connect_all(["a", "b", "c"])
        for path in ("/ws/d", "/ws/e"):
            conn, r = self.upgrade(path)
            self.assertEqual(r.status, 503, r)
            self.assertIsNone(r.header("Sec-WebSocket-Accept"))
        self.barrier(a, [a, b, c])     # nobody heard of d or e
        c.close_handshake()
        for x in (a, b):
            x.recv_env(type="user_left", data={"user_id": "c", "count": 2})
        d = self.ws("d")
        for x in (a, b):
            x.recv_env(type="user_joined", data={"user_id": "d", "count": 3})
        conn, r = self.upgrade("/ws/e")
        self.assertEqual(r.status, 503, r)
        self.barrier(d, [a, b, d])


class MaxPerIp(ServerTestCase):
    CONFIG = {"limits": {"max_connections_per_ip": "2"}}

    def test_third_from_one_address_503_other_address_ok(self):
        a, b = self.connect_all(["a", "b"])
        conn, r = self.upgrade("/ws/c")
        self.assertEqual(r.status, 503, r)
        # 127.0.0.2 -> 127.0.0.1: a different peer address, counted apart
        d = WS(self.port, "/ws/d", source="127.0.0.2")
        self.addCleanup(d.close)
        e = WS(self.port, "/ws/e", source="127.0.0.2")
        self.addCleanup(e.close)
        for x in (a, b):
            x.recv_env(type="user_joined", data={"user_id": "d", "count": 3})
        for x in (a, b, d):
            x.recv_env(type="user_joined", data={"user_id": "e", "count": 4})
        f = WS(self.port, "/ws/f", source="127.0.0.2", handshake=False)
        self.addCleanup(f.close)
        f.send(build_request("GET", "/ws/f", f.upgrade_request(), host=None))
        self.assertEqual(f.read_response().status, 503)
        self.barrier(d, [a, b, d, e])
        # closing one frees a slot for that address only
        b.close_handshake()
        for x in (a, d, e):
            x.recv_env(type="user_left", data={"user_id": "b", "count": 3})
        c2 = self.ws("c")
        for x in (a, d, e):
            x.recv_env(type="user_joined", data={"user_id": "c", "count": 4})
        conn, r = self.upgrade("/ws/g")
        self.assertEqual(r.status, 503, r)
        self.barrier(c2, [a, c2, d, e])


# --------------------------------------------------------------------------
# RLIMIT_NOFILE below max_connections
# --------------------------------------------------------------------------

NOFILE = 4096


class NofileServer(Server):
    """Starts the daemon with RLIMIT_NOFILE soft = hard = NOFILE."""

    def start(self):
        orig = subprocess.Popen

        def popen(*a, **kw):
            kw["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                                          (NOFILE, NOFILE))
            return orig(*a, **kw)

        subprocess.Popen = popen
        try:
            return super().start()
        finally:
            subprocess.Popen = orig


class RlimitCap(ServerTestCase):
    CONFIG = {"limits": {"max_connections": "10000000"}}

    @classmethod
    def make_server(cls, config=None):
        from harness import merge_config
        return NofileServer(merge_config(cls.CONFIG, config), cls.STATIC_FILES,
                            cls.setup_static)

    def test_warns_with_effective_cap(self):
        with open("/proc/%d/limits" % self.server.proc.pid) as f:
            lim = [l for l in f if l.startswith("Max open files")][0].split()
        self.assertEqual(lim[3:5], [str(NOFILE), str(NOFILE)], lim)
        log = self.server.log_text()
        warn = [l for l in log.splitlines() if " warn " in l and str(NOFILE) in l]
        self.assertTrue(warn, "no warn line naming the fd limit %d in the log:\n%s"
                        % (NOFILE, log))
        self.assertRegex(warn[0], r"connection", warn[0])
        # and it still serves
        a = self.ws("a")
        self.assert_chat_works(a, "a")


if __name__ == "__main__":
    unittest.main()
