"""TLS (PROTOCOL.md section 5, [tls]): HTTPS and wss on a listener with a
certificate. Throwaway self-signed certificates come from the `openssl`
command; clients are Python's ssl module (raw sockets through the harness's
Conn/WS classes) and the `websockets` library over wss."""

import asyncio
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import unittest
import warnings

import websockets

from harness import (flood_slow_consumer, ws_recv_env as recv_env, Conn, PeerClosed,
                     ServerTestCase, WS, TIMEOUT, OP_BINARY,
                     OP_CLOSE, build_request, check_timestamp, fastwsd_path, free_port, merge_config,
                     parse_envelope, render_config, wait_for)

STEP = TIMEOUT


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def make_cert(directory, name, cn="localhost"):
    """A self-signed EC certificate for localhost and 127.0.0.1; returns
    (cert_path, key_path)."""
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-keyout", key, "-out", cert, "-subj", "/CN=%s" % cn,
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError("openssl req failed: %s" % p.stderr.decode("utf-8", "replace"))
    return cert, key


def cert_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def client_ctx(cafile, alpn=None):
    ctx = ssl.create_default_context(cafile=cafile)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


class TLSConnMixin(Conn):
    """A harness Conn whose socket is wrapped in TLS right after connect."""

    def __init__(self, port, timeout=TIMEOUT, ssl_ctx=None, server_hostname="127.0.0.1", **kw):
        super().__init__(port, timeout, **kw)
        self.sock = ssl_ctx.wrap_socket(self.sock, server_hostname=server_hostname)

    def _fill(self):
        try:
            super()._fill()
        except ssl.SSLError as e:  # EOF without close_notify, alerts
            self.eof = True
            raise PeerClosed("TLS connection closed: %s" % e)

    def peer_der(self):
        return self.sock.getpeercert(binary_form=True)


class TLSConn(TLSConnMixin):
    pass


class TLSWS(WS, TLSConnMixin):
    """The harness's raw WebSocket client over TLS."""


def client_hello_bytes():
    """A real ClientHello, as a client would send it first."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=False, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()






# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------

class TLSTestCase(ServerTestCase):
    """Certificates A and B in a class temp dir; the server starts with A."""

    EXTRA = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.certdir = tempfile.mkdtemp(prefix="fastwsd-it-tls-")
        cls.cert_a, cls.key_a = make_cert(cls.certdir, "a")
        cls.cert_b, cls.key_b = make_cert(cls.certdir, "b")
        cls.CONFIG = merge_config({"tls": {"cert": cls.cert_a, "key": cls.key_a}}, cls.EXTRA)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.certdir, ignore_errors=True)

    def ctx(self, cafile=None, alpn=None):
        return client_ctx(cafile or self.cert_a, alpn)

    def tls_conn(self, ctx=None, **kw):
        c = TLSConn(self.port, ssl_ctx=ctx or self.ctx(), **kw)
        self.addCleanup(c.close)
        return c

    def https(self, method, path, headers=None, ctx=None):
        c = TLSConn(self.port, ssl_ctx=ctx or self.ctx())
        try:
            return c.request(method, path, headers)
        finally:
            c.close()

    def wss(self, client_id, ctx=None, **kw):
        c = TLSWS(self.port, "/ws/" + client_id, ssl_ctx=ctx or self.ctx(), **kw)
        self.addCleanup(c.close)
        return c

    def url(self, path):
        return "wss://127.0.0.1:%d%s" % (self.port, path)

    def connect(self, path, **kw):
        kw.setdefault("ssl", self.ctx())
        kw.setdefault("open_timeout", STEP)
        kw.setdefault("close_timeout", STEP)
        kw.setdefault("ping_interval", None)
        return websockets.connect(self.url(path), **kw)

    def run_async(self, coro, timeout=20):
        asyncio.run(asyncio.wait_for(coro, timeout))

    def log_lines(self, needle):
        return [l for l in self.server.log_text().splitlines() if needle in l]


class TLSHttp(TLSTestCase):
    PER_TEST = False
    STATIC_FILES = {
        "index.html": b"<!doctype html><title>tls</title><p>integration index</p>\n",
        "big.bin": bytes(range(256)) * 1200,   # 300 KiB: many records, partial writes
    }

    def test_root_json(self):
        r = self.https("GET", "/")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.media_type(), "application/json")
        self.assertEqual(r.json(), {"message": "WebSocket server is running"})
        self.assertEqual(r.header("Content-Length"), str(len(r.body)))

    def test_clients_and_static(self):
        r = self.https("GET", "/clients")
        self.assertEqual(r.status, 200, r)
        obj = r.json()
        self.assertEqual(obj["count"], len(obj["clients"]))
        r = self.https("GET", "/static/")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.media_type(), "text/html")
        self.assertIn(b"integration index", r.body)

    def test_large_static_file(self):
        r = self.https("GET", "/static/big.bin")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, bytes(range(256)) * 1200)

    def test_keep_alive_and_pipelining(self):
        c = self.tls_conn()
        c.send(build_request("GET", "/", host=c.host)
               + build_request("GET", "/healthz", host=c.host)
               + build_request("GET", "/nope", host=c.host))
        self.assertEqual(c.read_response().json(), {"message": "WebSocket server is running"})
        self.assertEqual(c.read_response().status, 200)
        self.assertEqual(c.read_response().status, 404)
        r = c.request("GET", "/clients")
        self.assertEqual(r.status, 200)

    def test_alpn(self):
        c = self.tls_conn(self.ctx(alpn=["h2", "http/1.1"]))
        self.assertEqual(c.sock.selected_alpn_protocol(), "http/1.1")
        self.assertEqual(c.request("GET", "/").status, 200)
        # Offered without http/1.1: no ALPN answer (NOACK), the handshake goes on.
        c = self.tls_conn(self.ctx(alpn=["h2"]))
        self.assertIsNone(c.sock.selected_alpn_protocol())
        self.assertEqual(c.request("GET", "/").status, 200)

    def test_tls12_works_tls11_refused(self):
        ctx = self.ctx()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        c = self.tls_conn(ctx)
        self.assertEqual(c.sock.version(), "TLSv1.2")
        self.assertEqual(c.request("GET", "/").status, 200)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old = self.ctx()
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
            old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client send a 1.1 hello
        with self.assertRaises((ssl.SSLError, ConnectionResetError, PeerClosed)) as cm:
            TLSConn(self.port, ssl_ctx=old).close()
        self.assertRegex(str(cm.exception).lower(), "protocol|version|alert|reset|eof")
        wait_for(lambda: self.log_lines("failed: unsupported protocol"), msg="server refusal")
        self.assertEqual(self.https("GET", "/").status, 200)

    def test_plain_http_to_tls_port(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        c.send(build_request("GET", "/", host=c.host))
        rest = c.expect_eof()
        self.assertNotIn(b"HTTP/1.1", rest)
        self.assertEqual(self.https("GET", "/").json(), {"message": "WebSocket server is running"})
        lines = wait_for(lambda: self.log_lines("TLS handshake with"), msg="handshake log")
        for l in lines:
            self.assertNotIn(" error ", l)

    def test_origin_same_host_uses_https_default_port(self):
        # Host without a port means 443 on a TLS listener: https://localhost
        # is the same origin, http://localhost (port 80) is not.
        def upgrade(cid, origin):
            c = self.wss(cid, handshake=False)
            hs = [(k, v) for k, v in c.upgrade_request() if k != "Host"]
            c.send(build_request("GET", "/ws/" + cid, hs + [("Origin", origin)], host="localhost"))
            return c.read_response().status
        self.assertEqual(upgrade("o1", "https://localhost"), 101)
        self.assertEqual(upgrade("o2", "http://localhost"), 403)
        self.assertEqual(upgrade("o3", "https://localhost:8443"), 403)


class TLSWebSocket(TLSTestCase):
    def test_wss_chat_ping_close(self):
        async def main():
            async with self.connect("/ws/alice") as alice:
                async with self.connect("/ws/bob") as bob:
                    await recv_env(alice, type="user_joined", client_id=None,
                                   data={"user_id": "bob", "count": 2})
                    await alice.send(json.dumps({"type": "chat", "data": {"text": "hello bob"}}))
                    for ws in (alice, bob):
                        await recv_env(ws, type="chat", client_id="alice",
                                       data={"text": "hello bob"})
                    await bob.send(json.dumps({"type": "private", "recipient_id": "alice",
                                               "data": {"text": "psst"}}))
                    await recv_env(alice, type="private", client_id="bob", data={"text": "psst"})
                    await bob.send('{"type":"ping"}')
                    env = await recv_env(bob, type="pong", client_id="bob")
                    check_timestamp(env.data["timestamp"])
                    waiter = await bob.ping(b"are you there")
                    await asyncio.wait_for(waiter, STEP)
                    await bob.close()
                    self.assertEqual(bob.close_code, 1000)
                await recv_env(alice, type="user_left", client_id=None,
                               data={"user_id": "bob", "count": 1})
                await alice.close()
                self.assertEqual(alice.close_code, 1000)
        self.run_async(main())

    def test_wss_permessage_deflate_and_large_messages(self):
        async def main():
            async with self.connect("/ws/zip") as ws:
                names = [e.name for e in ws.extensions]
                self.assertIn("permessage-deflate", names)
                text = "compress me please " * 2000    # ~38 KB: several records
                await ws.send(json.dumps({"type": "chat", "data": {"text": text}}))
                env = await recv_env(ws, type="chat", client_id="zip")
                self.assertEqual(env.data, {"text": text})
                noise = os.urandom(20000).hex()          # 40 KB, barely compressible
                await ws.send(json.dumps({"type": "chat", "data": noise}))
                env = await recv_env(ws, type="chat", client_id="zip")
                self.assertEqual(env.data, noise)
                await ws.close()
                self.assertEqual(ws.close_code, 1000)
        self.run_async(main())

    def test_raw_wss_server_initiated_close(self):
        # The server closes (1003), then sends close_notify and half-closes;
        # our echo of its close still reaches it and it closes TCP.
        a = self.wss("rawa")
        a.chat({"text": "x"})
        a.recv_until("chat", data={"text": "x"}, client_id="rawa")
        a.send_frame(OP_BINARY, b"\x00\x01")
        a.expect_close(code=1003)
        b = self.wss("rawb")
        self.assert_chat_works(b, "rawb")

    def test_reload_with_new_certificate(self):
        alice = self.wss("alice")
        self.assertEqual(alice.peer_der(), cert_der(self.cert_a))
        # The new config names certificate B.
        cfg = merge_config(self.server.config, {"tls": {"cert": self.cert_b, "key": self.key_b}})
        with open(self.server.conf_path, "w") as f:
            f.write(render_config(cfg))
        self.server.signal(signal.SIGHUP)
        wait_for(lambda: self.log_lines("reloaded"), msg="reload")
        c = self.tls_conn(self.ctx(self.cert_b))
        self.assertEqual(c.peer_der(), cert_der(self.cert_b))
        self.assertEqual(c.request("GET", "/").status, 200)
        # A client trusting only A is refused now.
        with self.assertRaises(ssl.SSLCertVerificationError):
            TLSConn(self.port, ssl_ctx=self.ctx(self.cert_a)).close()
        # The connection made before the reload keeps working, with new ones.
        bob = self.wss("bob", ctx=self.ctx(self.cert_b))
        alice.recv_until("user_joined", skip=(), data={"user_id": "bob", "count": 2})
        self.assert_chat_works(alice, "alice", [bob])
        self.assert_chat_works(bob, "bob", [alice])
        # A certificate that does not load: the reload fails, B stays.
        bad = os.path.join(self.server.tmp, "bad.crt")
        with open(bad, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
        cfg = merge_config(self.server.config, {"tls": {"cert": bad, "key": self.key_b}})
        with open(self.server.conf_path, "w") as f:
            f.write(render_config(cfg))
        self.server.signal(signal.SIGHUP)
        wait_for(lambda: self.log_lines("reload failed"), msg="failed reload")
        c = self.tls_conn(self.ctx(self.cert_b))
        self.assertEqual(c.peer_der(), cert_der(self.cert_b))
        self.assert_chat_works(alice, "alice", [bob])


class TLSHandshakeTimeout(TLSTestCase):
    EXTRA = {"websocket": {"handshake_timeout": "1"}}

    def test_stalled_handshake_dropped(self):
        hello = client_hello_bytes()
        self.assertGreater(len(hello), 20)
        stalled = Conn(self.port)
        self.addCleanup(stalled.close)
        t0 = time.monotonic()
        stalled.send(hello[:len(hello) // 2])
        # Meanwhile another client is served normally.
        self.assertEqual(self.https("GET", "/").status, 200)
        w = self.wss("worker")
        self.assert_chat_works(w, "worker")
        stalled.expect_eof(timeout=4)
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 0.8)
        self.assertLess(took, 3.5)
        self.assert_chat_works(w, "worker")

    def test_stalled_after_handshake_dropped(self):
        # A complete TLS handshake but no request: the same deadline applies.
        c = self.tls_conn()
        t0 = time.monotonic()
        c.expect_eof(timeout=4)
        self.assertLess(time.monotonic() - t0, 3.5)


class TLSSlowConsumer(TLSTestCase):
    EXTRA = {"websocket": {"max_send_buffer": "65536", "max_message_size": "65536"}}

    def test_slow_consumer_closed_1008(self):
        sender = self.wss("sender")
        fast = self.wss("fast")
        sender.recv_env(type="user_joined", data={"user_id": "fast", "count": 2})
        slow = self.wss("slow", rcvbuf=4096)
        for c in (sender, fast):
            c.recv_env(type="user_joined", data={"user_id": "slow", "count": 3})
        n = 150
        # The slow one: an in-order prefix of intact records and frames, then 1008.
        left, seen, e = flood_slow_consumer(self, sender, (sender, fast), slow, n)
        self.assertEqual((e.code, e.reason), (1008, b"slow consumer"))
        slow.send_frame(OP_CLOSE, slow.close_frame.payload[:2])
        slow.expect_eof()
        self.assertEqual(seen, list(range(len(seen))), "gap in what the slow client got")
        self.assertLess(len(seen), n)
        for c in (sender, fast):
            env = left.get(c) or c.recv_env()
            parse_envelope(env.raw, type="user_left", data={"user_id": "slow", "count": 2})
        self.assert_chat_works(fast, "fast", [sender])


class TLSStartup(unittest.TestCase):
    def test_unloadable_certificate_exits_2(self):
        tmp = tempfile.mkdtemp(prefix="fastwsd-it-tls-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cert, key = make_cert(tmp, "a")
        _, other_key = make_cert(tmp, "b")
        bad = os.path.join(tmp, "bad.crt")
        with open(bad, "w") as f:
            f.write("this is no PEM\n")
        for c, k, why in ((bad, key, "certificate"), (cert, other_key, "mismatch")):
            conf = os.path.join(tmp, "fastws.conf")
            with open(conf, "w") as f:
                f.write(render_config({
                    "server": {"listen": "127.0.0.1:%d" % free_port(), "static_dir": tmp},
                    "tls": {"cert": c, "key": k}}))
            p = subprocess.run([fastwsd_path(), "-c", conf], cwd=tmp, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=10)
            out = p.stderr.decode("utf-8", "replace") + p.stdout.decode("utf-8", "replace")
            self.assertEqual(p.returncode, 2, out)
            self.assertIn(why, out)
            self.assertIn(" error ", out)


if __name__ == "__main__":
    unittest.main()
