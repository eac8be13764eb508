"""Hostile clients against one daemon with tiny limits (PROTOCOL.md sections
3-5), all at once, while two bystanders chat: each hostile client gets its
exact close code (or is dropped), the daemon keeps running, and the
bystanders lose nothing (every chat comes back to its sender and reaches the
other bystander, in order, with no error and no close). The daemon's peak
RSS during the run is printed as an `RSS ...` line.

Hostile clients (one thread each, looping for DURATION seconds):
  malformed   unmasked / RSV / reserved opcode / fragmented ping /
              orphan continuation / non-minimal length / 126-byte ping -> 1002
  oversized   one frame, fragments, or a declared length over 4096   -> 1009
  slowloris   half a request, then a byte every 300 ms               -> dropped ~1 s
  slow        SO_RCVBUF and MSS small, does not read, keeps itself alive
              with unsolicited pongs while feeders broadcast 3.5 KB chats;
              reads once the daemon has given up on it      -> 1008 "slow consumer"
  deaf        the same, but never reads at all              -> dropped (user_left) within linger
  pingflood   200 pings of 125 bytes in one send, reads the pongs     -> all answered, in order
  pingstop    pings (8 per 5 ms) without reading, like slow          -> 1008 "slow consumer"
  utf8        text with invalid UTF-8                                 -> 1007
  closecodes  close with an invalid code                             -> 1002
  binary      a binary message                                       -> 1003
"""

import select
import socket
import threading
import time
import traceback
import unittest

from harness import (ServerTestCase, WS, WSClosed, build_frame, close_payload,
                     make_key, wait_for, TIMEOUT, OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG)

DURATION = 6.0
CHAT_EVERY = 0.05
BIG = "B" * 3500          # a feeder's chat: under max_message_size 4096 as JSON


class TWS(WS):
    """A WS whose sends are serialised, so a reader thread may pong while a
    writer thread chats. rcvbuf / maxseg are set before connect: a small
    TCP_MAXSEG keeps the daemon's kernel send buffer for this socket small
    (Linux sizes it from the MSS), so a client that does not read shows up
    in the daemon's own backlog after ~100 KB instead of ~2.5 MB."""

    def __init__(self, port, path, rcvbuf=None, maxseg=None, timeout=TIMEOUT):
        self._lock = threading.Lock()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            if maxseg:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, maxseg)
            s.settimeout(timeout)
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            raise
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # the state Conn.__init__ and WS.__init__ set up
        self.port, self.addr, self.sock = port, "127.0.0.1", s
        self.buf, self.eof, self.closed = bytearray(), False, False
        self.path, self.key, self.auto_pong = path, make_key(), True
        self.response = self.close_frame = None
        self.handshake()

    def send(self, data):
        with self._lock:
            self.sock.sendall(data)


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


MALFORMED = [
    ("unmasked", build_frame(OP_TEXT, b'{"type":"chat","data":1}', mask=False)),
    ("rsv1", build_frame(OP_TEXT, b'{"type":"chat","data":1}', rsv=4)),
    ("rsv3", build_frame(OP_TEXT, b"{}", rsv=1)),
    ("opcode 3", build_frame(3, b"x")),
    ("opcode 11", build_frame(11, b"")),
    ("fragmented ping", build_frame(OP_PING, b"a", fin=False) + build_frame(OP_CONT, b"b")),
    ("orphan continuation", build_frame(OP_CONT, b"x")),
    ("new text inside a message", build_frame(OP_TEXT, b'{"type":', fin=False)
     + build_frame(OP_TEXT, b"{}")),
    ("non-minimal 16-bit length", build_frame(OP_TEXT, b"{}", length_mode=16)),
    ("64-bit length top bit", build_frame(OP_TEXT, b"", length_mode=64, length=1 << 63)),
    ("126-byte ping", build_frame(OP_PING, b"p" * 126)),
]

OVERSIZED = [
    ("one frame", build_frame(OP_TEXT, b'{"type":"chat","data":"' + b"o" * 5000 + b'"}')),
    ("fragments", build_frame(OP_TEXT, b"o" * 2000, fin=False)
     + build_frame(OP_CONT, b"o" * 2000, fin=False) + build_frame(OP_CONT, b"o" * 2000)),
    ("declared 2^62", build_frame(OP_TEXT, b"", length=1 << 62)),
]

BAD_UTF8 = [b'{"type":"chat","data":"\xff"}', b'{"type":"chat","data":"\xed\xa0\x80"}',
            b'{"type":"chat","data":"\xc0\xaf"}']

BAD_CLOSE = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000]


class Adversarial(ServerTestCase):
    CONFIG = {"websocket": {"max_message_size": "4096", "max_send_buffer": "65536",
                            "handshake_timeout": "1", "idle_timeout": "3",
                            "heartbeat_interval": "1", "rate_limit": "50",
                            "rate_burst": "10"}}

    def setUp(self):
        super().setUp()
        self.failures = []
        self.stats = {}
        self.stop = threading.Event()        # hostile clients: no new round
        self.feed_stop = threading.Event()   # feeders and bystander writers
        self.threads = []
        self.steady = []
        self.seq = 0
        self.seq_lock = threading.Lock()

    # -- plumbing ----------------------------------------------------------

    def cid(self, prefix):
        with self.seq_lock:
            self.seq += 1
            return "%s-%d" % (prefix, self.seq)

    def spawn(self, name, fn, *args, steady=False):
        def run():
            try:
                fn(*args)
            except Exception:
                self.failures.append("%s: %s" % (name, traceback.format_exc()))
        t = threading.Thread(target=run, name=name, daemon=True)
        t.start()
        (self.steady if steady else self.threads).append(t)
        return t

    def count(self, key, n=1):
        with self.seq_lock:
            self.stats[key] = self.stats.get(key, 0) + n

    def timing(self, key, secs):
        with self.seq_lock:
            self.stats[key] = max(self.stats.get(key, 0.0), secs)

    def hostile_loop(self, name, once, pause=0.1):
        while not self.stop.is_set():
            once()
            self.count(name)
            self.stop.wait(pause)

    def expect_code(self, c, code, reason=None):
        f = c.expect_close(code)
        if reason is not None and f.close_reason != reason:
            raise AssertionError("close reason %r, want %r" % (f.close_reason, reason))

    # -- bystanders ----------------------------------------------------------

    def bystander_reader(self, c, me, got):
        """Collects chats (by sender) until both bystanders' 'done' arrived."""
        done = set()
        while len(done) < 2:
            try:
                env = c.recv_env(timeout=10)
            except WSClosed as e:
                raise AssertionError("bystander %s was closed: %s %r" % (me, e.code, e.reason))
            t = env.type
            if t == "error":
                raise AssertionError("bystander %s got an error: %s" % (me, env.raw))
            if t != "chat":
                continue
            sender = env["client_id"]
            if sender in ("by1", "by2"):
                if env.data == "done":
                    done.add(sender)
                else:
                    got.setdefault(sender, []).append(env.data["seq"])

    def bystander_writer(self, c, every, sent):
        i = 0
        while not self.feed_stop.is_set():
            c.send_json({"type": "chat", "data": {"seq": i, "pad": "p" * 200}})
            sent.append(i)
            i += 1
            time.sleep(every)
        c.send_json({"type": "chat", "data": "done"})

    # -- hostile clients --------------------------------------------------------

    def malformed(self):
        k = [0]

        def once():
            name, data = MALFORMED[k[0] % len(MALFORMED)]
            k[0] += 1
            c = TWS(self.port, "/ws/" + self.cid("mal"))
            try:
                c.send(data)
                self.expect_code(c, 1002)
            except AssertionError as e:
                raise AssertionError("malformed %s: %s" % (name, e))
            finally:
                c.close()
        self.hostile_loop("malformed", once)

    def oversized(self):
        k = [0]

        def once():
            name, data = OVERSIZED[k[0] % len(OVERSIZED)]
            k[0] += 1
            c = TWS(self.port, "/ws/" + self.cid("big"))
            try:
                c.send(data)
                self.expect_code(c, 1009)
            except AssertionError as e:
                raise AssertionError("oversized %s: %s" % (name, e))
            finally:
                c.close()
        self.hostile_loop("oversized", once)

    def slowloris(self):
        def once():
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            try:
                t0 = time.monotonic()
                s.sendall(b"GET /ws/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          % self.cid("loris").encode())
                got = b""
                while True:
                    if select.select([s], [], [], 0.3)[0]:
                        try:
                            chunk = s.recv(4096)
                        except ConnectionResetError:
                            break
                        if not chunk:
                            break
                        got += chunk
                        continue
                    if time.monotonic() - t0 > 2.0:
                        raise AssertionError("slowloris still connected after 2s")
                    try:
                        s.sendall(b"X")
                    except OSError:
                        break
                el = time.monotonic() - t0
                if not 0.8 < el < 2.0:
                    raise AssertionError("slowloris dropped after %.2fs, want ~1s" % el)
                if got and not got.startswith(b"HTTP/1.1 408 "):
                    raise AssertionError("slowloris got %r" % got[:200])
            finally:
                s.close()
        self.hostile_loop("slowloris", once, pause=0)

    def decided(self, cid):
        """The daemon logged its slow-consumer verdict on cid (at the moment it
        queued close 1008)."""
        return ("(%s): slow consumer" % cid) in self.server.log_text()

    def slow_consumer(self, prefix, flood_pings=False, deaf=False):
        """Never reads (tiny SO_RCVBUF and MSS) while the feeders broadcast;
        keeps the daemon hearing from it (unsolicited pongs, or a ping flood)
        until the daemon gives up on it. Then it reads what is there:
        complete frames, then close 1008 "slow consumer", then EOF. deaf:
        it never reads at all, and the daemon drops it anyway (its close
        frame cannot arrive) within the linger time."""
        def once():
            cid = self.cid(prefix)
            c = TWS(self.port, "/ws/" + cid, rcvbuf=2048, maxseg=536)
            try:
                t0 = time.monotonic()
                while not self.decided(cid):
                    if time.monotonic() - t0 > 8:
                        raise AssertionError("%s: no slow-consumer verdict after 8s" % cid)
                    try:
                        if flood_pings:
                            c.send(build_frame(OP_PING, b"f" * 125) * 8)
                            time.sleep(0.005)
                        else:
                            c.send(build_frame(OP_PONG, b"alive"))
                            time.sleep(0.05)
                    except OSError as e:
                        raise AssertionError("%s: send failed before the verdict: %r" % (cid, e))
                self.timing(prefix + " max s to verdict", time.monotonic() - t0)
                if deaf:
                    t1 = time.monotonic()
                    wait_for(lambda: cid not in self.clients_list()["clients"], timeout=4,
                             msg="%s dropped" % cid)
                    self.timing(prefix + " max s verdict to drop", time.monotonic() - t1)
                    return
                self.expect_code(c, 1008, "slow consumer")
            finally:
                c.close()
        self.hostile_loop(prefix, once, pause=0.2)

    def feeder(self, cid):
        """Chats 3.5 KB messages at 40/s (under rate_limit 50/s) and drains
        everything it receives without parsing."""
        c = TWS(self.port, "/ws/" + cid)

        def drain():
            try:
                while c.sock.recv(1 << 16):
                    pass
            except OSError:
                pass
        th = threading.Thread(target=drain, daemon=True)
        th.start()
        i = 0
        while not self.feed_stop.is_set():
            c.send_json({"type": "chat", "data": {"feed": i, "blob": BIG}})
            i += 1
            time.sleep(0.025)
        self.count("feeder chats", i)
        c.send_close(1000)
        th.join(10)
        c.close()

    def pingflood(self):
        def once():
            c = TWS(self.port, "/ws/" + self.cid("pings"))
            try:
                n = 200
                payloads = [b"%03d" % i + b"." * 122 for i in range(n)]
                c.send(b"".join(build_frame(OP_PING, p) for p in payloads))
                got = []
                while len(got) < n:
                    f = c.recv_frame()
                    if f.opcode == OP_PONG:
                        got.append(f.payload)
                    elif f.opcode == OP_CLOSE:
                        raise AssertionError("ping flood (reading) closed: %r" % f)
                    elif f.opcode == OP_PING:
                        c.send_frame(OP_PONG, f.payload)
                if got != payloads:
                    raise AssertionError("pongs out of order or altered")
                c.close_handshake()
            finally:
                c.close()
        self.hostile_loop("pingflood", once)

    def utf8(self):
        k = [0]

        def once():
            data = BAD_UTF8[k[0] % len(BAD_UTF8)]
            k[0] += 1
            c = TWS(self.port, "/ws/" + self.cid("utf8"))
            try:
                c.send_frame(OP_TEXT, data)
                self.expect_code(c, 1007)
            finally:
                c.close()
        self.hostile_loop("utf8", once)

    def close_codes(self):
        k = [0]

        def once():
            code = BAD_CLOSE[k[0] % len(BAD_CLOSE)]
            k[0] += 1
            c = TWS(self.port, "/ws/" + self.cid("closer"))
            try:
                c.send_frame(OP_CLOSE, close_payload(code))
                self.expect_code(c, 1002)
            except AssertionError as e:
                raise AssertionError("close code %d: %s" % (code, e))
            finally:
                c.close()
        self.hostile_loop("closecodes", once)

    def binary(self):
        def once():
            c = TWS(self.port, "/ws/" + self.cid("bin"))
            try:
                c.send_frame(OP_BINARY, b"\x00\x01\x02")
                self.expect_code(c, 1003)
            finally:
                c.close()
        self.hostile_loop("binary", once)

    # -- the run -------------------------------------------------------------------

    def test_hostile_clients_and_bystanders(self):
        pid = self.server.proc.pid
        rss = {"max": 0}

        def monitor():
            while not self.feed_stop.is_set() or not rss.get("final"):
                rss["max"] = max(rss["max"], vm_kib(pid, "VmRSS"))
                if self.feed_stop.is_set():
                    rss["final"] = True
                time.sleep(0.02)
        rss0 = vm_kib(pid, "VmRSS")

        by1 = TWS(self.port, "/ws/by1")
        self.addCleanup(by1.close)
        by2 = TWS(self.port, "/ws/by2")
        self.addCleanup(by2.close)
        by1.recv_until("user_joined", data={"user_id": "by2", "count": 2})
        got1, got2, sent1, sent2 = {}, {}, [], []
        readers = [threading.Thread(target=self._guard, args=("by1 reader", self.bystander_reader,
                                                              by1, "by1", got1), daemon=True),
                   threading.Thread(target=self._guard, args=("by2 reader", self.bystander_reader,
                                                              by2, "by2", got2), daemon=True)]
        for t in readers:
            t.start()
        mon = threading.Thread(target=monitor, daemon=True)
        mon.start()
        self.spawn("by1 writer", self.bystander_writer, by1, CHAT_EVERY, sent1, steady=True)
        self.spawn("by2 writer", self.bystander_writer, by2, 0.2, sent2, steady=True)
        self.spawn("feed1", self.feeder, "feed1", steady=True)
        self.spawn("feed2", self.feeder, "feed2", steady=True)
        self.spawn("malformed", self.malformed)
        self.spawn("oversized", self.oversized)
        self.spawn("slowloris", self.slowloris)
        self.spawn("slow", self.slow_consumer, "slow")
        self.spawn("deaf", self.slow_consumer, "deaf", False, True)
        self.spawn("pingstop", self.slow_consumer, "pingstop", True)
        self.spawn("pingflood", self.pingflood)
        self.spawn("utf8", self.utf8)
        self.spawn("closecodes", self.close_codes)
        self.spawn("binary", self.binary)
        time.sleep(DURATION)
        self.stop.set()
        for t in self.threads:      # hostiles finish their round, traffic still flowing
            t.join(20)
            if t.is_alive():
                self.failures.append("%s did not finish" % t.name)
        self.feed_stop.set()
        for t in self.steady:
            t.join(15)
            if t.is_alive():
                self.failures.append("%s did not finish" % t.name)
        for t in readers:
            t.join(15)
            if t.is_alive():
                self.failures.append("%s did not see both 'done' chats" % t.name)
        mon.join(5)
        hwm = vm_kib(pid, "VmHWM")
        self.server.assert_alive()
        stats = ", ".join("%s %s" % (k, round(v, 2) if isinstance(v, float) else v)
                          for k, v in sorted(self.stats.items()))
        print("\n  RSS adversarial run: VmRSS %d KiB at start, peak %d KiB polled, VmHWM %d KiB"
              "\n  rounds: %s; by1 sent %d, by2 sent %d"
              % (rss0, rss["max"], hwm, stats, len(sent1), len(sent2)), flush=True)
        if self.failures:
            self.fail("%d hostile/bystander failures:\n%s"
                      % (len(self.failures), "\n".join(self.failures[:8])))
        # the bystanders lost nothing
        self.assertEqual(got1.get("by1"), sent1, "by1 did not get its own chats back in order")
        self.assertEqual(got2.get("by1"), sent1, "by2 did not get by1's chats in order")
        self.assertEqual(got2.get("by2"), sent2, "by2 did not get its own chats back in order")
        self.assertEqual(got1.get("by2"), sent2, "by1 did not get by2's chats in order")
        for name in ("malformed", "oversized", "slowloris", "slow", "deaf", "pingstop", "pingflood",
                     "utf8", "closecodes", "binary"):
            self.assertGreater(self.stats.get(name, 0), 0, "%s never completed a round" % name)
        # and they still chat
        self.assert_chat_works(by1, "by1", [by2])

    def _guard(self, name, fn, *args):
        try:
            fn(*args)
        except Exception:
            self.failures.append("%s: %s" % (name, traceback.format_exc()))


if __name__ == "__main__":
    unittest.main()
