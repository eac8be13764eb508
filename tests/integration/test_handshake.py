"""WebSocket upgrade (PROTOCOL.md section 2): accept key, client id rule,
RFC 6455 4.2.1 checks, Origin, duplicate ids."""

import unittest

from harness import ServerTestCase, WS, accept_for, make_key, wait_for, build_request

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


class Handshake(ServerTestCase):

    def assertRefused(self, path, status, **kw):
        c, r = self.upgrade(path, **kw)
        self.assertEqual(r.status, status, "%s %r -> %r" % (path, kw, r))
        self.assertIsNone(r.header("Sec-WebSocket-Accept"), r)
        return c, r

    def test_accept_key_rfc_example(self):
        self.assertEqual(accept_for(RFC_KEY), RFC_ACCEPT)
        c, r = self.upgrade("/ws/hs-rfc", key=RFC_KEY)
        self.assertEqual(r.status, 101, r)
        self.assertEqual(r.version, "HTTP/1.1")
        self.assertEqual(r.header("Sec-WebSocket-Accept"), RFC_ACCEPT)
        self.assertEqual((r.header("Upgrade") or "").lower(), "websocket", r)
        self.assertIn("upgrade", [t.strip().lower() for t in (r.header("Connection") or "").split(",")], r)
        self.assertIsNone(r.header("Sec-WebSocket-Extensions"), r)

    def test_accept_key_random(self):
        for _ in range(3):
            key = make_key()
            c, r = self.upgrade("/ws/hs-rand", key=key)
            self.assertEqual(r.status, 101, r)
            self.assertEqual(r.header("Sec-WebSocket-Accept"), accept_for(key))
            c.close()

    def test_valid_ids(self):
        for cid in ("a", "A-Z_a.z-09", "x" * 64, "...", "_", "-"):
            with self.subTest(cid=cid):
                c, r = self.upgrade("/ws/" + cid)
                self.assertEqual(r.status, 101, r)
                c.close()

    def test_bad_ids_400(self):
        for path in ("/ws/", "/ws/" + "x" * 65, "/ws/a%20b", "/ws/%C3%A9", "/ws/a/b",
                     "/ws/a%2Fb", "/ws/a+b", "/ws/a%00b", "/ws/%", "/ws/a%2", "/ws/a%zz",
                     "/ws/a%3Fb", "/ws/a:b", "/ws/a@b", "/ws/%2e%2e%2fx",
                     "/ws/alice/", "/ws//alice", "/ws/%20alice"):
            with self.subTest(path=path):
                self.assertRefused(path, 400)

    def test_65_chars_percent_encoded_400(self):
        self.assertRefused("/ws/" + "%61" * 65, 400)

    def test_percent_encoded_valid_id(self):
        a = self.ws(path="/ws/al%69ce")
        b = self.ws("hs-bob-pct")
        a.recv_until("user_joined", data={"user_id": "hs-bob-pct", "count": 2})
        b.chat({"text": "x"})
        b.recv_until("chat", client_id="hs-bob-pct")
        a.chat({"text": "from alice"})
        b.recv_until("chat", data={"text": "from alice"}, client_id="alice")
        r = self.http("GET", "/clients")
        self.assertIn("alice", r.json()["clients"])
        self.assertNotIn("al%69ce", r.json()["clients"])

    def test_query_string_not_part_of_id(self):
        a = self.ws(path="/ws/hs-q?foo=bar")
        a.chat({"text": "q"})
        a.recv_until("chat", client_id="hs-q", data={"text": "q"})

    def test_version_12_426(self):
        c, r = self.assertRefused("/ws/hs-v", 426, replace={"Sec-WebSocket-Version": "12"})
        self.assertIn("13", [v.strip() for v in (r.header("Sec-WebSocket-Version") or "").split(",")], r)

    def test_version_garbage_426(self):
        c, r = self.assertRefused("/ws/hs-v", 426, replace={"Sec-WebSocket-Version": "abc"})
        self.assertEqual((r.header("Sec-WebSocket-Version") or "").strip(), "13", r)

    def test_missing_key_400(self):
        self.assertRefused("/ws/hs-k", 400, omit=["Sec-WebSocket-Key"])

    def test_short_key_400(self):
        import base64, os
        key15 = base64.b64encode(os.urandom(15)).decode()
        self.assertRefused("/ws/hs-k", 400, key=key15)
        key17 = base64.b64encode(os.urandom(17)).decode()
        self.assertRefused("/ws/hs-k", 400, key=key17)

    def test_non_base64_key_400(self):
        self.assertRefused("/ws/hs-k", 400, key="!!!!not-base64!!!!!!!==")
        self.assertRefused("/ws/hs-k", 400, key="")

    def test_missing_upgrade_400(self):
        self.assertRefused("/ws/hs-u", 400, omit=["Upgrade"])

    def test_wrong_upgrade_400(self):
        self.assertRefused("/ws/hs-u", 400, replace={"Upgrade": "h2c"})

    def test_duplicate_key_header_400(self):
        self.assertRefused("/ws/hs-dk", 400, headers=[("Sec-WebSocket-Key", make_key())])

    def test_frames_in_same_packet_as_handshake(self):
        from harness import build_frame, OP_TEXT, WS
        c = WS(self.port, "/ws/eager", handshake=False)
        self.addCleanup(c.close)
        c.send(build_request("GET", "/ws/eager", c.upgrade_request(), host=None)
               + build_frame(OP_TEXT, b'{"type":"chat","data":"early"}'))
        r = c.read_response()
        self.assertEqual(r.status, 101, r)
        self.assertEqual(r.header("Sec-WebSocket-Accept"), accept_for(c.key))
        c.recv_env(type="chat", data="early", client_id="eager")

    def test_lowercase_header_names(self):
        c = self.conn()
        key = make_key()
        c.send(("GET /ws/hs-lower HTTP/1.1\r\nhost: %s\r\nupgrade: websocket\r\n"
                "connection: upgrade\r\nsec-websocket-key: %s\r\nsec-websocket-version: 13\r\n\r\n"
                % (c.host, key)).encode())
        r = c.read_response()
        self.assertEqual(r.status, 101, r)
        self.assertEqual(r.header("Sec-WebSocket-Accept"), accept_for(key))

    def test_connection_header_twice(self):
        c, r = self.upgrade("/ws/hs-twice", replace={"Connection": "keep-alive"},
                            headers=[("Connection", "Upgrade")])
        self.assertEqual(r.status, 101, r)

    def test_ids_case_sensitive(self):
        a = self.ws("Alice")
        b = self.ws("alice")
        a.recv_until("user_joined", data={"user_id": "alice", "count": 2})
        a.expect_nothing(0.2)   # not replaced
        self.assertEqual(sorted(self.http("GET", "/clients").json()["clients"]), ["Alice", "alice"])

    def test_upgrade_case_insensitive(self):
        c, r = self.upgrade("/ws/hs-case", replace={"Upgrade": "WebSocket", "Connection": "upgrade"})
        self.assertEqual(r.status, 101, r)

    def test_connection_without_upgrade_400(self):
        self.assertRefused("/ws/hs-c", 400, replace={"Connection": "keep-alive"})
        self.assertRefused("/ws/hs-c", 400, omit=["Connection"])
        self.assertRefused("/ws/hs-c", 400, replace={"Connection": "Upgraded"})

    def test_connection_token_list(self):
        c, r = self.upgrade("/ws/hs-list", replace={"Connection": "keep-alive, Upgrade"})
        self.assertEqual(r.status, 101, r)
        c.close()
        c, r = self.upgrade("/ws/hs-list2", replace={"Connection": "keep-alive,Upgrade , close"})
        self.assertEqual(r.status, 101, r)

    def test_post_400(self):
        self.assertRefused("/ws/hs-p", 400, method="POST", headers=[("Content-Length", "0")])

    def test_http10_400(self):
        self.assertRefused("/ws/hs-10", 400, version="HTTP/1.0")

    def test_plain_get_on_ws_path_400(self):
        r = self.http("GET", "/ws/hs-plain")
        self.assertEqual(r.status, 400, r)

    # -- Origin (default: allowed_origins empty = same host only) ---------

    def test_origin_absent_passes(self):
        c, r = self.upgrade("/ws/hs-o1")
        self.assertEqual(r.status, 101, r)

    def test_origin_same_host_passes(self):
        host = "127.0.0.1:%d" % self.port
        c, r = self.upgrade("/ws/hs-o2", headers=[("Origin", "http://" + host)])
        self.assertEqual(r.status, 101, r)

    def test_origin_other_403(self):
        for origin in ("http://evil.example", "http://127.0.0.1:%d" % (self.port + 1),
                       "http://127.0.0.2:%d" % self.port, "null",
                       "http://127.0.0.1:%d.evil.example" % self.port):
            with self.subTest(origin=origin):
                self.assertRefused("/ws/hs-o3", 403, headers=[("Origin", origin)])

    def test_origin_checked_against_host(self):
        c, r = self.upgrade("/ws/hs-o4", replace={"Host": "chat.example:8080"},
                            headers=[("Origin", "http://chat.example:8080")])
        self.assertEqual(r.status, 101, r)
        c.close()
        self.assertRefused("/ws/hs-o5", 403, replace={"Host": "chat.example:8080"},
                           headers=[("Origin", "http://127.0.0.1:%d" % self.port)])

    def test_after_refusals_server_fine(self):
        self.assertRefused("/ws/", 400)
        self.assertRefused("/ws/x", 426, replace={"Sec-WebSocket-Version": "8"})
        a = self.ws("hs-fine")
        a.chat({"text": "ok"})
        a.recv_until("chat", data={"text": "ok"}, client_id="hs-fine")


class DuplicateReplace(ServerTestCase):
    def test_replace_default(self):
        bob = self.ws("bob")
        old = self.ws("alice")
        bob.recv_until("user_joined", data={"user_id": "alice", "count": 2})
        new = self.ws("alice")
        f = old.expect_close(4001, "replaced")
        self.assertEqual(f.close_code, 4001)
        # new connection works for sending and receiving
        new.chat({"text": "I am new"})
        new.recv_until("chat", data={"text": "I am new"}, client_id="alice")
        bob.recv_until("chat", data={"text": "I am new"}, client_id="alice")
        bob.chat({"text": "to new"})
        new.recv_until("chat", data={"text": "to new"}, client_id="bob")
        # private to alice reaches the new connection
        bob.send_json({"type": "private", "recipient_id": "alice", "data": {"p": 1}})
        new.recv_until("private", data={"p": 1}, client_id="bob")
        obj = self.http("GET", "/clients").json()
        self.assertEqual(sorted(obj["clients"]), ["alice", "bob"], obj)
        self.assertEqual(obj["count"], 2)

    def test_replace_twice(self):
        a1 = self.ws("alice")
        a2 = self.ws("alice")
        a1.expect_close(4001, "replaced")
        a3 = self.ws("alice")
        a2.expect_close(4001, "replaced")
        a3.chat({"text": "third"})
        a3.recv_until("chat", data={"text": "third"}, client_id="alice")
        wait_for(lambda: self.http("GET", "/clients").json() == {"count": 1, "clients": ["alice"]},
                 msg="/clients == [alice]")


class DuplicateReject(ServerTestCase):
    CONFIG = {"websocket": {"on_duplicate_id": "reject"}}

    def test_reject_409(self):
        a = self.ws("alice")
        c, r = self.upgrade("/ws/alice")
        self.assertEqual(r.status, 409, r)
        self.assertIsNone(r.header("Sec-WebSocket-Accept"))
        # the first one is untouched
        a.chat({"text": "still me"})
        a.recv_until("chat", data={"text": "still me"}, client_id="alice")
        a.close_handshake()
        # once gone, the id is free again
        def ok():
            c2, r2 = self.upgrade("/ws/alice")
            return r2.status == 101
        wait_for(ok, msg="alice reconnect after close")


if __name__ == "__main__":
    unittest.main()
