"""RFC 6455 framing with a raw client (PROTOCOL.md section 4): masking, RSV
bits, opcodes, control frames, fragmentation, UTF-8, sizes, close
handshake. After each bad client a bystander still chats fine."""

import json
import os
import struct
import time
import unittest

from harness import (ServerTestCase, build_frame, close_payload, OP_CONT, OP_TEXT, OP_BINARY,
                     OP_CLOSE, OP_PING, OP_PONG)

MAX = 1024
CHAT = b'{"type":"chat","data":{"text":"frames"}}'


def chat_bytes(text):
    return json.dumps({"type": "chat", "data": {"text": text}}, ensure_ascii=False).encode()


class FrameBase(ServerTestCase):
    CONFIG = {"websocket": {"max_message_size": str(MAX)}}

    def setUp(self):
        super().setUp()
        self.bob, self.mal = self.connect_all(["bob", "mal"])

    def bad(self, code, *frames, reason=None):
        """mal sends the frames (one send); expects close `code`, then checks
        that the bystander saw mal leave and still chats fine."""
        self.mal.send(b"".join(frames))
        f = self.mal.expect_close(code)
        if reason is not None:
            self.assertEqual(f.close_reason, reason)
        self.bystander_ok()
        return f

    def bystander_ok(self):
        self.bob.recv_until("user_left", skip=("user_joined",), data={"user_id": "mal", "count": 1})
        self.assert_chat_works(self.bob, "bob")
        obj = self.http("GET", "/clients").json()
        self.assertEqual(obj, {"count": 1, "clients": ["bob"]})

    def reconnect_mal(self):
        self.mal = self.ws("mal")
        self.bob.recv_until("user_joined", data={"user_id": "mal", "count": 2})

    def good_chat(self, text="frames"):
        """mal's chat with this text reaches both."""
        for c in (self.mal, self.bob):
            c.recv_until("chat", data={"text": text}, client_id="mal")


class Frames(FrameBase):
    def test_masked_text_ok(self):
        self.mal.send(build_frame(OP_TEXT, CHAT))
        self.good_chat()

    def test_zero_mask_key_ok(self):
        self.mal.send(build_frame(OP_TEXT, CHAT, mask_key=b"\0\0\0\0"))
        self.good_chat()

    def test_unmasked_1002(self):
        self.bad(1002, build_frame(OP_TEXT, CHAT, mask=False))

    def test_unmasked_control_1002(self):
        self.bad(1002, build_frame(OP_PING, b"x", mask=False))

    def test_rsv_bits_1002(self):
        for rsv in (4, 2, 1):
            with self.subTest(rsv=rsv):
                if rsv != 4:
                    self.reconnect_mal()
                self.bad(1002, build_frame(OP_TEXT, CHAT, rsv=rsv))

    def test_rsv_on_control_1002(self):
        self.bad(1002, build_frame(OP_PING, b"p", rsv=4))

    def test_reserved_opcodes_1002(self):
        for op in (3, 7, 11, 15):
            with self.subTest(op=op):
                if op != 3:
                    self.reconnect_mal()
                self.bad(1002, build_frame(op, b"x"))

    def test_ping_pong_payload(self):
        for payload in (b"", b"hello", bytes(range(125)), "é€".encode()):
            with self.subTest(n=len(payload)):
                self.mal.send(build_frame(OP_PING, payload))
                f = self.mal.recv_frame()
                self.assertEqual(f.opcode, OP_PONG, f)
                self.assertTrue(f.fin)
                self.assertEqual(f.payload, payload)
        self.mal.send(build_frame(OP_TEXT, CHAT))
        self.good_chat()

    def test_unsolicited_pong_ignored(self):
        self.mal.send(build_frame(OP_PONG, b"whatever") + build_frame(OP_TEXT, CHAT))
        self.good_chat()

    def test_ping_126_bytes_1002(self):
        self.bad(1002, build_frame(OP_PING, b"x" * 126))

    def test_ping_125_via_16bit_length_1002(self):
        # a control frame may not use the extended length at all
        self.bad(1002, build_frame(OP_PING, b"x" * 125, length_mode=16))

    def test_fragmented_ping_1002(self):
        self.bad(1002, build_frame(OP_PING, b"ab", fin=False))

    def test_close_fragmented_1002(self):
        self.bad(1002, build_frame(OP_CLOSE, close_payload(1000), fin=False))

    def test_fragmented_text_with_ping_between(self):
        msg = chat_bytes("fragmented")
        a, b, c = msg[:10], msg[10:25], msg[25:]
        self.mal.send(build_frame(OP_TEXT, a, fin=False) + build_frame(OP_PING, b"mid")
                      + build_frame(OP_CONT, b, fin=False) + build_frame(OP_CONT, c, fin=True))
        f = self.mal.recv_frame()
        self.assertEqual((f.opcode, f.payload), (OP_PONG, b"mid"))
        self.good_chat("fragmented")

    def test_fragmented_text_in_separate_sends(self):
        msg = chat_bytes("slow fragments")
        parts = [msg[i:i + 7] for i in range(0, len(msg), 7)]
        for i, p in enumerate(parts):
            first, last = i == 0, i == len(parts) - 1
            self.mal.send(build_frame(OP_TEXT if first else OP_CONT, p, fin=last))
            time.sleep(0.01)
        self.good_chat("slow fragments")

    def test_empty_fragments(self):
        msg = chat_bytes("empties")
        self.mal.send(build_frame(OP_TEXT, b"", fin=False) + build_frame(OP_CONT, msg, fin=False)
                      + build_frame(OP_CONT, b"", fin=True))
        self.good_chat("empties")

    def test_continuation_without_start_1002(self):
        self.bad(1002, build_frame(OP_CONT, CHAT, fin=True))

    def test_continuation_after_complete_message_1002(self):
        self.mal.send(build_frame(OP_TEXT, CHAT))
        self.good_chat()
        self.bad(1002, build_frame(OP_CONT, b"x", fin=True))

    def test_new_text_inside_fragmented_1002(self):
        self.bad(1002, build_frame(OP_TEXT, b'{"type":', fin=False), build_frame(OP_TEXT, CHAT))

    def test_binary_inside_fragmented_text_1002(self):
        self.bad(1002, build_frame(OP_TEXT, b'{"type":', fin=False), build_frame(OP_BINARY, b"x"))

    def test_invalid_utf8_1007(self):
        cases = [b'{"type":"chat","data":"\xff"}',
                 b'{"type":"chat","data":"\xc0\xaf"}',          # overlong
                 b'{"type":"chat","data":"\xed\xa0\x80"}',      # surrogate
                 b'{"type":"chat","data":"\xf4\x90\x80\x80"}',  # > U+10FFFF
                 b'{"type":"chat","data":"\xe2\x82"}',          # truncated in the middle
                 b'{"type":"chat","data":"x"}\xe2\x82']         # truncated at the end
        for i, payload in enumerate(cases):
            with self.subTest(payload=payload):
                if i:
                    self.reconnect_mal()
                self.bad(1007, build_frame(OP_TEXT, payload))

    def test_utf8_split_across_fragments_ok(self):
        msg = chat_bytes("euro €")
        i = msg.index("€".encode()) + 1        # split inside the 3-byte sequence
        self.mal.send(build_frame(OP_TEXT, msg[:i], fin=False))
        time.sleep(0.05)
        self.mal.send(build_frame(OP_CONT, msg[i:], fin=True))
        self.good_chat("euro €")

    def test_invalid_utf8_across_fragments_1007(self):
        self.bad(1007, build_frame(OP_TEXT, b'{"type":"chat","data":"\xe2\x82', fin=False),
                 build_frame(OP_CONT, b'A"}', fin=True))

    def test_truncated_utf8_at_message_end_across_fragments_1007(self):
        self.bad(1007, build_frame(OP_TEXT, b'{"type":"chat","data":"x"}', fin=False),
                 build_frame(OP_CONT, b'\xf0\x9f', fin=True))

    def test_binary_1003(self):
        self.bad(1003, build_frame(OP_BINARY, CHAT))

    def test_fragmented_binary_1003(self):
        self.bad(1003, build_frame(OP_BINARY, CHAT[:5], fin=False))

    def test_message_at_limit_ok(self):
        head, tail = b'{"type":"chat","data":{"text":"', b'"}}'
        text = "m" * (MAX - len(head) - len(tail))
        msg = head + text.encode() + tail
        self.assertEqual(len(msg), MAX)
        self.mal.send(build_frame(OP_TEXT, msg))
        self.good_chat(text)

    def test_message_over_limit_1009(self):
        head, tail = b'{"type":"chat","data":{"text":"', b'"}}'
        msg = head + b"m" * (MAX + 1 - len(head) - len(tail)) + tail
        self.assertEqual(len(msg), MAX + 1)
        self.bad(1009, build_frame(OP_TEXT, msg))

    def test_fragmented_message_over_limit_1009(self):
        self.bad(1009, build_frame(OP_TEXT, b'{"type":"chat","data":"' + b"a" * 600, fin=False),
                 build_frame(OP_CONT, b"a" * 600, fin=False))

    def test_huge_declared_length_1009(self):
        # the header alone announces 1 GB: refused without waiting for it
        self.bad(1009, build_frame(OP_TEXT, b"", length=1 << 30)[:14])

    def test_64bit_length_top_bit_1002(self):
        frame = bytes([0x81, 0x80 | 127]) + struct.pack("!Q", (1 << 63) | 5) + os.urandom(4)
        self.bad(1002, frame)

    def test_non_minimal_16bit_length_1002(self):
        self.bad(1002, build_frame(OP_TEXT, CHAT, length_mode=16))

    def test_non_minimal_64bit_length_1002(self):
        self.bad(1002, build_frame(OP_TEXT, CHAT, length_mode=64))

    def test_non_minimal_64bit_for_16bit_size_1002(self):
        self.bad(1002, build_frame(OP_TEXT, b" " * 200, length_mode=64))

    # -- close handshake ---------------------------------------------------

    def test_client_close_1000_echoed(self):
        self.mal.send_close(1000, b"bye")
        f = self.mal.recv_frame()
        self.assertEqual(f.opcode, OP_CLOSE, f)
        self.assertEqual(f.close_code, 1000)
        self.assertEqual(self.mal.expect_eof(), b"")
        self.mal.close()
        self.bystander_ok()

    def test_client_close_codes_echoed(self):
        for code in (1000, 1001, 3000, 4000, 4999):
            with self.subTest(code=code):
                if code != 1000:
                    self.reconnect_mal()
                f = self.mal.close_handshake(code, "reason é")
                self.assertEqual(f.close_code, code)
                self.bystander_ok()

    def test_client_close_empty_payload(self):
        self.mal.send_frame(OP_CLOSE, b"")
        f = self.mal.recv_frame()
        self.assertEqual(f.opcode, OP_CLOSE, f)
        self.assertIn(f.close_code, (None, 1000), f)
        self.assertEqual(self.mal.expect_eof(), b"")
        self.bystander_ok()

    def test_close_invalid_codes_1002(self):
        for code in (1005, 999, 5000, 1006, 1015, 1004, 0, 2999, 1016):
            with self.subTest(code=code):
                if code != 1005:
                    self.reconnect_mal()
                self.bad(1002, build_frame(OP_CLOSE, close_payload(code)))

    def test_close_one_byte_payload_1002(self):
        self.bad(1002, build_frame(OP_CLOSE, b"\x03"))

    def test_close_reason_invalid_utf8_1007(self):
        self.bad(1007, build_frame(OP_CLOSE, close_payload(1000) + b"\xff\xfe"))

    def test_close_inside_fragmented_message(self):
        # control frames may come between fragments; the close is echoed
        self.mal.send(build_frame(OP_TEXT, b'{"type":', fin=False)
                      + build_frame(OP_CLOSE, close_payload(1000)))
        f = self.mal.recv_frame()
        self.assertEqual((f.opcode, f.close_code), (OP_CLOSE, 1000))
        self.mal.expect_eof()
        self.bystander_ok()

    def test_data_after_close_ignored(self):
        self.mal.send(build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_TEXT, CHAT))
        f = self.mal.recv_frame()
        self.assertEqual((f.opcode, f.close_code), (OP_CLOSE, 1000))
        self.mal.expect_eof()
        # the chat after the close was not delivered
        self.bob.recv_until("user_left", skip=(), data={"user_id": "mal", "count": 1})
        self.assert_chat_works(self.bob, "bob")

    # -- delivery shapes --------------------------------------------------

    def test_frames_one_byte_at_a_time(self):
        data = build_frame(OP_PING, b"pp") + build_frame(OP_TEXT, chat_bytes("bytewise"))
        self.mal.send_bytewise(data, delay=0.002)
        f = self.mal.recv_frame()
        self.assertEqual((f.opcode, f.payload), (OP_PONG, b"pp"))
        self.good_chat("bytewise")

    def test_fragmented_message_one_byte_at_a_time(self):
        msg = chat_bytes("frag bytes é")
        data = build_frame(OP_TEXT, msg[:12], fin=False) + build_frame(OP_CONT, msg[12:])
        self.mal.send_bytewise(data, delay=0.002)
        self.good_chat("frag bytes é")

    def test_16bit_length_frame_bytewise(self):
        head, tail = b'{"type":"chat","data":{"text":"', b'"}}'
        text = "w" * (300 - len(head) - len(tail))
        self.mal.send_bytewise(build_frame(OP_TEXT, head + text.encode() + tail), delay=0.0005)
        self.good_chat(text)

    def test_many_frames_one_send(self):
        frames = []
        for i in range(50):
            frames.append(build_frame(OP_TEXT, chat_bytes("n%d" % i)))
            if i % 10 == 5:
                frames.append(build_frame(OP_PING, b"%d" % i))
        self.mal.send(b"".join(frames))
        pongs = []
        got = []
        while len(got) < 50:
            f = self.mal.recv_frame()
            if f.opcode == OP_PONG:
                pongs.append(f.payload)
                continue
            self.assertEqual(f.opcode, OP_TEXT, f)
            got.append(json.loads(f.payload)["data"]["text"])
        self.assertEqual(got, ["n%d" % i for i in range(50)])
        for i in range(50):
            self.bob.recv_until("chat", data={"text": "n%d" % i}, client_id="mal")
        # the pongs that had not arrived yet come now
        while len(pongs) < 5:
            f = self.mal.recv_frame()
            self.assertEqual(f.opcode, OP_PONG)
            pongs.append(f.payload)
        self.assertEqual(pongs, [b"5", b"15", b"25", b"35", b"45"])

    def test_bad_frame_after_good_ones_in_same_send(self):
        self.mal.send(build_frame(OP_TEXT, CHAT) + build_frame(OP_TEXT, CHAT, mask=False))
        self.bob.recv_until("chat", data={"text": "frames"}, client_id="mal")
        self.mal.expect_close(1002)
        self.bystander_ok()

    def test_server_frames_well_formed(self):
        # the harness checks every server frame: unmasked, minimal length, no RSV
        self.mal.send(build_frame(OP_TEXT, CHAT))
        f = self.mal.recv_frame()
        self.assertEqual(f.opcode, OP_TEXT)
        self.assertTrue(f.fin)
        self.assertEqual(f.rsv, 0)


if __name__ == "__main__":
    unittest.main()
