"""Operations (PROTOCOL.md sections 1 and 5, DESIGN.md "Metrics"): /healthz
while running and while draining, /metrics names and exact counter
movements, SIGHUP reload under load (no client dropped, no message lost,
new settings for new connections), bad config on reload, listen address
changes on reload."""

import json
import os
import re
import signal
import socket
import threading
import time
import unittest

from harness import (Server, ServerTestCase, Conn, WS, WSClosed, PeerClosed, build_frame,
                     build_request, close_payload, free_port, render_config, wait_for, OP_TEXT, OP_CLOSE)


METRIC_NAMES = {
    "fastws_connections": "gauge",
    "fastws_connections_total": "counter",
    "fastws_messages_received_total": "counter",
    "fastws_messages_sent_total": "counter",
    "fastws_bytes_received_total": "counter",
    "fastws_bytes_sent_total": "counter",
    "fastws_errors_total": "counter",
    "fastws_closes_total": "counter",
    "fastws_rooms": "gauge",
    "fastws_send_queue_bytes": "gauge",
    "fastws_cluster_up": "gauge",
}

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+]+|NaN|[+-]Inf)$')


def frame_len(payload_len, masked):
    n = 2 + (4 if masked else 0)
    if payload_len >= 65536:
        n += 8
    elif payload_len >= 126:
        n += 2
    return n + payload_len


# --------------------------------------------------------------------------
# /healthz
# --------------------------------------------------------------------------

class Healthz(ServerTestCase):
    PER_TEST = False

    def test_get_and_head(self):
        r = self.http("GET", "/healthz")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.media_type(), "application/json")
        self.assertEqual(r.body, b'{"status":"ok"}')
        self.assertEqual(r.header("Content-Length"), str(len(r.body)))
        h = self.http("HEAD", "/healthz")
        self.assertEqual(h.status, 200, h)
        self.assertEqual(h.media_type(), "application/json")
        self.assertEqual(h.header("Content-Length"), str(len(b'{"status":"ok"}')))
        self.assertEqual(h.body, b"")

    def test_keep_alive_and_pipelined(self):
        c = self.conn()
        for _ in range(3):
            r = c.request("GET", "/healthz")
            self.assertEqual((r.status, r.body), (200, b'{"status":"ok"}'))
        c.send(b"".join(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" for _ in range(3)))
        for _ in range(3):
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, b'{"status":"ok"}'))


class Draining(unittest.TestCase):
    def start(self):
        srv = Server({"server": {"shutdown_timeout": "3"},
                      "websocket": {"heartbeat_interval": "0", "idle_timeout": "0"}}).start()
        self.addCleanup(srv.stop, False)
        self.server = srv
        http = Conn(srv.port)
        self.addCleanup(http.close)
        r = http.request("GET", "/healthz")
        self.assertEqual((r.status, r.body), (200, b'{"status":"ok"}'))
        self.assertIsNone(r.header("Connection"), r)
        # a client that will never answer the server's close
        stubborn = WS(srv.port, "/ws/stubborn", auto_pong=False)
        self.addCleanup(stubborn.close)
        t0 = time.monotonic()
        srv.signal(signal.SIGTERM)
        f = stubborn.recv_frame()
        self.assertEqual((f.opcode, f.close_code), (OP_CLOSE, 1001), f)
        return srv, http, stubborn, t0

    def assertDraining(self, r, method="GET"):
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.media_type(), "application/json")
        self.assertEqual(r.header("Content-Length"), str(len(b'{"status":"draining"}')))
        self.assertEqual(r.body, b'{"status":"draining"}' if method == "GET" else b"")

    def finish(self, srv, t0):
        rc, _ = srv.wait_exit(3 + 3)
        dt = time.monotonic() - t0
        self.assertEqual(rc, 0, srv.log_tail())
        self.assertLessEqual(dt, 3 + 1, "exit %.2fs after SIGTERM, shutdown_timeout 3" % dt)
        self.assertEqual(srv.crash_markers(), [])
        srv.stopped = True
        srv._cleanup()
        return dt

    def test_healthz_503_while_draining_then_exit_0(self):
        srv, http, stubborn, t0 = self.start()
        # the keep-alive HTTP connection is still served, and says draining
        self.assertDraining(http.request("GET", "/healthz"))
        # no new connections
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
        dt = self.finish(srv, t0)
        self.assertGreater(dt, 2.0, "exited after %.2fs without waiting for the client" % dt)
        # the stubborn client's connection ends too
        stubborn.read_all_until_eof(2)

    def test_keep_alive_stays_open_while_draining(self):
        """Keep-alive HTTP connections stay open until the last WebSocket has
        closed (server.c maybe_finish): a load balancer polling /healthz on
        one connection sees "draining" on every poll."""
        srv, http, stubborn, t0 = self.start()
        for i, method in enumerate(("GET", "HEAD", "GET")):
            try:
                r = http.request(method, "/healthz")
            except PeerClosed:
                self.fail("keep-alive connection closed by the server after %d draining answer(s) "
                          "while a WebSocket is still open" % i)
            self.assertDraining(r, method)
            self.assertNotEqual((r.header("Connection") or "").lower(), "close",
                                "poll %d (%s) answered with Connection: close" % (i + 1, method))
            time.sleep(0.2)
        # the last WebSocket goes: then the HTTP connection closes as well
        stubborn.send_frame(OP_CLOSE, close_payload(1001))
        stubborn.expect_eof()
        http.read_all_until_eof(2)
        self.finish(srv, t0)


# --------------------------------------------------------------------------
# /metrics
# --------------------------------------------------------------------------

class Metrics(ServerTestCase):
    CONFIG = {"websocket": {"heartbeat_interval": "0", "idle_timeout": "0",
                            "permessage_deflate": "off"}}

    def scrape(self):
        r = self.http("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        ct = (r.header("Content-Type") or "").replace(" ", "").lower()
        self.assertTrue(ct.startswith("text/plain;"), ct)
        self.assertIn("version=0.0.4", ct.split(";"), ct)
        self.assertEqual(r.header("Content-Length"), str(len(r.body)))
        text = r.body.decode("utf-8")
        self.assertTrue(text.endswith("\n"), text[-50:])
        vals, helps, types = {}, {}, {}
        for line in text.split("\n")[:-1]:
            if line.startswith("# HELP "):
                name, _, help_ = line[7:].partition(" ")
                self.assertNotIn(name, helps, "two HELP lines for " + name)
                self.assertTrue(help_, line)
                helps[name] = help_
            elif line.startswith("# TYPE "):
                name, _, typ = line[7:].partition(" ")
                self.assertNotIn(name, types, "two TYPE lines for " + name)
                self.assertNotIn(name, vals, "TYPE after samples of " + name)
                types[name] = typ
            else:
                m = SAMPLE_RE.match(line)
                self.assertTrue(m, "bad exposition line %r" % line)
                self.assertIn(m.group(1), types, "sample before its TYPE: %r" % line)
                key = m.group(1) + (m.group(2) or "")
                self.assertNotIn(key, vals, "sample twice: %r" % line)
                vals[key] = float(m.group(3))
        self.last_response_len = len(r.raw_head) + len(r.body)
        return vals, helps, types

    def m(self):
        return self.scrape()[0]

    def scrape_request_len(self):
        return len(build_request("GET", "/metrics", host="127.0.0.1:%d" % self.port))

    def test_every_metric_with_help_and_type(self):
        vals, helps, types = self.scrape()
        for name, typ in METRIC_NAMES.items():
            with self.subTest(name=name):
                self.assertIn(name, helps)
                self.assertEqual(types.get(name), typ)
        # labelled families: one sample per type / code
        for t in ("chat", "private", "ping", "join", "leave", "room"):
            self.assertIn('fastws_messages_received_total{type="%s"}' % t, vals)
        for code in ("invalid_json", "invalid_message", "unknown_type", "unknown_recipient",
                     "not_in_room", "rate_limited"):
            self.assertIn('fastws_errors_total{code="%s"}' % code, vals)
        for name in ("fastws_connections", "fastws_rooms", "fastws_send_queue_bytes"):
            self.assertEqual(vals[name], 0, name)
        self.assertEqual(vals["fastws_cluster_up"], 1)

    def test_counters_move_exactly(self):
        m0 = self.m()
        ids = ["alice", "bob", "carol"]
        clients = self.connect_all(ids)
        alice, bob, carol = clients
        m1 = self.m()
        m1_response = self.last_response_len
        self.assertEqual(m1["fastws_connections"], 3)
        self.assertEqual(m1["fastws_connections_total"] - m0["fastws_connections_total"], 3)
        # user_joined: 1 + 2 messages sent
        self.assertEqual(m1["fastws_messages_sent_total"] - m0["fastws_messages_sent_total"], 3)

        # N chats from alice -> N received, N * 3 sent
        n = 7
        sent_bytes = 0
        for i in range(n):
            text = json.dumps({"type": "chat", "data": {"i": i}})
            alice.send_text(text)
            sent_bytes += frame_len(len(text.encode()), True)
        got_bytes = 0
        for c in clients:
            for i in range(n):
                env = c.recv_env(type="chat", data={"i": i})
                got_bytes += frame_len(len(env.raw.encode()), False)
        m2 = self.m()
        key = 'fastws_messages_received_total{type="chat"}'
        self.assertEqual(m2[key] - m1[key], n)
        self.assertEqual(m2["fastws_messages_sent_total"] - m1["fastws_messages_sent_total"], n * 3)
        # the byte counters count every byte on client sockets, HTTP included:
        # the frames, plus the request of scrape m2 and the answer to scrape m1
        self.assertEqual(m2["fastws_bytes_received_total"] - m1["fastws_bytes_received_total"],
                         sent_bytes + self.scrape_request_len())
        self.assertEqual(m2["fastws_bytes_sent_total"] - m1["fastws_bytes_sent_total"],
                         got_bytes + m1_response)
        self.assertEqual(m2["fastws_connections"], 3)

        # bad JSON: errors_total{invalid_json} by the number sent, one error message each
        bad = ["not json", "{", '{"type":"chat",}', "[1,2", '{"type":"chat"} x']
        for b in bad:
            bob.send_text(b)
        for _ in bad:
            self.assertEqual(bob.recv_env(type="error").data["code"], "invalid_json")
        m3 = self.m()
        key = 'fastws_errors_total{code="invalid_json"}'
        self.assertEqual(m3[key] - m2[key], len(bad))
        self.assertEqual(m3["fastws_messages_sent_total"] - m2["fastws_messages_sent_total"],
                         len(bad))
        for other in ("invalid_message", "unknown_type", "not_in_room", "rate_limited"):
            k = 'fastws_errors_total{code="%s"}' % other
            self.assertEqual(m3[k], m2[k], k)

        # other message types and error codes
        bob.send_json({"type": "ping"})
        bob.recv_env(type="pong")
        bob.send_json({"type": "whatever"})
        self.assertEqual(bob.recv_env(type="error").data["code"], "unknown_type")
        bob.send_json({"type": "private", "recipient_id": "nobody", "data": 1})
        self.assertEqual(bob.recv_env(type="error").data["code"], "unknown_recipient")
        m4 = self.m()
        for k, d in (('fastws_messages_received_total{type="ping"}', 1),
                     ('fastws_messages_received_total{type="private"}', 1),
                     ('fastws_errors_total{code="unknown_type"}', 1),
                     ('fastws_errors_total{code="unknown_recipient"}', 1),
                     ("fastws_messages_sent_total", 3)):
            self.assertEqual(m4[k] - m3[k], d, k)

        # rooms gauge
        for room, members in (("r1", [alice, bob]), ("r2", [alice]), ("r3", [carol])):
            for c in members:
                c.send_json({"type": "join", "room": room})
                c.recv_env(type="room_joined", room=room)
            if len(members) == 2:
                members[0].recv_env(type="room_joined", room=room)
        self.assertEqual(self.m()["fastws_rooms"], 3)
        carol.send_json({"type": "leave", "room": "r3"})
        carol.recv_env(type="room_left", room="r3")
        self.assertEqual(self.m()["fastws_rooms"], 2)

        # a client closes with 1000: closes_total{code="1000"} +1, gauge -1
        m5 = self.m()
        c1000 = 'fastws_closes_total{code="1000"}'
        carol.close_handshake(1000)
        for c in (alice, bob):
            c.recv_env(type="user_left", data={"user_id": "carol", "count": 2})
        m6 = self.m()
        self.assertEqual(m6.get(c1000, 0) - m5.get(c1000, 0), 1)
        self.assertEqual(m6["fastws_connections"], 2)
        self.assertEqual(m6["fastws_connections_total"], m5["fastws_connections_total"])
        # a close with another code is counted under that code
        bob.close_handshake(4321)
        alice.recv_env(type="room_left", room="r1", data={"room": "r1", "user_id": "bob", "count": 1})
        alice.recv_env(type="user_left", data={"user_id": "bob", "count": 1})
        m7 = self.m()
        self.assertEqual(m7.get('fastws_closes_total{code="4321"}', 0)
                         - m6.get('fastws_closes_total{code="4321"}', 0), 1)
        self.assertEqual(m7.get(c1000, 0), m6.get(c1000, 0))
        self.assertEqual(m7["fastws_connections"], 1)
        self.assertEqual(m7["fastws_rooms"], 2)     # r1 (alice), r2 (alice)
        # a new connection bumps the total
        d = self.ws("dave")
        alice.recv_env(type="user_joined", data={"user_id": "dave", "count": 2})
        m8 = self.m()
        self.assertEqual(m8["fastws_connections_total"] - m7["fastws_connections_total"], 1)
        self.assertEqual(m8["fastws_connections"], 2)
        self.assertEqual(m8["fastws_send_queue_bytes"], 0)
        self.assertGreater(m8["fastws_bytes_received_total"], m0["fastws_bytes_received_total"])
        self.assertGreater(m8["fastws_bytes_sent_total"], m0["fastws_bytes_sent_total"])
        self.assertEqual(self.clients_list()["count"], m8["fastws_connections"])


# --------------------------------------------------------------------------
# SIGHUP
# --------------------------------------------------------------------------

class Chatter:
    """A client that chats {"from": id, "seq": n} every `every` seconds in
    one thread and records everything it receives in another."""

    def __init__(self, port, cid, every=0.02):
        self.cid = cid
        self.ws = WS(port, "/ws/" + cid)
        self.every = every
        self.sent = 0
        self.received = []        # (from, seq)
        self.other = []           # anything else (envelopes)
        self.error = None
        self.stop_sending = threading.Event()
        self.t_send = threading.Thread(target=self._send, daemon=True)
        self.t_recv = threading.Thread(target=self._recv, daemon=True)

    def start(self):
        self.t_send.start()
        self.t_recv.start()

    def _send(self):
        try:
            while not self.stop_sending.is_set():
                self.ws.send_json({"type": "chat", "data": {"from": self.cid, "seq": self.sent}})
                self.sent += 1
                time.sleep(self.every)
        except Exception as e:       # noqa
            self.error = self.error or ("send: %r" % e)

    def _recv(self):
        try:
            while True:
                env = self.ws.recv_env(timeout=10)
                if env.type == "chat" and isinstance(env.data, dict) and "seq" in env.data:
                    self.received.append((env.data["from"], env.data["seq"]))
                else:
                    self.other.append(env)
        except WSClosed as e:
            self.error = self.error or ("closed %s %r" % (e.code, e.reason))
        except Exception as e:       # noqa
            if not self.ws.closed:
                self.error = self.error or ("recv: %r" % e)

    def count_from(self, cid):
        return sum(1 for f, _ in self.received if f == cid)


class Reload(ServerTestCase):
    CONFIG = {"websocket": {"max_message_size": "65536", "heartbeat_interval": "0",
                            "idle_timeout": "0"}}

    def rewrite(self, mutate=None, text=None):
        if text is None:
            cfg = {sec: dict(kv) for sec, kv in self.server.config.items()}
            mutate(cfg)
            text = render_config(cfg)
        with open(self.server.conf_path, "w") as f:
            f.write(text)

    def hup_and_wait(self, marker):
        before = self.server.log_text().count(marker)
        self.server.signal(signal.SIGHUP)
        wait_for(lambda: self.server.log_text().count(marker) > before, timeout=3,
                 msg="%r in the log after SIGHUP" % marker)

    def chat_of(self, size):
        head, tail = '{"type":"chat","data":"', '"}'
        return head + "h" * (size - len(head) - len(tail)) + tail

    def test_reload_under_load(self):
        a = Chatter(self.port, "alice")
        self.addCleanup(a.ws.close)
        b = Chatter(self.port, "bob")
        self.addCleanup(b.ws.close)
        a.ws.recv_env(type="user_joined", data={"user_id": "bob", "count": 2})
        a.start()
        b.start()
        time.sleep(0.3)
        changes = [{"max_message_size": "1000"},
                   {"max_message_size": "1000", "rate_limit": "1000", "rate_burst": "100"},
                   {"max_message_size": "1000", "rate_limit": "1000", "rate_burst": "100",
                    "handshake_timeout": "5"}]
        for ch in changes:
            self.rewrite(lambda c: c["websocket"].update(ch))
            self.hup_and_wait("reloaded")
            time.sleep(0.3)
        # the new limit holds for a new connection (1000 < 2000)
        carol = WS(self.port, "/ws/carol")
        self.addCleanup(carol.close)
        carol.send_text(self.chat_of(2000))
        carol.expect_close(1009)
        # stop the traffic and let it drain
        a.stop_sending.set()
        b.stop_sending.set()
        a.t_send.join(2)
        b.t_send.join(2)
        total = {"alice": a.sent, "bob": b.sent}
        for ch in (a, b):
            wait_for(lambda ch=ch: len(ch.received) >= total["alice"] + total["bob"], timeout=5,
                     msg="%s got everything (%d of %d)" % (ch.cid, len(ch.received),
                                                           total["alice"] + total["bob"]))
        for ch in (a, b):
            self.assertIsNone(ch.error, "%s: %s" % (ch.cid, ch.error))
            for who in ("alice", "bob"):
                seqs = [s for f, s in ch.received if f == who]
                self.assertEqual(seqs, list(range(total[who])),
                                 "%s's view of %s: lost or reordered" % (ch.cid, who))
            # the only other events: carol joining and leaving
            self.assertEqual([(e.type, e.data["user_id"]) for e in ch.other],
                             [("user_joined", "carol"), ("user_left", "carol")])
        self.assertGreater(total["alice"], 30)
        self.assertEqual(sorted(self.clients_list()["clients"]), ["alice", "bob"])
        self.assertEqual(self.server.log_text().count("reloaded"), 3)

    def test_reload_limit_not_retroactive(self):
        """Limits apply to new connections (PROTOCOL.md section 5): a
        connection keeps the max_message_size it was accepted with."""
        old = self.ws("old")
        self.rewrite(lambda c: c["websocket"].update(max_message_size="1000"))
        self.hup_and_wait("reloaded")
        new = self.ws("new")
        old.recv_env(type="user_joined", data={"user_id": "new", "count": 2})
        new.send_text(self.chat_of(2000))
        new.expect_close(1009)
        old.recv_env(type="user_left", data={"user_id": "new", "count": 1})
        old.send_text(self.chat_of(2000))
        try:
            env = old.recv_env(type="chat", client_id="old")
        except WSClosed as e:
            self.fail("connection accepted under max_message_size 65536 was closed %s %r for a "
                      "2000-byte message after SIGHUP lowered the limit to 1000"
                      % (e.code, e.reason))
        self.assertEqual(len(env.data), 2000 - len('{"type":"chat","data":""}'))

    def test_bad_config_keeps_old_settings(self):
        a = self.ws("a")
        cfg = {sec: dict(kv) for sec, kv in self.server.config.items()}
        cfg["websocket"]["max_message_size"] = "1000"
        text = render_config(cfg)
        lines = text.split("\n")
        ws_at = lines.index("[websocket]")
        lines.insert(ws_at + 1, "bogus_key = 1")
        bad_line = ws_at + 2            # 1-based line number of bogus_key
        self.rewrite(text="\n".join(lines))
        self.server.signal(signal.SIGHUP)
        wait_for(lambda: "%s:%d" % (self.server.conf_path, bad_line) in self.server.log_text(),
                 timeout=3, msg="file:line of the bad key in the log")
        log = self.server.log_text()
        self.assertIn("bogus_key", log)
        self.server.assert_alive()
        # still serving, old settings: 2000 bytes pass on a new connection
        self.assertEqual(self.http("GET", "/healthz").body, b'{"status":"ok"}')
        b = self.ws("b")
        a.recv_env(type="user_joined", data={"user_id": "b", "count": 2})
        b.send_text(self.chat_of(2000))
        for c in (a, b):
            c.recv_env(type="chat", client_id="b")
        self.assert_chat_works(a, "a", [b])
        # a value error is reported the same way
        cfg["websocket"]["max_message_size"] = "lots"
        text = render_config(cfg)
        self.rewrite(text=text)
        line = text.split("\n").index("max_message_size = lots") + 1
        self.server.signal(signal.SIGHUP)
        wait_for(lambda: "%s:%d" % (self.server.conf_path, line) in self.server.log_text(),
                 timeout=3, msg="file:line of the bad value in the log")
        self.server.assert_alive()
        self.assert_chat_works(b, "b", [a])

    def test_listen_address_change(self):
        old_port = self.port
        a = self.ws("a")
        new_port = free_port()
        self.rewrite(lambda c: c["server"].update(listen="127.0.0.1:%d" % new_port))
        self.hup_and_wait("reloaded")
        # the new address answers
        c = Conn(new_port)
        self.addCleanup(c.close)
        r = c.request("GET", "/healthz")
        self.assertEqual((r.status, r.body), (200, b'{"status":"ok"}'))
        b = WS(new_port, "/ws/b")
        self.addCleanup(b.close)
        # the removed one is closed
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", old_port), timeout=1).close()
        self.assertIn("no longer listening on 127.0.0.1:%d" % old_port, self.server.log_text())
        # a client accepted on the old address is not dropped
        a.recv_env(type="user_joined", data={"user_id": "b", "count": 2})
        self.assert_chat_works(a, "a", [b])
        self.assert_chat_works(b, "b", [a])
        # and back: both sets of clients keep working
        self.rewrite(lambda c: c["server"].update(
            listen="127.0.0.1:%d, 127.0.0.1:%d" % (old_port, new_port)))
        self.hup_and_wait("reloaded")
        c2 = Conn(old_port)
        self.addCleanup(c2.close)
        self.assertEqual(c2.request("GET", "/healthz").status, 200)
        self.assertEqual(c.request("GET", "/healthz").status, 200)   # keep-alive on new port
        self.assert_chat_works(a, "a", [b])


if __name__ == "__main__":
    unittest.main()
