"""Timers (PROTOCOL.md sections 4 and 5): heartbeat pings, idle_timeout
closes with 1000 "Timeout", pongs and messages count as activity."""

import time
import unittest

from harness import ServerTestCase, OP_PING, OP_PONG, OP_CLOSE, OP_TEXT, build_frame


class Heartbeat(ServerTestCase):
    CONFIG = {"websocket": {"heartbeat_interval": "1", "idle_timeout": "0"}}

    def test_server_pings(self):
        a = self.ws("hb", auto_pong=False)
        t0 = time.monotonic()
        times = []
        while len(times) < 2:
            f = a.recv_frame(timeout=3)
            self.assertEqual(f.opcode, OP_PING, f)
            times.append(time.monotonic() - t0)
            a.send_frame(OP_PONG, f.payload)
        self.assertGreater(times[0], 0.5)
        self.assertLess(times[0], 2.0)
        self.assertGreater(times[1] - times[0], 0.5)
        self.assertLess(times[1] - times[0], 2.0)
        # the connection is fine
        self.assert_chat_works(a, "hb")

    def test_no_pings_when_off(self):
        srv = self.make_server({"websocket": {"heartbeat_interval": "0"}}).start()
        self.addCleanup(srv.stop)
        from harness import WS
        a = WS(srv.port, "/ws/quiet")
        self.addCleanup(a.close)
        a.expect_nothing(1.5)


class IdleTimeout(ServerTestCase):
    CONFIG = {"websocket": {"heartbeat_interval": "0", "idle_timeout": "2"}}

    def test_silent_client_closed_1000_timeout(self):
        bob = self.ws("bob")
        a = self.ws("idle", auto_pong=False)
        bob.recv_until("user_joined", data={"user_id": "idle", "count": 2})
        # bob stays active
        t0 = time.monotonic()
        f = None
        left = []  # user_left goes out when the close starts: it may come mid-loop
        while f is None and time.monotonic() - t0 < 5:
            bob.chat({"keep": "alive"})
            while True:
                env = bob.recv_env()
                if env.type == "chat":
                    break
                if env.type == "user_left":
                    left.append(env)
            a.settimeout(0.5)
            try:
                fr = a.recv_frame(timeout=0.5)
            except OSError:
                continue
            if fr.opcode == OP_CLOSE:
                f = fr
        dt = time.monotonic() - t0
        self.assertIsNotNone(f, "idle client not closed within 5s")
        self.assertEqual(f.close_code, 1000, f)
        self.assertEqual(f.close_reason, "Timeout")
        self.assertGreater(dt, 1.5)
        self.assertLess(dt, 3.5)
        a.send_frame(OP_CLOSE, f.payload[:2])
        a.expect_eof()
        if not left:
            left.append(bob.recv_until("user_left", skip=("chat",)))
        self.assertEqual(len(left), 1, left)
        self.assertEqual(left[0].data, {"user_id": "idle", "count": 1})
        self.assert_chat_works(bob, "bob")

    def test_messages_and_client_pings_keep_alive(self):
        busy = self.ws("busy")
        pinger = self.ws("pinger")
        busy.recv_until("user_joined")
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3.5:
            busy.chat({"t": 1})
            busy.recv_until("chat")
            pinger.send_frame(OP_PING, b"k")
            f = pinger.recv_frame()
            while f.opcode == OP_TEXT:      # busy's chats
                f = pinger.recv_frame()
            self.assertEqual((f.opcode, f.payload), (OP_PONG, b"k"))
            time.sleep(0.5)
        self.assert_chat_works(busy, "busy", [pinger])
        self.assert_chat_works(pinger, "pinger", [busy])


class IdleWithHeartbeat(ServerTestCase):
    CONFIG = {"websocket": {"heartbeat_interval": "1", "idle_timeout": "2"}}

    def test_pongs_count_as_activity(self):
        a = self.ws("ponger", auto_pong=True)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 4:
            try:
                f = a.recv_frame(timeout=0.3)
            except OSError:
                continue
            self.assertEqual(f.opcode, OP_PING, "unexpected %r" % f)
            a.send_frame(OP_PONG, f.payload)
        self.assert_chat_works(a, "ponger")

    def test_unanswered_pings_time_out(self):
        a = self.ws("mute", auto_pong=False)
        t0 = time.monotonic()
        while True:
            f = a.recv_frame(timeout=5)
            if f.opcode == OP_CLOSE:
                break
            self.assertEqual(f.opcode, OP_PING)
        dt = time.monotonic() - t0
        self.assertEqual((f.close_code, f.close_reason), (1000, "Timeout"))
        self.assertGreater(dt, 1.5)
        self.assertLess(dt, 3.5)


if __name__ == "__main__":
    unittest.main()
