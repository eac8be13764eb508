"""echo_path (PROTOCOL.md section 5): a plain echo WebSocket; text and
binary come back exactly."""

import os
import unittest

from harness import ServerTestCase, build_frame, OP_TEXT, OP_BINARY, OP_CONT, OP_PING, OP_PONG

SIZES = (0, 1, 125, 126, 127, 65535, 65536, 100000)


class Echo(ServerTestCase):
    CONFIG = {"server": {"echo_path": "/echo"},
              "websocket": {"max_message_size": "200000"}}
    PER_TEST = False

    def echo(self):
        return self.ws(path="/echo")

    def test_text_sizes(self):
        e = self.echo()
        for n in SIZES:
            with self.subTest(n=n):
                text = ("abcdé€𝄞" * (n // 4 + 1)).encode()[:n]
                text = text.decode("utf-8", "ignore").encode()
                text = text + b"z" * (n - len(text))
                self.assertEqual(len(text), n)
                e.send_frame(OP_TEXT, text)
                op, payload = e.recv_message()
                self.assertEqual(op, OP_TEXT)
                self.assertEqual(payload, text)

    def test_binary_sizes(self):
        e = self.echo()
        for n in SIZES:
            with self.subTest(n=n):
                data = os.urandom(n)
                e.send_frame(OP_BINARY, data)
                op, payload = e.recv_message()
                self.assertEqual(op, OP_BINARY)
                self.assertEqual(payload, data)

    def test_fragmented_echoed_whole(self):
        e = self.echo()
        e.send(build_frame(OP_BINARY, b"\x00\x01", fin=False) + build_frame(OP_PING, b"in")
               + build_frame(OP_CONT, b"\x02", fin=False) + build_frame(OP_CONT, b"\xff", fin=True))
        f = e.recv_frame()
        self.assertEqual((f.opcode, f.payload), (OP_PONG, b"in"))
        self.assertEqual(e.recv_message(), (OP_BINARY, b"\x00\x01\x02\xff"))

    def test_many_messages_in_order(self):
        e = self.echo()
        e.send(b"".join(build_frame(OP_TEXT, b"m%d" % i) for i in range(100)))
        for i in range(100):
            self.assertEqual(e.recv_message(), (OP_TEXT, b"m%d" % i))

    def test_non_json_text_echoed(self):
        e = self.echo()
        e.send_frame(OP_TEXT, b"not json at all {")
        self.assertEqual(e.recv_message(), (OP_TEXT, b"not json at all {"))

    def test_echo_invalid_utf8_1007(self):
        e = self.echo()
        e.send_frame(OP_TEXT, b"ok\xff")
        e.expect_close(1007)

    def test_echo_too_big_1009(self):
        e = self.echo()
        e.send_frame(OP_BINARY, b"\0" * 200001)
        e.expect_close(1009)

    def test_echo_close(self):
        e = self.echo()
        e.close_handshake(1000, "done")

    def test_echo_gets_no_chat_traffic(self):
        e = self.echo()
        a = self.ws("echo-alice")
        a.chat({"text": "broadcast"})
        a.recv_until("chat", data={"text": "broadcast"})
        e.send_frame(OP_TEXT, b"first")
        self.assertEqual(e.recv_message(), (OP_TEXT, b"first"))
        e.expect_nothing(0.2)


class EchoOff(ServerTestCase):
    PER_TEST = False

    def test_echo_disabled_by_default(self):
        c, r = self.upgrade("/echo")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.body, b'{"detail":"Not Found"}')


if __name__ == "__main__":
    unittest.main()
