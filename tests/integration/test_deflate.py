"""permessage-deflate (RFC 7692, PROTOCOL.md section 2) with a raw client:
negotiation answer, compressed frames both ways, no context takeover,
deflate_min_size, RSV1 misuse, limits after decompression."""

import json
import os
import zlib
import unittest

from harness import (ServerTestCase, WS, build_frame, parse_envelope, OP_TEXT, OP_CONT, OP_PING,
                     OP_CLOSE, OP_BINARY)

PMD_ANSWER = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
TAIL = b"\x00\x00\xff\xff"


def deflate(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def inflate(data):
    d = zlib.decompressobj(-15)   # fresh each time: no context takeover
    return d.decompress(data + TAIL) + d.flush()


class DeflateWS(WS):
    def recv_message_pmd(self):
        """(opcode, payload, compressed) of the next data message."""
        op, parts, rsv1 = None, [], False
        while True:
            f = self.recv_frame()
            if f.opcode in (9, 10):
                continue
            if f.opcode == OP_CLOSE:
                raise AssertionError("unexpected close %r" % f)
            if op is None:
                op, rsv1 = f.opcode, bool(f.rsv & 4)
                if f.rsv & 3:
                    raise AssertionError("RSV2/3 set: %r" % f)
            elif f.rsv:
                raise AssertionError("RSV bits on a continuation frame: %r" % f)
            parts.append(f.payload)
            if f.fin:
                data = b"".join(parts)
                return op, (inflate(data) if rsv1 else data), rsv1

    def recv_env_pmd(self, **expect):
        op, data, rsv1 = self.recv_message_pmd()
        self.assert_(op == OP_TEXT, op)
        return parse_envelope(data.decode("utf-8"), **expect), rsv1

    @staticmethod
    def assert_(cond, msg):
        if not cond:
            raise AssertionError(msg)


class Deflate(ServerTestCase):
    CONFIG = {"websocket": {"max_message_size": "65536", "deflate_min_size": "128"}}

    def pmd(self, cid, offer="permessage-deflate; client_max_window_bits"):
        c = DeflateWS(self.port, "/ws/" + cid, headers=[("Sec-WebSocket-Extensions", offer)])
        self.addCleanup(c.close)
        return c

    def test_negotiation_answer(self):
        for offer in ("permessage-deflate", "permessage-deflate; client_max_window_bits",
                      "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
                      "x-unknown, permessage-deflate"):
            with self.subTest(offer=offer):
                c = self.pmd("neg", offer)
                self.assertEqual(c.response.header("Sec-WebSocket-Extensions"), PMD_ANSWER)
                c.close()

    def test_no_offer_no_extension(self):
        c = self.ws("plain")
        self.assertIsNone(c.response.header("Sec-WebSocket-Extensions"))
        c2 = self.ws("plain2", headers=[("Sec-WebSocket-Extensions", "x-foo")])
        self.assertIsNone(c2.response.header("Sec-WebSocket-Extensions"))

    def test_compressed_chat_delivered(self):
        alice = self.pmd("alice")
        bob = self.ws("bob")     # no deflate
        alice.recv_env_pmd(type="user_joined")
        text = "compressed hello " * 20
        alice.send(build_frame(OP_TEXT, deflate(json.dumps({"type": "chat", "data": text}).encode()),
                               rsv=4))
        env, rsv1 = alice.recv_env_pmd(type="chat", client_id="alice", data=text)
        self.assertTrue(rsv1, "large message to a deflate client not compressed")
        env = bob.recv_env(type="chat", client_id="alice", data=text)   # bob: plain frames

    def test_small_messages_uncompressed_large_compressed(self):
        alice = self.pmd("alice")
        for n in (1, 10, 2000, 30000):
            alice.send_json({"type": "chat", "data": "z" * n})
            op, data, rsv1 = alice.recv_message_pmd()
            env = parse_envelope(data.decode(), type="chat", data="z" * n)
            self.assertEqual(rsv1, len(data) >= 128, (n, len(data), rsv1))

    def test_no_context_takeover(self):
        # the same big message twice: each decompresses on its own
        alice = self.pmd("alice")
        text = "repeat me " * 300
        for _ in range(3):
            alice.send(build_frame(OP_TEXT, deflate(json.dumps({"type": "chat", "data": text}).encode()),
                                   rsv=4))
            env, rsv1 = alice.recv_env_pmd(type="chat", data=text)
            self.assertTrue(rsv1)

    def test_uncompressed_frame_on_deflate_connection(self):
        alice = self.pmd("alice")
        alice.send_json({"type": "chat", "data": "plain on pmd"})
        alice.recv_env_pmd(type="chat", data="plain on pmd")

    def test_fragmented_compressed(self):
        alice = self.pmd("alice")
        z = deflate(json.dumps({"type": "chat", "data": "frag " * 100}).encode())
        a, b = z[:len(z) // 2], z[len(z) // 2:]
        alice.send(build_frame(OP_TEXT, a, fin=False, rsv=4) + build_frame(OP_PING, b"p")
                   + build_frame(OP_CONT, b, fin=True))
        alice.recv_env_pmd(type="chat", data="frag " * 100)

    def test_rsv1_on_continuation_1002(self):
        alice = self.pmd("alice")
        z = deflate(b'{"type":"chat","data":"x"}')
        alice.send(build_frame(OP_TEXT, z[:3], fin=False, rsv=4) + build_frame(OP_CONT, z[3:], rsv=4))
        alice.expect_close(1002)

    def test_rsv1_on_control_1002(self):
        alice = self.pmd("alice")
        alice.send(build_frame(OP_PING, b"", rsv=4))
        alice.expect_close(1002)

    def test_rsv2_with_deflate_1002(self):
        alice = self.pmd("alice")
        alice.send(build_frame(OP_TEXT, b'{"type":"chat"}', rsv=2))
        alice.expect_close(1002)

    def test_decompression_bomb_1009(self):
        bob = self.ws("bob")
        alice = self.pmd("alice")
        bob.recv_env(type="user_joined")
        bomb = deflate(b'{"type":"chat","data":"' + b"0" * 2000000 + b'"}')
        self.assertLess(len(bomb), 10000)
        alice.send(build_frame(OP_TEXT, bomb, rsv=4))
        alice.expect_close(1009)
        bob.recv_env(type="user_left", data={"user_id": "alice", "count": 1})
        self.assert_chat_works(bob, "bob")

    def test_just_under_limit_after_decompression_ok(self):
        alice = self.pmd("alice")
        head, tail = b'{"type":"chat","data":"', b'"}'
        msg = head + b"q" * (65536 - len(head) - len(tail)) + tail
        alice.send(build_frame(OP_TEXT, deflate(msg), rsv=4))
        env, _ = alice.recv_env_pmd(type="chat")
        self.assertEqual(len(env.data), 65536 - len(head) - len(tail))

    def test_compressed_invalid_utf8_1007(self):
        alice = self.pmd("alice")
        alice.send(build_frame(OP_TEXT, deflate(b'{"type":"chat","data":"\xff"}'), rsv=4))
        alice.expect_close(1007)

    def test_corrupt_deflate_data_fails(self):
        alice = self.pmd("alice")
        alice.send(build_frame(OP_TEXT, b"\xff\xff\xff\xff garbage", rsv=4))
        f = alice.expect_close()
        self.assertIn(f.close_code, (1002, 1007), f)

    def test_compressed_binary_1003(self):
        alice = self.pmd("alice")
        alice.send(build_frame(OP_BINARY, deflate(b"bin"), rsv=4))
        alice.expect_close(1003)

    def test_broadcast_mixed_clients(self):
        a = self.pmd("a")
        b = self.ws("b")
        c = self.pmd("c")
        text = "mixed " * 200
        b.recv_env(type="user_joined")
        a.recv_env_pmd(type="user_joined")
        a.recv_env_pmd(type="user_joined")
        b.send_json({"type": "chat", "data": text})
        ra = a.recv_env_pmd(type="chat", data=text)[0].raw
        rc = c.recv_env_pmd(type="chat", data=text)[0].raw
        rb = b.recv_env(type="chat", data=text).raw
        self.assertEqual(ra, rb)
        self.assertEqual(rc, rb)


class DeflateOff(ServerTestCase):
    CONFIG = {"websocket": {"permessage_deflate": "off"}}
    PER_TEST = False

    def test_not_negotiated(self):
        c = self.ws("x", headers=[("Sec-WebSocket-Extensions", "permessage-deflate")])
        self.assertIsNone(c.response.header("Sec-WebSocket-Extensions"))
        c.send(build_frame(OP_TEXT, deflate(b'{"type":"chat"}'), rsv=4))
        c.expect_close(1002)


if __name__ == "__main__":
    unittest.main()
