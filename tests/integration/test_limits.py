"""Limits (PROTOCOL.md sections 2-5): max_connections and
max_connections_per_ip -> 503, rate_limit -> rate_limited errors (the
message is not delivered), max_send_buffer -> 1008 "slow consumer"."""

import json
import time
import unittest

from harness import ServerTestCase, WS, flood_slow_consumer, parse_envelope, build_frame, OP_TEXT, OP_CLOSE, wait_for


class MaxConnections(ServerTestCase):
    CONFIG = {"limits": {"max_connections": "2"}}

    def test_third_connection_503(self):
        a, b = self.connect_all(["a", "b"])
        c, r = self.upgrade("/ws/c")
        self.assertEqual(r.status, 503, r)
        self.assertIsNone(r.header("Sec-WebSocket-Accept"))
        # existing clients unaffected, and nobody heard of "c"
        self.barrier(a, [a, b])
        b.close_handshake()
        a.recv_env(type="user_left", data={"user_id": "b", "count": 1})
        c2 = self.ws("c")
        a.recv_env(type="user_joined", data={"user_id": "c", "count": 2})
        self.barrier(c2, [a, c2])


class MaxPerIp(ServerTestCase):
    CONFIG = {"limits": {"max_connections_per_ip": "2"}}

    def test_per_ip_503(self):
        a, b = self.connect_all(["a", "b"])
        c, r = self.upgrade("/ws/c")
        self.assertEqual(r.status, 503, r)
        # another address is counted apart
        d = WS(self.port, "/ws/d", source="127.0.0.2")
        self.addCleanup(d.close)
        for c in (a, b):
            c.recv_env(type="user_joined", data={"user_id": "d", "count": 3})
        self.barrier(d, [a, b, d])
        # a slot frees when a client leaves
        b.close_handshake()
        a.recv_env(type="user_left", data={"user_id": "b", "count": 2})
        e = self.ws("e")
        a.recv_env(type="user_joined", data={"user_id": "e", "count": 3})


class RateLimit(ServerTestCase):
    CONFIG = {"websocket": {"rate_limit": "5", "rate_burst": "5"}}

    def test_burst_then_rate_limited(self):
        alice, bob = self.connect_all(["alice", "bob"])
        n = 20
        alice.send(b"".join(build_frame(OP_TEXT, json.dumps({"type": "chat", "data": i}))
                            for i in range(n)))
        delivered = []
        errors = 0
        for _ in range(n):
            env = alice.recv_env()
            if env.type == "chat":
                self.assertEqual(env["client_id"], "alice")
                delivered.append(env.data)
            else:
                self.assertEqual(env.type, "error", env)
                self.assertEqual(env.data["code"], "rate_limited", env)
                self.assertIsNone(env["client_id"])
                errors += 1
        self.assertGreaterEqual(len(delivered), 5, delivered)
        self.assertLessEqual(len(delivered), 7, delivered)
        self.assertEqual(delivered[:5], [0, 1, 2, 3, 4])
        self.assertEqual(len(delivered) + errors, n)
        # bob got exactly the delivered ones, nothing else
        got = [bob.recv_env(type="chat", client_id="alice").data for _ in delivered]
        self.assertEqual(got, delivered)
        time.sleep(1.1)   # tokens refill
        self.barrier(alice, [alice, bob])

    def test_steady_rate_passes(self):
        alice, = self.connect_all(["alice"])
        for i in range(8):
            alice.chat(i)
            alice.recv_env(type="chat", data=i)
            time.sleep(0.25)   # 4/s < 5/s


class SlowConsumer(ServerTestCase):
    CONFIG = {"websocket": {"max_send_buffer": "65536", "max_message_size": "65536"}}

    def test_slow_consumer_closed_1008(self):
        sender, fast = self.connect_all(["sender", "fast"])
        slow = WS(self.port, "/ws/slow", rcvbuf=4096)
        self.addCleanup(slow.close)
        for c in (sender, fast):
            c.recv_env(type="user_joined", data={"user_id": "slow", "count": 3})
        n = 150
        # sender and fast read everything as it comes; slow reads nothing:
        # an in-order prefix, then close 1008 "slow consumer"
        left, seen, e = flood_slow_consumer(self, sender, (sender, fast), slow, n)
        self.assertEqual(e.code, 1008, e)
        self.assertEqual(e.reason, b"slow consumer")
        slow.send_frame(OP_CLOSE, slow.close_frame.payload[:2])
        slow.expect_eof()
        self.assertEqual(seen, list(range(len(seen))), "gap in what the slow client got")
        self.assertLess(len(seen), n)
        # the server drops it: user_left to the others, and the fast client still works
        wait_for(lambda: sorted(self.http("GET", "/clients").json()["clients"]) == ["fast", "sender"],
                 msg="slow client removed")
        for c in (sender, fast):
            env = left.get(c) or c.recv_env()
            parse_envelope(env.raw, type="user_left", data={"user_id": "slow", "count": 2})
        self.assert_chat_works(fast, "fast", [sender])


if __name__ == "__main__":
    unittest.main()
