#!/usr/bin/python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ (see README.md).

Run from anywhere: /usr/bin/python3 tests/fuzz/make_corpus.py
It only adds or overwrites its own named seeds; inputs merged in from
fuzzing runs (hex names) are left alone. Standard library only.
"""

import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
MASK = b"\x37\xfa\x21\x3d"

# ---- frame: byte 0 options, byte 1 split seed, then the stream -------------
MAX_NONE, MAX_16, MAX_200, MAX_64K = 0, 1, 2, 3
BINARY, RSV1, REQ_MASK = 4, 8, 16
WHOLE, BYTEWISE = 0 << 5, 1 << 5


def split(k):
    return k << 5


SERVER = MAX_64K | BINARY | REQ_MASK
DEFLATE = SERVER | RSV1


def frame(op, payload=b"", fin=True, rsv1=False, masked=True, rsv23=0, length=None):
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | rsv23 | op
    m = 0x80 if masked else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n <= 0xFFFF:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    body = bytes(c ^ MASK[i % 4] for i, c in enumerate(payload))
    return head + MASK + body


def deflate(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def close(code=None, reason=b""):
    return b"" if code is None else struct.pack(">H", code) + reason


FRAME = {
    "text_small": (SERVER, 0, frame(1, b"hello")),
    "text_empty": (SERVER | BYTEWISE, 0, frame(1)),
    "text_len16": (SERVER | split(3), 7, frame(1, b"a" * 300)),
    "text_len16_min": (SERVER | split(2), 1, frame(1, b"b" * 126)),
    "text_len64_truncated": (MAX_NONE | BINARY | split(4), 9,
                             frame(2, b"x" * 16, length=70000)[:14 + 16]),
    "text_utf8": (SERVER | BYTEWISE, 0, frame(1, "h\u00e9llo \u20ac \U0001F600".encode())),
    "text_bad_utf8": (SERVER, 0, frame(1, b"ab\xed\xa0\x80cd")),
    "text_overlong": (SERVER | split(1), 3, frame(1, b"\xc0\xaf")),
    "binary": (SERVER, 0, frame(2, bytes(range(40)))),
    "binary_refused": (MAX_64K | REQ_MASK, 0, frame(2, b"\x00\x01")),
    "fragmented": (SERVER | split(2), 5,
                   frame(1, b"hel", fin=False) + frame(9, b"p") + frame(0, b"lo")),
    "fragmented_utf8_cut": (SERVER | BYTEWISE, 0,
                            frame(1, "x\u20ac".encode()[:2], fin=False)
                            + frame(0, "x\u20ac".encode()[2:])),
    "fragmented_many": (MAX_200 | BINARY | REQ_MASK | split(1), 2,
                        frame(2, b"a", fin=False) + b"".join(frame(0, b"bc", fin=False)
                                                             for _ in range(6))
                        + frame(0, b"d")),
    "cont_without_start": (SERVER, 0, frame(0, b"x")),
    "text_inside_message": (SERVER, 0, frame(1, b"a", fin=False) + frame(1, b"b")),
    "too_big": (MAX_16 | BINARY | REQ_MASK, 0, frame(1, b"0123456789abcdefg")),
    "too_big_fragments": (MAX_16 | REQ_MASK | split(2), 4,
                          frame(1, b"0123456789", fin=False) + frame(0, b"0123456789")),
    "ping": (SERVER, 0, frame(9, b"ping!")),
    "pong_empty": (SERVER | BYTEWISE, 0, frame(10)),
    "ping_too_long": (SERVER, 0, frame(9, b"p" * 126)),
    "ping_fragmented": (SERVER, 0, frame(9, b"p", fin=False)),
    "close_reason": (SERVER | split(2), 11, frame(8, close(1000, b"bye"))),
    "close_empty": (SERVER, 0, frame(8)),
    "close_1005": (SERVER, 0, frame(8, close(1005))),
    "close_one_byte": (SERVER, 0, frame(8, b"\x03")),
    "close_bad_utf8": (SERVER, 0, frame(8, close(4000, b"\xff"))),
    "close_then_data": (SERVER, 0, frame(8, close(1001)) + frame(1, b"after")),
    "unmasked": (SERVER, 0, frame(1, b"hi", masked=False)),
    "unmasked_client": (MAX_NONE | BINARY, 0, frame(1, b"hi", masked=False)),
    "rsv2": (SERVER, 0, frame(1, b"hi", rsv23=0x20)),
    "rsv1_refused": (SERVER, 0, frame(1, deflate(b"hi"), rsv1=True)),
    "opcode_3": (SERVER, 0, frame(3, b"hi")),
    "len16_not_minimal": (SERVER, 0, bytes([0x81, 0xFE, 0x00, 0x05]) + MASK + b"hello"),
    "len64_top_bit": (MAX_NONE | BINARY, 0, bytes([0x82, 0x7F, 0x80] + [0] * 7)),
    "deflate_text": (DEFLATE, 0, frame(1, deflate(b"hello hello hello hello"), rsv1=True)),
    "deflate_empty": (DEFLATE, 0, frame(1, b"\x00", rsv1=True)),
    "deflate_fragmented": (DEFLATE | split(2), 6,
                           (lambda z: frame(1, z[:4], fin=False, rsv1=True) + frame(0, z[4:]))
                           (deflate(b'{"type":"chat","data":{"text":"' + b"z" * 200 + b'"}}'))),
    "deflate_bomb": (DEFLATE & ~3 | MAX_200, 0, frame(2, deflate(b"\x00" * 5000), rsv1=True)),
    "deflate_corrupt": (DEFLATE, 0, frame(1, b"\xff\xff\xff\xff", rsv1=True)),
    "deflate_rsv1_on_cont": (DEFLATE, 0, frame(1, b"a", fin=False) + frame(0, b"b", rsv1=True)),
    "many_messages": (SERVER | split(5), 13,
                      frame(1, b'{"type":"ping"}') + frame(9) + frame(2, b"\x01\x02")
                      + frame(1, b"x" * 130) + frame(8, close(1000))),
}

# ---- http: the bytes of a fresh connection ----------------------------------


def req(lines, body=b""):
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


KEY = "dGhlIHNhbXBsZSBub25jZQ=="
HTTP = {
    "chrome_upgrade": req([
        "GET /ws/alice HTTP/1.1", "Host: localhost:8000", "Connection: Upgrade",
        "Pragma: no-cache", "Cache-Control: no-cache",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "Upgrade: websocket", "Origin: http://localhost:8000", "Sec-WebSocket-Version: 13",
        "Accept-Encoding: gzip, deflate, br", "Accept-Language: en-US,en;q=0.9",
        "Sec-WebSocket-Key: " + KEY,
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]),
    "firefox_upgrade": req([
        "GET /ws/bob HTTP/1.1", "Host: 127.0.0.1:8000",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Accept: */*", "Accept-Language: en-US,en;q=0.5", "Accept-Encoding: gzip, deflate, br",
        "Sec-WebSocket-Version: 13", "Origin: http://127.0.0.1:8000",
        "Sec-WebSocket-Extensions: permessage-deflate", "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==",
        "Connection: keep-alive, Upgrade", "Sec-Fetch-Dest: empty", "Sec-Fetch-Mode: websocket",
        "Sec-Fetch-Site: same-origin", "Pragma: no-cache", "Cache-Control: no-cache",
        "Upgrade: websocket"]),
    "python_websockets": req([
        "GET /ws/carol HTTP/1.1", "Host: 127.0.0.1:8000", "Upgrade: websocket",
        "Connection: Upgrade", "Sec-WebSocket-Key: " + KEY, "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "User-Agent: Python/3.11 websockets/10.4"]),
    "upgrade_token_query": req([
        "GET /ws/al%69ce.x_1?token=eyJ.a.b&room=lobby HTTP/1.1", "Host: [::1]:8443",
        "Upgrade: WebSocket", "Connection: keep-alive,upgrade", "Sec-WebSocket-Key: " + KEY,
        "Sec-WebSocket-Version: 13", "Origin: https://[::1]:8443"]),
    "upgrade_version_8": req([
        "GET /ws/old HTTP/1.1", "Host: h", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: " + KEY, "Sec-WebSocket-Version: 8"]),
    "upgrade_two_keys": req([
        "GET /ws/a HTTP/1.1", "Host: h", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: " + KEY, "Sec-WebSocket-Key: " + KEY, "Sec-WebSocket-Version: 13"]),
    "upgrade_http10": req([
        "GET /ws/a HTTP/1.0", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: " + KEY, "Sec-WebSocket-Version: 13"]),
    "upgrade_ext_offers": req([
        "GET /echo HTTP/1.1", "Host: h", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: " + KEY, "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10, "
        "permessage-deflate; client_max_window_bits=\"12\"",
        "Sec-WebSocket-Extensions: x-webkit-deflate-frame"]),
    "curl_root": req(["GET / HTTP/1.1", "Host: localhost:8000", "User-Agent: curl/7.88.1",
                      "Accept: */*"]),
    "pipelined": req(["GET /clients HTTP/1.1", "Host: h"]) + req(["HEAD /healthz HTTP/1.1",
                                                                  "Host: h"])
    + req(["GET /static/index.html?v=1 HTTP/1.1", "Host: h", "If-None-Match: \"abc\""]),
    "post_body": req(["POST /clients HTTP/1.1", "Host: h", "Content-Length: 5"], b"hello"),
    "chunked": req(["POST / HTTP/1.1", "Host: h", "Transfer-Encoding: chunked"],
                   b"5\r\nhello\r\n0\r\n\r\n"),
    "no_host": req(["GET /metrics HTTP/1.1"]),
    "bad_request_line": b"GET /ws/a HTTP/9.9\r\n\r\n",
}

# ---- tokens: raw header values; '\n' separates the fields -----------------
TOKENS = {
    "connection": b"keep-alive, Upgrade",
    "connection_tabs": b"\tupgrade\t,close , ,",
    "pmd_offer": b"permessage-deflate; client_max_window_bits; server_no_context_takeover, "
                 b"permessage-deflate",
    "pmd_quoted": b'permessage-deflate; client_max_window_bits="10"',
    "pmd_declined": b"x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=10",
    "pmd_dup": b"permessage-deflate; client_no_context_takeover; client_no_context_takeover",
    "pmd_bad_quote": b'permessage-deflate; a="\\", permessage-deflate',
    "origin_same": b"http://localhost:8000\nlocalhost:8000\nhttp://localhost:8000",
    "origin_ipv6": b"https://[::1]\n[::1]:443\nhttps://[::1]:443",
    "origin_null": b"null\nexample.com\n*",
    "percent": b"%41lice%2e%5F",
    "percent_bad": b"%4g%",
    "percent_nul": b"a%00b",
    "query": b"token=abc%20def&room=lobby&a+b=1",
    "query_named": b"token\ntoken=a+b&x=1&token=second",
    "handshake_fields": b"GET\nwebsocket\nUpgrade\n" + KEY.encode() + b"\n13\x11",
    "id": b"alice_01.x-y",
    # These hash to 0 mod 256, so fuzz_tokens also parses them repeated to
    # 256 KiB (its linearity check): keep them byte for byte.
    "linear_pmd": b'permessage-deflate; client_max_window_bits="1563", ',
    "linear_query": b"%41154&token=a,upgrade, ",
    "linear_origin": b"http://a:31\n",
}

# ---- message: client text messages ------------------------------------------
MESSAGE = {
    "chat": b'{"type":"chat","data":{"text":"hi"}}',
    "private": b'{"type":"private","recipient_id":"bob","data":{"text":"hi"}}',
    "private_in_data": b'{"type":"private","data":{"recipient_id":"bob","text":"x"}}',
    "ping": b'{"type":"ping"}',
    "join": b'{"type":"join","room":"lobby"}',
    "leave": b'{"type":"leave","room":"lobby"}',
    "room": b'{"type":"room","room":"lobby","data":{"text":"in room"}}',
    "reals": b'{"type":"chat","data":[0.1,1e16,1e-5,-0.0,5e-324,1.7976931348623157e308,'
             b'123456789.125,2.5e-05,9007199254740993,1e22,0.30000000000000004]}',
    "ints": b'{"type":"chat","data":[0,-1,9223372036854775807,-9223372036854775808]}',
    "unicode": '{"type":"chat","data":"h\u00e9llo \u20ac \U0001F600 \\ud83d\\ude00"}'.encode(),
    "escapes": b'{"type":"chat","data":"a\\u0001\\n\\t\\"\\\\\\/\\u007f"}',
    "nested": b'{"type":"chat","data":{"a":[[[{"b":[true,false,null]}]]],"c":{}}}',
    "dup_keys": b'{"type":"a","data":1,"type":"chat"}',
    "null_recipient": b'{"type":"private","recipient_id":null,"data":{"recipient_id":"x"}}',
    "not_object": b"[1,2,3]",
    "number": b"5",
    "type_not_string": b'{"type":5}',
    "no_type": b'{"data":1}',
    "broken": b'{"type":"chat",',
    "bad_utf8": b'{"type":"chat","data":"\xc3\x28"}',
    "nul_escape": b'{"type":"chat","data":"a\\u0000b"}',
    "double_bytes": struct.pack("<d", 0.1) + b'{"type":"x"}',
}


def write(target, seeds, prefix=None):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, val in seeds.items():
        data = val if prefix is None else prefix(val)
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def main():
    write("frame", FRAME, lambda v: bytes([v[0], v[1]]) + v[2])
    write("http", HTTP)
    write("tokens", TOKENS)
    write("message", MESSAGE)


if __name__ == "__main__":
    main()
