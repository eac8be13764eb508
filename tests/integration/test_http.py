"""HTTP endpoints (PROTOCOL.md section 1): /, /clients, /healthz, 404/405,
keep-alive, pipelining, static files, path traversal, malformed and oversized
requests, handshake_timeout."""

import os
import socket
import time
import unittest

from harness import (ServerTestCase, Conn, WS, build_request, http_date, wait_for, PeerClosed,
                     TIMEOUT)

ROOT_BODY = b'{"message":"WebSocket server is running"}'
NOT_FOUND = b'{"detail":"Not Found"}'
NOT_ALLOWED = b'{"detail":"Method Not Allowed"}'

INDEX = b"<!doctype html>\n<html><body><h1>fastwsd static index</h1></body></html>\n"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7"
       b"\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")
STATIC_FILES = {
    "index.html": INDEX,
    "style.css": b"body { color: #123456; }\n",
    "app.js": b"console.log('fastwsd');\n",
    "img.png": PNG,
    "data.json": b'{"k": [1, 2, 3]}\n',
    "notes.txt": b"plain text file\n",
    "sub/deep.txt": b"deep file\n",
    "big.bin.txt": bytes(range(32, 127)) * 2000,   # ~190 KB
    "my file.txt": b"a name with a space\n",
    "huge.txt": (b"0123456789abcdef" * 4096) * 48,  # 3 MB
}
MTIME = 1577934245   # Thu, 02 Jan 2020 03:04:05 GMT
SECRET = b"top secret outside the static root\n"

CONTENT_TYPES = {
    "style.css": ("text/css",),
    "app.js": ("application/javascript", "text/javascript"),
    "img.png": ("image/png",),
    "data.json": ("application/json",),
    "notes.txt": ("text/plain",),
    "index.html": ("text/html",),
}


def _setup_static(tmp, static_dir):
    # a file outside the root, reachable only by escaping it
    with open(os.path.join(tmp, "secret.txt"), "wb") as f:
        f.write(SECRET)
    os.mkdir(os.path.join(tmp, "outside"))
    with open(os.path.join(tmp, "outside", "secret.txt"), "wb") as f:
        f.write(SECRET)
    os.symlink(os.path.join(tmp, "secret.txt"), os.path.join(static_dir, "escape.txt"))
    os.symlink("../secret.txt", os.path.join(static_dir, "escape_rel.txt"))
    os.symlink(os.path.join(tmp, "outside"), os.path.join(static_dir, "escdir"))
    for rel in STATIC_FILES:
        os.utime(os.path.join(static_dir, rel), (MTIME, MTIME))


class JsonAnswers:
    def assertJson(self, r, status, body=None):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.media_type(), "application/json", r)
        self.assertEqual(r.header("Content-Length"), str(len(r.body)), r)
        if body is not None:
            self.assertEqual(r.body, body, r)


class HttpRoutes(JsonAnswers, ServerTestCase):
    PER_TEST = False
    STATIC_FILES = STATIC_FILES

    def test_root_get_exact(self):
        r = self.http("GET", "/")
        self.assertJson(r, 200, ROOT_BODY)
        self.assertEqual(r.version, "HTTP/1.1")
        self.assertEqual(r.header("Content-Length"), str(len(ROOT_BODY)))

    def test_root_head_no_body(self):
        c = self.conn()
        r = c.request("HEAD", "/")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.media_type(), "application/json")
        self.assertEqual(r.header("Content-Length"), str(len(ROOT_BODY)))
        # no body bytes: the next response on this connection parses cleanly
        r2 = c.request("GET", "/")
        self.assertJson(r2, 200, ROOT_BODY)

    def test_root_with_query_string(self):
        self.assertJson(self.http("GET", "/?x=1"), 200, ROOT_BODY)

    def test_healthz(self):
        self.assertJson(self.http("GET", "/healthz"), 200, b'{"status":"ok"}')

    def test_clients_empty(self):
        r = self.http("GET", "/clients")
        self.assertJson(r, 200)
        self.assertEqual(r.json(), {"count": 0, "clients": []})

    def test_not_found(self):
        for path in ("/nope", "/clientsx", "/index.html", "/ws", "/%41", "/static-x"):
            with self.subTest(path=path):
                self.assertJson(self.http("GET", path), 404, NOT_FOUND)

    def test_not_found_other_methods(self):
        r = self.http("DELETE", "/nope")
        self.assertJson(r, 404, NOT_FOUND)

    def test_method_not_allowed(self):
        for method, path in (("POST", "/clients"), ("POST", "/"), ("DELETE", "/clients"),
                             ("PUT", "/"), ("POST", "/healthz")):
            with self.subTest(method=method, path=path):
                r = self.http(method, path, headers=[("Content-Length", "0")])
                self.assertJson(r, 405, NOT_ALLOWED)
                allow = r.header("Allow")
                self.assertIsNotNone(allow, "405 without Allow: %r" % r)
                methods = [m.strip().upper() for m in allow.split(",")]
                self.assertIn("GET", methods, r)
                self.assertNotIn(method, methods, r)

    def test_method_not_allowed_root_allows_head(self):
        r = self.http("POST", "/", headers=[("Content-Length", "0")])
        methods = [m.strip().upper() for m in (r.header("Allow") or "").split(",")]
        self.assertIn("HEAD", methods, r)

    def test_post_with_body_then_keepalive(self):
        # the body of a rejected request must be consumed, not parsed as the
        # next request
        c = self.conn()
        r = c.request("POST", "/clients", body=b"GET /nope HTTP/1.1\r\n\r\n")
        self.assertJson(r, 405, NOT_ALLOWED)
        self.assertJson(c.request("GET", "/"), 200, ROOT_BODY)

    def test_get_with_body_then_pipelined(self):
        c = self.conn()
        c.send(build_request("GET", "/", body=b"hello", host=c.host)
               + build_request("GET", "/", host=c.host))
        self.assertJson(c.read_response(), 200, ROOT_BODY)
        self.assertJson(c.read_response(), 200, ROOT_BODY)

    def test_chunked_body_then_keepalive(self):
        c = self.conn()
        c.send(b"POST /clients HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nGET /\r\n0\r\n\r\n" + build_request("GET", "/", host=c.host))
        self.assertJson(c.read_response(), 405, NOT_ALLOWED)
        self.assertJson(c.read_response(), 200, ROOT_BODY)

    def test_keep_alive(self):
        c = self.conn()
        self.assertJson(c.request("GET", "/"), 200, ROOT_BODY)
        self.assertJson(c.request("GET", "/clients"), 200)
        self.assertJson(c.request("GET", "/nope"), 404, NOT_FOUND)
        self.assertJson(c.request("GET", "/"), 200, ROOT_BODY)

    def test_pipelining(self):
        c = self.conn()
        h = c.host
        c.send(build_request("GET", "/", host=h) + build_request("GET", "/clients", host=h)
               + build_request("GET", "/nope", host=h))
        self.assertJson(c.read_response(), 200, ROOT_BODY)
        r = c.read_response()
        self.assertJson(r, 200)
        self.assertIn("clients", r.json())
        self.assertJson(c.read_response(), 404, NOT_FOUND)
        # still usable afterwards
        self.assertJson(c.request("GET", "/"), 200, ROOT_BODY)

    def test_pipelining_with_head_and_static(self):
        c = self.conn()
        h = c.host
        c.send(build_request("HEAD", "/", host=h) + build_request("GET", "/static/notes.txt", host=h)
               + build_request("HEAD", "/static/notes.txt", host=h)
               + build_request("GET", "/", host=h))
        r = c.read_response("HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Length"), str(len(ROOT_BODY)))
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, STATIC_FILES["notes.txt"]))
        r = c.read_response("HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Length"), str(len(STATIC_FILES["notes.txt"])))
        self.assertJson(c.read_response(), 200, ROOT_BODY)

    def test_pipelining_split_across_sends(self):
        c = self.conn()
        data = build_request("GET", "/", host=c.host) * 3
        c.send(data[:10])
        time.sleep(0.05)
        c.send(data[10:50])
        time.sleep(0.05)
        c.send(data[50:])
        for _ in range(3):
            self.assertJson(c.read_response(), 200, ROOT_BODY)

    def test_connection_close_honoured(self):
        c = self.conn()
        r = c.request("GET", "/", headers=[("Connection", "close")])
        self.assertJson(r, 200, ROOT_BODY)
        self.assertEqual(c.expect_eof(), b"")

    def test_http10_closes(self):
        c = self.conn()
        r = c.request("GET", "/", version="HTTP/1.0")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, ROOT_BODY)
        self.assertEqual(c.expect_eof(), b"")

    # -- static files ----------------------------------------------------

    def test_static_index(self):
        for path in ("/static/", "/static"):
            with self.subTest(path=path):
                r = self.http("GET", path)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.media_type(), "text/html", r)
                self.assertEqual(r.body, INDEX)
                self.assertEqual(r.header("Content-Length"), str(len(INDEX)))

    def test_static_content_types(self):
        for name, types in CONTENT_TYPES.items():
            with self.subTest(name=name):
                r = self.http("GET", "/static/" + name)
                self.assertEqual(r.status, 200, r)
                self.assertIn(r.media_type(), types, r)
                self.assertEqual(r.body, STATIC_FILES[name])
                self.assertEqual(r.header("Content-Length"), str(len(STATIC_FILES[name])))

    def test_static_subdir_and_big_file(self):
        r = self.http("GET", "/static/sub/deep.txt")
        self.assertEqual((r.status, r.body), (200, STATIC_FILES["sub/deep.txt"]))
        r = self.http("GET", "/static/big.bin.txt")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, STATIC_FILES["big.bin.txt"])

    def test_static_percent_encoded_name(self):
        r = self.http("GET", "/static/%6eotes.txt")
        self.assertEqual((r.status, r.body), (200, STATIC_FILES["notes.txt"]))

    def test_static_name_with_space(self):
        r = self.http("GET", "/static/my%20file.txt")
        self.assertEqual((r.status, r.body), (200, STATIC_FILES["my file.txt"]))

    def test_static_huge_file_slow_reader(self):
        # a reader with a tiny window: the daemon must finish the body
        # across many partial writes, and serve others meanwhile
        c = Conn(self.port, rcvbuf=4096)
        self.addCleanup(c.close)
        c.send(build_request("GET", "/static/huge.txt", host=c.host))
        time.sleep(0.3)
        self.assertEqual(self.http("GET", "/").body, ROOT_BODY)
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Length"), str(len(STATIC_FILES["huge.txt"])))
        self.assertTrue(r.body == STATIC_FILES["huge.txt"], "huge body differs")
        self.assertJson(c.request("GET", "/"), 200, ROOT_BODY)

    def test_upgrade_after_pipelined_request(self):
        from harness import WS
        ws = WS(self.port, "/ws/piped", handshake=False)
        self.addCleanup(ws.close)
        ws.send(build_request("GET", "/", host=ws.host)
                + build_request("GET", "/ws/piped", ws.upgrade_request(), host=None))
        self.assertJson(ws.read_response(), 200, ROOT_BODY)
        r = ws.read_response()
        self.assertEqual(r.status, 101, r)
        ws.chat({"text": "after pipeline"})
        ws.recv_until("chat", data={"text": "after pipeline"}, client_id="piped")

    def test_static_query_ignored(self):
        r = self.http("GET", "/static/notes.txt?v=3")
        self.assertEqual((r.status, r.body), (200, STATIC_FILES["notes.txt"]))

    def test_static_missing(self):
        r = self.http("GET", "/static/nope.txt")
        self.assertJson(r, 404, NOT_FOUND)

    def test_static_directory_without_index(self):
        r = self.http("GET", "/static/sub")
        self.assertNotEqual(r.status, 200, r)
        r = self.http("GET", "/static/sub/")
        self.assertNotEqual(r.status, 200, r)

    def test_static_etag_304(self):
        c = self.conn()
        r = c.request("GET", "/static/style.css")
        self.assertEqual(r.status, 200)
        etag = r.header("ETag")
        self.assertTrue(etag, "no ETag: %r" % r)
        self.assertRegex(etag, r'^(W/)?"[^"]*"$')
        r2 = c.request("GET", "/static/style.css", headers=[("If-None-Match", etag)])
        self.assertEqual(r2.status, 304, r2)
        self.assertEqual(r2.body, b"")
        self.assertEqual(r2.header("ETag"), etag, r2)
        # a list with the tag in it also matches, and so does *
        r3 = c.request("GET", "/static/style.css", headers=[("If-None-Match", '"zzz", ' + etag)])
        self.assertEqual(r3.status, 304, r3)
        r4 = c.request("GET", "/static/style.css", headers=[("If-None-Match", "*")])
        self.assertEqual(r4.status, 304, r4)
        # connection still in sync after the bodiless 304s
        r5 = c.request("GET", "/static/style.css", headers=[("If-None-Match", '"other"')])
        self.assertEqual((r5.status, r5.body), (200, STATIC_FILES["style.css"]))
        self.assertJson(c.request("GET", "/"), 200, ROOT_BODY)

    def test_static_etag_differs_per_file(self):
        a = self.http("GET", "/static/style.css").header("ETag")
        b = self.http("GET", "/static/app.js").header("ETag")
        self.assertTrue(a and b)
        self.assertNotEqual(a, b)
        r = self.http("GET", "/static/app.js", headers=[("If-None-Match", a)])
        self.assertEqual(r.status, 200)

    def test_static_last_modified(self):
        r = self.http("GET", "/static/notes.txt")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Last-Modified"), http_date(MTIME), r)

    def test_static_head(self):
        c = self.conn()
        r = c.request("HEAD", "/static/img.png")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.media_type(), "image/png")
        self.assertEqual(r.header("Content-Length"), str(len(PNG)))
        self.assertTrue(r.header("ETag"))
        self.assertTrue(r.header("Last-Modified"))
        r2 = c.request("GET", "/")
        self.assertJson(r2, 200, ROOT_BODY)

    def test_static_post_not_allowed(self):
        r = self.http("POST", "/static/notes.txt", headers=[("Content-Length", "0")])
        self.assertEqual(r.status, 405, r)
        self.assertTrue(r.header("Allow"), r)

    def test_static_traversal(self):
        paths = [
            "/static/../fastws.conf",
            "/static/../secret.txt",
            "/static/sub/../../secret.txt",
            "/static/%2e%2e/secret.txt",
            "/static/%2E%2E/secret.txt",
            "/static/%2e%2e/fastws.conf",
            "/static/..%2fsecret.txt",
            "/static/..%2f..%2fetc%2fpasswd",
            "/static/%2e%2e%2fsecret.txt",
            "/static/sub/%2e%2e/%2e%2e/secret.txt",
            "/static/a%00b",
            "/static/notes.txt%00.png",
            "/static/%00",
            "/static/escape.txt",
            "/static/escape_rel.txt",
            "/static/escdir/secret.txt",
            "/static//etc/passwd",
            "/static/%2fetc%2fpasswd",
        ]
        for path in paths:
            with self.subTest(path=path):
                r = self.http("GET", path)
                self.assertEqual(r.status, 404, r)
                self.assertEqual(r.body, NOT_FOUND, r)
                self.assertNotIn(b"secret", r.body)

    @classmethod
    def setup_static(cls, tmp, static_dir):
        _setup_static(tmp, static_dir)


class HttpClientsList(JsonAnswers, ServerTestCase):
    """/clients follows connects and disconnects."""

    def clients(self):
        r = self.http("GET", "/clients")
        self.assertJson(r, 200)
        obj = r.json()
        self.assertEqual(list(obj.keys()), ["count", "clients"], obj)
        self.assertEqual(obj["count"], len(obj["clients"]), obj)
        return obj

    def test_clients_follow_connects(self):
        self.assertEqual(self.clients(), {"count": 0, "clients": []})
        a, b, c = self.connect_all(["alice", "bob", "carol"])
        obj = self.clients()
        self.assertEqual(obj["count"], 3)
        self.assertEqual(sorted(obj["clients"]), ["alice", "bob", "carol"])
        b.close_handshake()
        a.recv_until("user_left", data={"user_id": "bob", "count": 2})
        obj = self.clients()
        self.assertEqual(sorted(obj["clients"]), ["alice", "carol"])
        self.assertEqual(obj["count"], 2)
        c.reset()   # abrupt drop
        a.recv_until("user_left", data={"user_id": "carol", "count": 1})
        self.assertEqual(self.clients(), {"count": 1, "clients": ["alice"]})
        a.close()
        wait_for(lambda: self.clients()["count"] == 0, msg="/clients to be empty")
        self.assertEqual(self.clients(), {"count": 0, "clients": []})


class HttpMalformed(JsonAnswers, ServerTestCase):
    PER_TEST = False

    def send_and_expect(self, raw, status, check_closed=True):
        c = self.conn()
        c.send(raw)
        r = c.read_response()
        self.assertEqual(r.status, status, r)
        if check_closed:
            rest = c.expect_eof()
            self.assertEqual(rest, b"", "data after %d: %r" % (status, rest))
        return r

    def test_malformed_requests_400(self):
        cases = [
            b"GARBAGE\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"GET / HTTX/1.1\r\nHost: x\r\n\r\n",
            b"GET\x01 / HTTP/1.1\r\n\r\n",
        ]
        for raw in cases:
            with self.subTest(raw=raw):
                self.send_and_expect(raw, 400)

    def test_malformed_after_good_request(self):
        c = self.conn()
        c.send(build_request("GET", "/", host=c.host) + b"BAD REQUEST LINE\r\n\r\n")
        self.assertJson(c.read_response(), 200, ROOT_BODY)
        self.assertEqual(c.read_response().status, 400)
        c.expect_eof()

    def test_http11_without_host_400(self):
        self.send_and_expect(b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400)

    def test_te_and_cl_400(self):
        self.send_and_expect(b"POST /clients HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)

    def test_long_url_refused(self):
        c = self.conn()
        c.send(build_request("GET", "/" + "a" * 10000, host="x"))
        r = c.read_response()
        self.assertIn(r.status, (414, 431), r)
        c.expect_eof()

    def test_header_too_large_431(self):
        raw = build_request("GET", "/", headers=[("X-Big", "a" * 9000)], host="x")
        self.send_and_expect(raw, 431)

    def test_header_just_fits(self):
        raw = build_request("GET", "/", headers=[("X-Big", "a" * 7000)], host="x")
        r = self.send_and_expect(raw, 200, check_closed=False)
        self.assertEqual(r.body, ROOT_BODY)

    def test_header_too_large_slowly(self):
        # the limit applies to the whole block, also when it arrives in pieces
        c = self.conn()
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        try:
            for i in range(20):
                c.send(("X-H%d: %s\r\n" % (i, "b" * 500)).encode())
                time.sleep(0.01)
            c.send(b"\r\n")
        except OSError:
            pass   # the server may already have answered and closed
        r = c.read_response()
        self.assertEqual(r.status, 431, r)
        c.expect_eof()

    def test_too_many_header_fields_431(self):
        headers = [("X-H%d" % i, "v") for i in range(101)]
        raw = build_request("GET", "/", headers=headers, host="x")
        self.send_and_expect(raw, 431)

    def test_100_header_fields_ok(self):
        headers = [("X-H%d" % i, "v") for i in range(99)]   # + Host = 100
        raw = build_request("GET", "/", headers=headers, host="x")
        r = self.send_and_expect(raw, 200, check_closed=False)
        self.assertEqual(r.body, ROOT_BODY)

    def test_server_alive_after_bad_requests(self):
        self.send_and_expect(b"\x00\x01\x02\r\n\r\n", 400)
        self.assertJson(self.http("GET", "/"), 200, ROOT_BODY)


class Metrics(ServerTestCase):
    def metrics(self):
        r = self.http("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        ct = (r.header("Content-Type") or "").replace(" ", "").lower()
        self.assertTrue(ct.startswith("text/plain"), r)
        self.assertIn("version=0.0.4", ct, r)
        self.assertEqual(r.header("Content-Length"), str(len(r.body)))
        vals = {}
        text = r.body.decode()
        self.assertTrue(text.endswith("\n"))
        for line in text.splitlines():
            if not line or line.startswith("#"):
                if line.startswith("# TYPE"):
                    self.assertRegex(line, r"^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)$")
                continue
            m = __import__("re").match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+]+|NaN|[+-]Inf)$', line)
            self.assertTrue(m, "bad exposition line %r" % line)
            vals[m.group(1)] = float(m.group(2))
        return vals

    def test_metrics_follow_traffic(self):
        m0 = self.metrics()
        for name in ("fastws_connections", "fastws_connections_total", "fastws_messages_sent_total",
                     "fastws_bytes_received_total", "fastws_bytes_sent_total", "fastws_rooms",
                     "fastws_send_queue_bytes"):
            self.assertIn(name, m0)
        self.assertEqual(m0["fastws_connections"], 0)
        a, b = self.connect_all(["a", "b"])
        for i in range(3):
            a.chat(i)
            for c in (a, b):
                c.recv_env(type="chat")
        a.send_text("bad")
        a.recv_env(type="error")
        m1 = self.metrics()
        self.assertEqual(m1["fastws_connections"], 2)
        self.assertEqual(m1["fastws_connections_total"] - m0["fastws_connections_total"], 2)
        self.assertEqual(m1['fastws_messages_received_total{type="chat"}']
                         - m0.get('fastws_messages_received_total{type="chat"}', 0), 3)
        self.assertEqual(m1['fastws_errors_total{code="invalid_json"}']
                         - m0.get('fastws_errors_total{code="invalid_json"}', 0), 1)
        self.assertGreaterEqual(m1["fastws_messages_sent_total"] - m0["fastws_messages_sent_total"], 7)
        self.assertGreater(m1["fastws_bytes_received_total"], m0["fastws_bytes_received_total"])
        self.assertGreater(m1["fastws_bytes_sent_total"], m0["fastws_bytes_sent_total"])
        b.send_frame(1, b"x", mask=False)
        b.expect_close(1002)
        a.recv_env(type="user_left")
        m2 = self.metrics()
        self.assertEqual(m2["fastws_connections"], 1)
        self.assertEqual(m2.get('fastws_closes_total{code="1002"}', 0)
                         - m0.get('fastws_closes_total{code="1002"}', 0), 1)


class HttpHandshakeTimeout(ServerTestCase):
    CONFIG = {"websocket": {"handshake_timeout": "1"}}
    PER_TEST = False

    def closed_after(self, trickle):
        c = self.conn(timeout=5)
        t0 = time.monotonic()
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: ")
        closed = False
        while time.monotonic() - t0 < 4:
            if trickle:
                try:
                    c.send(b"a")
                except OSError:
                    closed = True
                    break
            c.settimeout(0.3)
            try:
                c._fill()
            except socket.timeout:
                continue
            except PeerClosed:
                closed = True
                break
        if not closed:
            # a 408 answer may have arrived; then it must close
            c.settimeout(1)
            try:
                c.expect_eof(timeout=1)
                closed = True
            except AssertionError:
                pass
        dt = time.monotonic() - t0
        self.assertTrue(closed, "connection still open after %.1fs with handshake_timeout=1" % dt)
        return dt

    def test_stalled_request_closed(self):
        dt = self.closed_after(trickle=False)
        self.assertGreater(dt, 0.7)
        self.assertLess(dt, 2.5)

    def test_trickling_request_closed(self):
        dt = self.closed_after(trickle=True)
        self.assertGreater(dt, 0.7)
        self.assertLess(dt, 2.5)

    def test_silent_connection_closed(self):
        c = self.conn()
        t0 = time.monotonic()
        c.expect_eof(timeout=4)
        dt = time.monotonic() - t0
        self.assertGreater(dt, 0.7)
        self.assertLess(dt, 2.5)

    def test_complete_request_in_time_ok(self):
        c = self.conn()
        time.sleep(0.5)
        r = c.request("GET", "/")
        self.assertEqual((r.status, r.body), (200, ROOT_BODY))

    def test_websocket_not_cut_by_handshake_timeout(self):
        a = self.ws("hs-alice")
        time.sleep(1.5)
        a.chat({"text": "still here"})
        a.recv_until("chat", data={"text": "still here"}, client_id="hs-alice")


if __name__ == "__main__":
    unittest.main()
