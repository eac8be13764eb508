"""Chat protocol (PROTOCOL.md section 3) with several raw clients: envelopes
byte for byte, chat, private, ping, presence events, errors, ordering."""

import json
import re
import unittest

from harness import ServerTestCase, build_frame, OP_TEXT, TS_RE, check_timestamp, wait_for

TS = r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00"'


def exact(prefix_json, suffix=""):
    """Regex for an envelope whose bytes before the timestamp are exactly
    prefix_json (which ends with '"timestamp":')."""
    return re.compile("^" + re.escape(prefix_json) + TS + re.escape(suffix) + r"\}$")


class ChatBase(ServerTestCase):
    def assertError(self, client, code):
        env = client.recv_env(type="error", client_id=None)
        self.assertIsInstance(env.data, dict, env)
        self.assertEqual(list(env.data.keys()), ["code", "error"], env)
        self.assertEqual(env.data["code"], code, env)
        self.assertIsInstance(env.data["error"], str, env)
        self.assertTrue(env.data["error"], env)
        self.assertRegex(env.raw, r'^\{"type":"error","data":\{"code":' + re.escape(json.dumps(code))
                         + r',"error":"')
        return env


class Chat(ChatBase):
    def test_chat_exact_envelope_three_clients(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        alice.send_text('{"type":"chat","data":{"text":"hi"}}')
        rx = exact('{"type":"chat","data":{"text":"hi"},"client_id":"alice","timestamp":')
        raws = []
        for c in (alice, bob, carol):
            env = c.recv_env(type="chat", data={"text": "hi"}, client_id="alice")
            self.assertRegex(env.raw, rx)
            self.assertTrue(env.raw.startswith(
                '{"type":"chat","data":{"text":"hi"},"client_id":"alice","timestamp":"'), env.raw)
            raws.append(env.raw)
        # one message, one timestamp: every recipient gets the same bytes
        self.assertEqual(raws[0], raws[1])
        self.assertEqual(raws[0], raws[2])

    def test_chat_client_json_with_spaces(self):
        alice, bob = self.connect_all(["alice", "bob"])
        alice.send_text('{ "type" : "chat" ,\n "data" : { "text" : "spaced" } }')
        for c in (alice, bob):
            c.recv_env(type="chat", data={"text": "spaced"}, client_id="alice")

    def test_chat_data_values(self):
        alice, bob = self.connect_all(["alice", "bob"])
        values = ["plain", 42, 3.5, -1, True, False, None, [1, "two", {"3": [4]}],
                  {"nested": {"deep": [None, {"x": "y"}]}}, "",
                  "quotes \" backslash \\ newline \n tab \t ctrl \u0001",
                  "unicode héllo € 𝄞 日本", {"text": "</script><b>html</b>"}, 12345678901234567]
        for v in values:
            with self.subTest(v=v):
                alice.chat(v)
                for c in (alice, bob):
                    env = c.recv_env(type="chat", client_id="alice")
                    self.assertEqual(env.data, v)
                    self.assertEqual(type(env.data), type(v))

    def test_chat_without_data_is_null(self):
        alice, bob = self.connect_all(["alice", "bob"])
        alice.send_text('{"type":"chat"}')
        rx = exact('{"type":"chat","data":null,"client_id":"alice","timestamp":')
        for c in (alice, bob):
            env = c.recv_env(type="chat", data=None, client_id="alice")
            self.assertRegex(env.raw, rx)

    def test_chat_ascii_escapes_roundtrip(self):
        alice, bob = self.connect_all(["alice", "bob"])
        alice.send_text('{"type":"chat","data":"\\u00e9\\ud834\\udd1e\\/x"}')
        env = bob.recv_env(type="chat", client_id="alice")
        self.assertEqual(env.data, "\u00e9\U0001D11E/x")

    def test_chat_nul_escape(self):
        # "\u0000" is valid JSON: it is delivered, not refused
        alice, bob = self.connect_all(["alice", "bob"])
        alice.send_text('{"type":"chat","data":"a\\u0000b"}')
        env = alice.recv_env()
        self.assertEqual(env.type, "chat", "valid JSON with \\u0000 refused: %s" % env.raw)
        self.assertEqual(env.data, "a\u0000b")
        env = bob.recv_env(type="chat", client_id="alice")
        self.assertEqual(env.data, "a\u0000b")

    def test_chat_large_message(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        head = '{"type":"chat","data":"'
        tail = '"}'
        for size in (125, 126, 65535, 65536):   # the whole client message, default max 65536
            with self.subTest(size=size):
                text = "x" * (size - len(head) - len(tail))
                msg = head + text + tail
                self.assertEqual(len(msg), size)
                alice.send_text(msg)
                for c in (alice, bob, carol):
                    env = c.recv_env(type="chat", client_id="alice")
                    self.assertEqual(env.data, text)

    def test_many_clients_broadcast(self):
        ids = ["c%02d" % i for i in range(20)]
        clients = self.connect_all(ids)
        clients[7].chat({"text": "to all"})
        for c in clients:
            c.recv_env(type="chat", data={"text": "to all"}, client_id="c07")
        obj = self.http("GET", "/clients").json()
        self.assertEqual(obj["count"], 20)
        self.assertEqual(sorted(obj["clients"]), ids)

    def test_per_sender_order_200(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        n = 200
        burst = b"".join(build_frame(OP_TEXT, json.dumps({"type": "chat", "data": {"seq": i}}))
                         for i in range(n))
        alice.send(burst)
        for c in (alice, bob, carol):
            got = [c.recv_env(type="chat", client_id="alice").data["seq"] for _ in range(n)]
            self.assertEqual(got, list(range(n)))

    def test_per_sender_order_two_senders(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        n = 100
        fa = b"".join(build_frame(OP_TEXT, json.dumps({"type": "chat", "data": {"a": i}}))
                      for i in range(n))
        fb = b"".join(build_frame(OP_TEXT, json.dumps({"type": "chat", "data": {"b": i}}))
                      for i in range(n))
        alice.send(fa)
        bob.send(fb)
        for c in (alice, bob, carol):
            seen = {"alice": [], "bob": []}
            for _ in range(2 * n):
                env = c.recv_env(type="chat")
                seen[env["client_id"]].append(list(env.data.values())[0])
            self.assertEqual(seen["alice"], list(range(n)))
            self.assertEqual(seen["bob"], list(range(n)))


class Private(ChatBase):
    def test_private_only_recipient(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        alice.send_text('{"type":"private","recipient_id":"bob","data":{"text":"secret"}}')
        env = bob.recv_env(type="private", data={"text": "secret"}, client_id="alice")
        self.assertRegex(env.raw, exact(
            '{"type":"private","data":{"text":"secret"},"client_id":"alice","timestamp":'))
        # alice (sender) and carol got nothing before bob's barrier chat
        self.barrier(bob, [alice, bob, carol])

    def test_private_recipient_in_data(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        alice.send_json({"type": "private", "data": {"recipient_id": "carol", "text": "psst"}})
        env = carol.recv_env(type="private", client_id="alice")
        self.assertEqual(env.data.get("text"), "psst", env)
        self.barrier(carol, [alice, bob, carol])

    def test_private_unknown_recipient(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        alice.send_json({"type": "private", "recipient_id": "nobody", "data": {"text": "x"}})
        self.assertError(alice, "unknown_recipient")
        self.barrier(alice, [alice, bob, carol])

    def test_private_to_departed_client(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        carol.close_handshake()
        alice.recv_until("user_left", skip=(), data={"user_id": "carol", "count": 2})
        bob.recv_until("user_left", skip=(), data={"user_id": "carol", "count": 2})
        alice.send_json({"type": "private", "recipient_id": "carol", "data": "x"})
        self.assertError(alice, "unknown_recipient")
        self.barrier(alice, [alice, bob])

    def test_private_order(self):
        alice, bob = self.connect_all(["alice", "bob"])
        burst = b"".join(build_frame(OP_TEXT, json.dumps(
            {"type": "private", "recipient_id": "bob", "data": i})) for i in range(100))
        alice.send(burst)
        got = [bob.recv_env(type="private", client_id="alice").data for _ in range(100)]
        self.assertEqual(got, list(range(100)))


class Ping(ChatBase):
    def test_ping_pong(self):
        alice, bob = self.connect_all(["alice", "bob"])
        alice.send_text('{"type":"ping"}')
        env = alice.recv_env(type="pong", client_id="alice")
        self.assertIsInstance(env.data, dict, env)
        self.assertEqual(list(env.data.keys()), ["timestamp"], env)
        t = check_timestamp(env.data["timestamp"])
        t_env = check_timestamp(env["timestamp"])
        self.assertLessEqual(t, t_env)
        self.assertRegex(env.raw, r'^\{"type":"pong","data":\{"timestamp":' + TS
                         + r'\},"client_id":"alice","timestamp":' + TS + r'\}$')
        # only the sender gets the pong
        self.barrier(bob, [alice, bob])

    def test_ping_with_data(self):
        alice, = self.connect_all(["alice"])
        alice.send_json({"type": "ping", "data": {"anything": 1}})
        env = alice.recv_env(type="pong", client_id="alice")
        self.assertTrue(TS_RE.match(env.data["timestamp"]), env)

    def test_many_pings_in_order(self):
        alice, = self.connect_all(["alice"])
        alice.send(b"".join(build_frame(OP_TEXT, '{"type":"ping"}') for _ in range(20)))
        prev = None
        for _ in range(20):
            t = check_timestamp(alice.recv_env(type="pong").data["timestamp"])
            if prev is not None:
                self.assertLessEqual(prev, t)
            prev = t


class Presence(ChatBase):
    def test_user_joined(self):
        alice = self.ws("alice")
        bob = self.ws("bob")
        env = alice.recv_env(type="user_joined", client_id=None, data={"user_id": "bob", "count": 2})
        self.assertRegex(env.raw, exact(
            '{"type":"user_joined","data":{"user_id":"bob","count":2},"client_id":null,"timestamp":'))
        carol = self.ws("carol")
        for c in (alice, bob):
            c.recv_env(type="user_joined", client_id=None, data={"user_id": "carol", "count": 3})
        # the newcomer does not get its own user_joined: its first message is the barrier
        self.barrier(alice, [alice, bob, carol])

    def test_user_left_on_close(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        carol.close_handshake(1000)
        for c in (alice, bob):
            env = c.recv_env(type="user_left", client_id=None, data={"user_id": "carol", "count": 2})
            self.assertRegex(env.raw, exact(
                '{"type":"user_left","data":{"user_id":"carol","count":2},"client_id":null,"timestamp":'))
        self.barrier(alice, [alice, bob])

    def test_user_left_on_tcp_fin(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        carol.close()
        for c in (alice, bob):
            c.recv_env(type="user_left", client_id=None, data={"user_id": "carol", "count": 2})
        bob.close()
        alice.recv_env(type="user_left", client_id=None, data={"user_id": "bob", "count": 1})
        self.barrier(alice, [alice])

    def test_user_left_on_tcp_reset(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        bob.reset()
        for c in (alice, carol):
            c.recv_env(type="user_left", client_id=None, data={"user_id": "bob", "count": 2})
        self.barrier(carol, [alice, carol])

    def test_user_left_on_protocol_error(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        carol.send_frame(OP_TEXT, b'{"type":"chat"}', mask=False)
        carol.expect_close(1002)
        for c in (alice, bob):
            c.recv_env(type="user_left", client_id=None, data={"user_id": "carol", "count": 2})
        self.barrier(alice, [alice, bob])

    def test_half_close_after_sending(self):
        # a client that sends a chat and then shuts down its write side:
        # the chat is delivered, then it leaves
        import socket
        alice, bob = self.connect_all(["alice", "bob"])
        alice.chat({"text": "last words"})
        alice.sock.shutdown(socket.SHUT_WR)
        bob.recv_env(type="chat", data={"text": "last words"}, client_id="alice")
        bob.recv_env(type="user_left", data={"user_id": "alice", "count": 1})

    def test_200_clients(self):
        from harness import WS
        n = 200
        clients = []
        for i in range(n):
            c = WS(self.port, "/ws/m%03d" % i)
            self.addCleanup(c.close)
            clients.append(c)
        obj = self.http("GET", "/clients").json()
        self.assertEqual(obj["count"], n)
        clients[0].chat({"text": "to 200"})
        for i, c in enumerate(clients):
            # first the user_joined of every later client, in order, then the chat
            for j in range(i + 1, n):
                c.recv_env(type="user_joined", data={"user_id": "m%03d" % j, "count": j + 1})
            c.recv_env(type="chat", data={"text": "to 200"}, client_id="m000")

    def test_rejoin_after_leave(self):
        alice, bob = self.connect_all(["alice", "bob"])
        bob.close_handshake()
        alice.recv_env(type="user_left", data={"user_id": "bob", "count": 1})
        bob2 = self.ws("bob")
        alice.recv_env(type="user_joined", data={"user_id": "bob", "count": 2})
        self.barrier(bob2, [alice, bob2])


class Errors(ChatBase):
    CASES = [
        ("not json", "invalid_json"),
        ("{", "invalid_json"),
        ("", "invalid_json"),
        ('{"type":"chat"} trailing', "invalid_json"),
        ("{'type':'chat'}", "invalid_json"),
        ('{"type":"chat","data":}', "invalid_json"),
        ("[]", "invalid_message"),
        ('[{"type":"chat"}]', "invalid_message"),
        ('"chat"', "invalid_message"),
        ("42", "invalid_message"),
        ("null", "invalid_message"),
        ("true", "invalid_message"),
        ("{}", "invalid_message"),
        ('{"data":{"text":"no type"}}', "invalid_message"),
        ('{"type":5}', "invalid_message"),
        ('{"type":null}', "invalid_message"),
        ('{"type":["chat"]}', "invalid_message"),
        ('{"type":{"t":"chat"}}', "invalid_message"),
        ('{"type":"private","data":{"text":"x"}}', "invalid_message"),
        ('{"type":"private"}', "invalid_message"),
        ('{"type":"private","recipient_id":5,"data":{}}', "invalid_message"),
        ('{"type":"private","recipient_id":null,"data":{}}', "invalid_message"),
        ('{"type":"private","recipient_id":["bob"],"data":{}}', "invalid_message"),
        ('{"type":"private","recipient_id":"a b","data":{}}', "invalid_message"),
        ('{"type":"private","recipient_id":"","data":{}}', "invalid_message"),
        ('{"type":"private","recipient_id":"%s","data":{}}' % ("x" * 65), "invalid_message"),
        ('{"type":"private","recipient_id":"b\\u00e9","data":{}}', "invalid_message"),
        ('{"type":"private","data":{"recipient_id":7}}', "invalid_message"),
        ('{"type":"frobnicate"}', "unknown_type"),
        ('{"type":"CHAT","data":"x"}', "unknown_type"),
        ('{"type":"user_joined","data":{}}', "unknown_type"),
        ('{"type":"pong"}', "unknown_type"),
    ]

    def test_error_envelopes(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        for text, code in self.CASES:
            with self.subTest(text=text):
                alice.send_text(text)
                self.assertError(alice, code)
                # connection stays open: alice can still chat, others got
                # nothing in between
                self.barrier(alice, [alice, bob, carol])

    def test_error_envelope_exact(self):
        alice, bob = self.connect_all(["alice", "bob"])
        alice.send_text("not json")
        env = self.assertError(alice, "invalid_json")
        self.assertRegex(env.raw, r'^\{"type":"error","data":\{"code":"invalid_json","error":"'
                         r'(?:[^"\\]|\\.)+"\},"client_id":null,"timestamp":' + TS + r'\}$')

    def test_errors_in_burst(self):
        # many bad messages in one send: one error each, in order, then chat works
        alice, bob = self.connect_all(["alice", "bob"])
        burst = b"".join(build_frame(OP_TEXT, t) for t, _ in self.CASES)
        alice.send(burst)
        for _, code in self.CASES:
            self.assertError(alice, code)
        self.barrier(alice, [alice, bob])

    def test_errors_do_not_affect_others(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        alice.send_text("garbage")
        self.assertError(alice, "invalid_json")
        bob.chat({"text": "bob talks"})
        for c in (alice, bob, carol):
            c.recv_env(type="chat", data={"text": "bob talks"}, client_id="bob")
        self.barrier(carol, [alice, bob, carol])


if __name__ == "__main__":
    unittest.main()
