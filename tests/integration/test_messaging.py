"""Messaging under real conditions (PROTOCOL.md sections 2-5): heartbeat
pings, idle timeout, vanished peers, backpressure (1008 "slow consumer")
with bounded memory, rate limiting, duplicate client ids (replace/reject),
and private messages addressed through data.recipient_id."""

import json
import os
import re
import socket
import sys
import time
import unittest

from harness import (ServerTestCase, WS, Conn, WSClosed, PeerClosed, build_frame, parse_envelope,
                     wait_for, OP_TEXT, OP_PING, OP_PONG, OP_CLOSE)

TS_RX = r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00"'


def cid_of(c):
    return c.path.rsplit("/", 1)[1]


def pump(clients, duration, answer=(), on_frame=None):
    """Reads every client for `duration` seconds. Pings are answered by the
    clients in `answer`; every frame goes to on_frame(client, frame, t)
    (t: seconds since the start); when it returns true, pump stops. A
    client whose socket ends is dropped from the loop and reported as frame
    None."""
    t0 = time.monotonic()
    live = list(clients)
    while live and time.monotonic() - t0 < duration:
        for c in list(live):
            try:
                f = c.recv_frame(timeout=0.05)
            except socket.timeout:
                continue
            except (PeerClosed, ConnectionError):
                live.remove(c)
                if on_frame and on_frame(c, None, time.monotonic() - t0):
                    return time.monotonic() - t0
                continue
            if f.opcode == OP_PING and c in answer:
                c.send_frame(OP_PONG, f.payload)
            if on_frame and on_frame(c, f, time.monotonic() - t0):
                return time.monotonic() - t0
    return time.monotonic() - t0


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def metric(text, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------
# Heartbeat and idle timeout
# --------------------------------------------------------------------------

class Heartbeat(ServerTestCase):
    CONFIG = {"websocket": {"heartbeat_interval": "1", "idle_timeout": "3"}}

    def test_pings_about_every_second(self):
        a = self.ws("hb", auto_pong=False)
        t0 = time.monotonic()
        times = []
        while len(times) < 4:
            f = a.recv_frame(timeout=3)
            self.assertEqual(f.opcode, OP_PING, "expected only pings, got %r" % f)
            self.assertTrue(f.fin)
            self.assertLessEqual(len(f.payload), 125)
            times.append(time.monotonic() - t0)
            a.send_frame(OP_PONG, f.payload)
        gaps = [b - a_ for a_, b in zip(times, times[1:])]
        self.assertTrue(0.5 <= times[0] <= 1.6, "first ping after %.2fs" % times[0])
        for g in gaps:
            self.assertTrue(0.6 <= g <= 1.5, "pings %.2fs apart (times %r)" % (g, times))
        self.assert_chat_works(a, "hb")

    def test_pong_only_client_outlives_idle_timeout(self):
        quiet, watcher = self.connect_all(["quiet", "watcher"])
        bad = []

        def seen(c, f, t):
            if f is None or f.opcode not in (OP_PING,):
                bad.append((cid_of(c), f, round(t, 2)))

        # both only answer pings, send nothing else, for well past idle_timeout (3 s)
        pump([quiet, watcher], 5.0, answer=(quiet, watcher), on_frame=seen)
        self.assertEqual(bad, [], "unexpected frames/closes while only answering pings")
        self.assertEqual(sorted(self.clients_list()["clients"]), ["quiet", "watcher"])
        self.assert_chat_works(quiet, "quiet", [watcher])
        self.assert_chat_works(watcher, "watcher", [quiet])

    def test_silent_client_closed_1000_timeout(self):
        watcher = self.ws("watcher")
        mute = self.ws("mute", auto_pong=False)
        watcher.recv_until("user_joined", skip=(), data={"user_id": "mute", "count": 2})
        t0 = time.monotonic()
        events = []

        def seen(c, f, t):
            if c is mute and f is not None and f.opcode == OP_CLOSE:
                events.append(("close", f, t))
            elif c is watcher and f is not None and f.opcode == OP_TEXT:
                events.append(("text", parse_envelope(f.payload.decode()), t))
            # user_left goes out as the close starts: the two may be read in
            # either order, so wait for both.
            kinds = {e[0] for e in events}
            return "close" in kinds and "text" in kinds

        # mute never answers; watcher does
        pump([watcher, mute], 8.0, answer=(watcher,), on_frame=seen)
        closes = [e for e in events if e[0] == "close"]
        self.assertEqual(len(closes), 1, events)
        f, t = closes[0][1], closes[0][2]
        self.assertEqual((f.close_code, f.close_reason), (1000, "Timeout"))
        self.assertTrue(2.5 <= t <= 4.5, "closed after %.2fs, idle_timeout 3" % t)
        texts = [e[1] for e in events if e[0] == "text"]
        self.assertTrue(texts, "watcher got no user_left for mute")
        parse_envelope(texts[0].raw, type="user_left", data={"user_id": "mute", "count": 1},
                       client_id=None)
        self.assertEqual(len(texts), 1, texts)
        self.assertEqual(self.clients_list()["clients"], ["watcher"])

    def test_vanished_peer_dropped(self):
        # the peer goes silent: it neither reads nor writes (no FIN, no RST)
        watcher = self.ws("watcher")
        ghost = self.ws("ghost", auto_pong=False)
        watcher.recv_until("user_joined", skip=(), data={"user_id": "ghost", "count": 2})
        got = []

        def seen(c, f, t):
            if f is not None and f.opcode == OP_TEXT:
                got.append((parse_envelope(f.payload.decode()), t))
                return True

        t_end = pump([watcher], 9.0, answer=(watcher,), on_frame=seen)
        self.assertTrue(got, "no user_left for the vanished peer within 9s")
        env, t = got[0]
        parse_envelope(env.raw, type="user_left", data={"user_id": "ghost", "count": 1})
        # idle_timeout 3 s, then the close handshake is not answered either
        self.assertGreater(t, 2.5, "dropped too early (%.2fs)" % t)
        self.assertEqual(self.clients_list()["clients"], ["watcher"])
        # what the ghost's socket holds: pings, then close 1000 Timeout, then EOF
        frames = []
        try:
            while True:
                frames.append(ghost.recv_frame(timeout=2))
        except (PeerClosed, ConnectionError):
            pass
        ops = [f.opcode for f in frames]
        self.assertEqual(ops[-1], OP_CLOSE, frames)
        self.assertEqual(set(ops[:-1]) - {OP_PING}, set(), frames)
        self.assertEqual((frames[-1].close_code, frames[-1].close_reason), (1000, "Timeout"))
        sys.stderr.write("[vanished peer dropped after %.2fs, user_left at %.2fs]\n" % (t_end, t))


# --------------------------------------------------------------------------
# Backpressure
# --------------------------------------------------------------------------

class Backpressure(ServerTestCase):
    CONFIG = {"websocket": {"max_send_buffer": "65536", "heartbeat_interval": "0",
                            "idle_timeout": "0", "permessage_deflate": "off"}}

    def test_slow_consumer_closed_others_lose_nothing(self):
        sender, fast = self.connect_all(["sender", "fast"])
        slow = WS(self.port, "/ws/slow", rcvbuf=4096)
        self.addCleanup(slow.close)
        for c in (sender, fast):
            c.recv_env(type="user_joined", data={"user_id": "slow", "count": 3})
        mc = Conn(self.port)            # keep-alive connection for /metrics
        self.addCleanup(mc.close)
        pid = self.server.proc.pid
        rss0 = vm_rss_kb(pid)
        rss_peak, q_peak = rss0, 0
        # 1000 x 4 KiB: the kernel alone buffers about 2.5 MB for a socket
        # whose reader is stalled (send buffer autotuning), so the backlog
        # must pass that before the server's own queue fills.
        # Batches of 10 (41 KB per recipient) stay under max_send_buffer
        # within one loop turn; see test_fast_reader_survives_one_burst.
        n, batch = 1000, 10
        blob = "x" * 4096
        left = {}
        for start in range(0, n, batch):
            sender.send(b"".join(build_frame(OP_TEXT, json.dumps(
                {"type": "chat", "data": [i, blob]}, separators=(",", ":")))
                for i in range(start, start + batch)))
            for c in (sender, fast):
                i = start
                while i < start + batch:
                    env = c.recv_env()
                    if env.type == "user_left":
                        self.assertNotIn(c, left, "two user_left")
                        left[c] = env
                        continue
                    parse_envelope(env.raw, type="chat", client_id="sender")
                    self.assertEqual(env.data, [i, blob], "message lost or reordered")
                    i += 1
            text = mc.request("GET", "/metrics").body.decode()
            q_peak = max(q_peak, metric(text, "fastws_send_queue_bytes") or 0)
            rss_peak = max(rss_peak, vm_rss_kb(pid))
        # the slow client: an in-order prefix, then 1008 "slow consumer"
        # (or, if the close frame could not be written, a TCP close)
        seen, close = [], None
        try:
            while True:
                op, payload = slow.recv_message(timeout=5)
                env = json.loads(payload)
                if env["type"] == "chat":
                    seen.append(env["data"][0])
        except WSClosed as e:
            close = (e.code, e.reason)
        except (PeerClosed, ConnectionError):
            close = "tcp"
        except socket.timeout:
            self.fail("slow client read %d/%d messages and then nothing: never closed" % (len(seen), n))
        if close != "tcp":
            self.assertEqual(close, (1008, b"slow consumer"))
            try:
                slow.send_frame(OP_CLOSE, slow.close_frame.payload[:2])
            except OSError:
                pass
        self.assertEqual(seen, list(range(len(seen))), "gap in what the slow client got")
        self.assertLess(len(seen), n)
        wait_for(lambda: "slow consumer" in self.server.log_text(), msg="slow consumer logged")
        # the others hear user_left for slow and keep working
        for c in (sender, fast):
            env = left.get(c) or c.recv_env()
            parse_envelope(env.raw, type="user_left", data={"user_id": "slow", "count": 2},
                           client_id=None)
        self.assertEqual(sorted(self.clients_list()["clients"]), ["fast", "sender"])
        self.assert_chat_works(fast, "fast", [sender])
        # memory stays bounded: well under what 1000 x 4 KiB x 3 copies would take
        # ASan keeps freed memory in quarantine and adds shadow memory: the
        # bound there only catches unbounded growth.
        bound = 64 * 1024 if os.environ.get("FASTWSD_SANITIZED") else 16 * 1024
        self.assertLess(rss_peak - rss0, bound, "RSS grew from %d kB to %d kB" % (rss0, rss_peak))
        self.assertLessEqual(q_peak, 3 * 65536 + 2 * 4200, "send queue peaked at %d bytes" % q_peak)
        m = re.search(r"slow consumer, (\d+) bytes queued", self.server.log_text())
        sys.stderr.write("[slow consumer: got %d/%d before close %r; queued at close %s bytes; "
                         "peak sampled fastws_send_queue_bytes %d; VmRSS %d kB -> peak %d kB]\n"
                         % (len(seen), n, close, m and m.group(1), q_peak, rss0, rss_peak))


    def test_fast_reader_survives_one_burst(self):
        """A client that reads everything at once is not a slow consumer.

        One sender writes 20 chats of 4 KiB (82 KB) in one TCP write. The
        server reads them in one loop turn and corks the output, so each
        recipient's queue briefly holds 82 KB > max_send_buffer (64 KiB)
        although its socket could take it all at once (the kernel buffers
        MBs). The reader must not be closed with 1008."""
        sender, fast = self.connect_all(["sender", "fast"])
        blob = "y" * 4096
        sender.send(b"".join(build_frame(OP_TEXT, json.dumps({"type": "chat", "data": [i, blob]}))
                             for i in range(20)))
        for c in (fast, sender):
            got = []
            try:
                for i in range(20):
                    got.append(c.recv_env(type="chat", client_id="sender").data[0])
            except WSClosed as e:
                self.fail("%s (reading as fast as it can) closed %s %r after %d/20 messages of a "
                          "single 82 KB burst" % (cid_of(c), e.code, e.reason, len(got)))
            self.assertEqual(got, list(range(20)))


# --------------------------------------------------------------------------
# Rate limit
# --------------------------------------------------------------------------

class RateLimit(ServerTestCase):
    CONFIG = {"websocket": {"rate_limit": "5", "rate_burst": "3"}}

    def test_burst_of_10(self):
        alice, bob = self.connect_all(["alice", "bob"])
        alice.send(b"".join(build_frame(OP_TEXT, json.dumps({"type": "chat", "data": i}))
                            for i in range(10)))
        got = [alice.recv_env() for _ in range(10)]
        chats = [e.data for e in got if e.type == "chat"]
        errors = [e for e in got if e.type == "error"]
        self.assertEqual(chats, [0, 1, 2], got)
        self.assertEqual(len(errors), 7, got)
        for e in errors:
            parse_envelope(e.raw, type="error", client_id=None)
            self.assertEqual(list(e.data.keys()), ["code", "error"])
            self.assertEqual(e.data["code"], "rate_limited")
        # bob got exactly the three delivered ones
        self.assertEqual([bob.recv_env(type="chat", client_id="alice").data for _ in range(3)],
                         [0, 1, 2])
        bob.expect_nothing(0.3)
        # after a second the bucket is full again (3): a burst of 3 passes
        time.sleep(1.0)
        alice.send(b"".join(build_frame(OP_TEXT, json.dumps({"type": "chat", "data": "again%d" % i}))
                            for i in range(3)))
        for c in (alice, bob):
            self.assertEqual([c.recv_env(type="chat", client_id="alice").data for _ in range(3)],
                             ["again0", "again1", "again2"])
        # bob has his own bucket
        bob.send(b"".join(build_frame(OP_TEXT, json.dumps({"type": "chat", "data": "b%d" % i}))
                          for i in range(3)))
        for c in (alice, bob):
            self.assertEqual([c.recv_env(type="chat", client_id="bob").data for _ in range(3)],
                             ["b0", "b1", "b2"])

    def test_rate_limited_private_and_room_not_delivered(self):
        alice, bob = self.connect_all(["alice", "bob"])
        alice.send(b"".join(build_frame(OP_TEXT, json.dumps(m)) for m in (
            {"type": "join", "room": "r"},
            {"type": "ping"},
            {"type": "private", "recipient_id": "bob", "data": "p1"},
            {"type": "private", "recipient_id": "bob", "data": "p2"},
            {"type": "room", "room": "r", "data": "r1"})))
        alice.recv_env(type="room_joined", room="r")
        alice.recv_env(type="pong")
        bob.recv_env(type="private", data="p1", client_id="alice")
        for _ in range(2):
            self.assertEqual(alice.recv_env(type="error").data["code"], "rate_limited")
        bob.expect_nothing(0.3)


# --------------------------------------------------------------------------
# Duplicate client ids
# --------------------------------------------------------------------------

class DuplicateReplace(ServerTestCase):
    CONFIG = {"websocket": {"on_duplicate_id": "replace"}}

    def test_replace(self):
        old, bob, carol = self.connect_all(["alice", "bob", "carol"])
        old.send_json({"type": "join", "room": "r1"})
        old.recv_env(type="room_joined", room="r1")
        bob.send_json({"type": "join", "room": "r1"})
        for c in (old, bob):
            c.recv_env(type="room_joined", room="r1", data={"room": "r1", "user_id": "bob", "count": 2})
        new = self.ws("alice")
        # the old connection: close 4001 "replaced" (anything before it may only be room_left)
        while True:
            f = old.recv_frame()
            if f.opcode == OP_CLOSE:
                break
            self.assertEqual(f.opcode, OP_TEXT, f)
            parse_envelope(f.payload.decode(), type="room_left",
                           data={"room": "r1", "user_id": "alice", "count": 1})
        self.assertEqual((f.close_code, f.close_reason), (4001, "replaced"))
        old.send_frame(OP_CLOSE, f.payload[:2])
        self.assertEqual(old.expect_eof(), b"")
        # bob, the other member, sees alice leave the room
        bob.recv_env(type="room_left", room="r1", client_id=None,
                     data={"room": "r1", "user_id": "alice", "count": 1})
        # no user_left / user_joined for alice anywhere: the barrier comes next
        self.barrier(carol, [bob, carol, new])
        self.assertEqual(sorted(self.clients_list()["clients"]), ["alice", "bob", "carol"])
        self.assertEqual(self.clients_list()["count"], 3)
        self.assertEqual(self.http("GET", "/rooms/r1").json(),
                         {"room": "r1", "count": 1, "clients": ["bob"]})
        # the new connection works, under the same id, and is not in r1
        self.assert_chat_works(new, "alice", [bob, carol])
        new.send_json({"type": "room", "room": "r1", "data": "x"})
        self.assertEqual(new.recv_env(type="error").data["code"], "not_in_room")
        bob.send_json({"type": "private", "recipient_id": "alice", "data": "to new"})
        new.recv_env(type="private", data="to new", client_id="bob")
        # when the new one leaves, user_left goes out once
        new.close_handshake()
        for c in (bob, carol):
            c.recv_env(type="user_left", data={"user_id": "alice", "count": 2})
        self.barrier(carol, [bob, carol])


class DuplicateReject(ServerTestCase):
    CONFIG = {"websocket": {"on_duplicate_id": "reject"}}

    def test_reject_409(self):
        alice, bob = self.connect_all(["alice", "bob"])
        alice.send_json({"type": "join", "room": "r1"})
        alice.recv_env(type="room_joined", room="r1")
        c, r = self.upgrade("/ws/alice")
        self.assertEqual(r.status, 409, r)
        self.assertIsNone(r.header("Sec-WebSocket-Accept"))
        # the old connection is untouched: no close, no event, still in r1
        self.barrier(bob, [alice, bob])
        self.assertEqual(sorted(self.clients_list()["clients"]), ["alice", "bob"])
        alice.send_json({"type": "room", "room": "r1", "data": "still here"})
        alice.recv_env(type="room", room="r1", data="still here", client_id="alice")
        self.assert_chat_works(alice, "alice", [bob])


# --------------------------------------------------------------------------
# private with recipient_id inside data
# --------------------------------------------------------------------------

class Private(ServerTestCase):
    def test_recipient_in_data(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        alice.send_text('{"type":"private","data":{"recipient_id":"bob","text":"psst"}}')
        env = bob.recv_env(type="private", client_id="alice")
        self.assertRegex(env.raw, "^" + re.escape(
            '{"type":"private","data":{"recipient_id":"bob","text":"psst"},"client_id":"alice",'
            '"timestamp":') + TS_RX + r"\}$")
        self.barrier(carol, [alice, bob, carol])   # alice and carol got nothing

    def test_top_level_wins_over_data(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        alice.send_json({"type": "private", "recipient_id": "bob",
                         "data": {"recipient_id": "carol", "text": "which?"}})
        bob.recv_env(type="private", client_id="alice",
                     data={"recipient_id": "carol", "text": "which?"})
        self.barrier(alice, [alice, bob, carol])   # carol got nothing
        # a top-level unknown id is not rescued by data.recipient_id
        alice.send_json({"type": "private", "recipient_id": "nobody",
                         "data": {"recipient_id": "carol"}})
        self.assertEqual(alice.recv_env(type="error").data["code"], "unknown_recipient")
        self.barrier(alice, [alice, bob, carol])

    def test_data_recipient_errors(self):
        alice, bob = self.connect_all(["alice", "bob"])
        cases = [({"recipient_id": "ghost"}, "unknown_recipient"),
                 ({"recipient_id": 7}, "invalid_message"),
                 ({"recipient_id": "a b"}, "invalid_message"),
                 ({"text": "no recipient"}, "invalid_message"),
                 ("a string", "invalid_message")]
        for data, code in cases:
            with self.subTest(data=data):
                alice.send_json({"type": "private", "data": data})
                env = alice.recv_env(type="error", client_id=None)
                self.assertEqual(env.data["code"], code, env)
        self.barrier(alice, [alice, bob])

    def test_private_to_self_via_data(self):
        alice, bob = self.connect_all(["alice", "bob"])
        alice.send_json({"type": "private", "data": {"recipient_id": "alice", "n": 1}})
        alice.recv_env(type="private", client_id="alice", data={"recipient_id": "alice", "n": 1})
        self.barrier(bob, [alice, bob])


if __name__ == "__main__":
    unittest.main()
