"""Process lifecycle (PROTOCOL.md section 5): `-t` config check, config
errors naming file:line and key, SIGTERM/SIGINT draining with 1001."""

import os
import signal
import socket
import subprocess
import tempfile
import time
import shutil
import unittest

from harness import (Server, ServerTestCase, Conn, WS, fastwsd_path, free_port, render_config,
                     REPO, OP_CLOSE, close_payload, PeerClosed)


class ConfigCheck(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fastwsd-it-cfg-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        os.mkdir(os.path.join(self.tmp, "static"))

    def write(self, text, name="fastws.conf"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_t(self, path, extra=()):
        binary = fastwsd_path()
        self.assertTrue(os.path.exists(binary), "no binary %s" % binary)
        p = subprocess.run([binary, "-t", "-c", path] + list(extra), cwd=self.tmp,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        return p.returncode, p.stderr.decode("utf-8", "replace") + p.stdout.decode("utf-8", "replace")

    def good_config(self):
        return render_config({
            "server": {"listen": "127.0.0.1:%d" % free_port(), "static_dir": "static",
                       "log_level": "info", "echo_path": "", "shutdown_timeout": "3"},
            "websocket": {"max_message_size": "65536", "on_duplicate_id": "reject",
                          "idle_timeout": "0", "heartbeat_interval": "0"},
            "limits": {"max_connections": "10"},
            "security": {"allowed_origins": ""},
        })

    def test_good_config_exits_0(self):
        rc, out = self.run_t(self.write(self.good_config()))
        self.assertEqual(rc, 0, out)

    def test_empty_config_exits_0(self):
        rc, out = self.run_t(self.write(""))
        self.assertEqual(rc, 0, out)

    def test_comments_and_inline_comments(self):
        rc, out = self.run_t(self.write(
            "; leading comment\n# hash comment\n[server]\nlisten = 127.0.0.1:%d   ; inline\n"
            "shutdown_timeout = 2 ; seconds\n" % free_port()))
        self.assertEqual(rc, 0, out)

    def test_unknown_key_names_file_line_key(self):
        text = ("[server]\nlisten = 127.0.0.1:%d\n\n[websocket]\nmax_message_size = 100\n"
                "bogus_key = 1\n" % free_port())
        path = self.write(text)
        rc, out = self.run_t(path)
        self.assertEqual(rc, 1, out)
        self.assertIn("%s:6" % path, out)
        self.assertIn("bogus_key", out)

    def test_unknown_section(self):
        path = self.write("[server]\nlog_level = info\n[nonsense]\nx = 1\n")
        rc, out = self.run_t(path)
        self.assertEqual(rc, 1, out)
        self.assertIn(path, out)
        self.assertIn("nonsense", out)

    def test_bad_values(self):
        cases = [("websocket", "max_message_size", "abc"),
                 ("websocket", "on_duplicate_id", "maybe"),
                 ("server", "log_level", "loud"),
                 ("server", "listen", "not-an-address"),
                 ("server", "listen", "127.0.0.1:70000"),
                 ("websocket", "permessage_deflate", "perhaps"),
                 ("websocket", "max_message_size", "-5"),
                 ("server", "shutdown_timeout", "soon")]
        for sec, key, val in cases:
            with self.subTest(key=key, val=val):
                path = self.write("; comment\n[%s]\n%s = %s\n" % (sec, key, val))
                rc, out = self.run_t(path)
                self.assertEqual(rc, 1, out)
                self.assertIn("%s:3" % path, out)
                self.assertIn(key, out)

    def test_missing_file(self):
        rc, out = self.run_t(os.path.join(self.tmp, "nope.conf"))
        self.assertEqual(rc, 1, out)
        self.assertIn("nope.conf", out)

    def test_shipped_config_checks(self):
        path = os.path.join(REPO, "fastws.conf")
        self.assertTrue(os.path.exists(path), "the shipped fastws.conf is missing")
        binary = fastwsd_path()
        p = subprocess.run([binary, "-t", "-c", path], cwd=REPO, capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_bad_config_does_not_start(self):
        port = free_port()
        path = self.write("[server]\nlisten = 127.0.0.1:%d\nwhat = 1\n" % port)
        p = subprocess.run([fastwsd_path(), "-c", path], cwd=self.tmp, capture_output=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"what", p.stderr)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


class Shutdown(unittest.TestCase):
    def start(self, config=None):
        srv = Server(config).start()
        self.addCleanup(srv.stop, False)
        self.server = srv
        return srv

    def two_clients(self, srv):
        a = WS(srv.port, "/ws/alice")
        self.addCleanup(a.close)
        b = WS(srv.port, "/ws/bob")
        self.addCleanup(b.close)
        a.recv_until("user_joined", data={"user_id": "bob", "count": 2})
        return a, b

    def check_exit(self, srv, limit):
        rc, dt = srv.wait_exit(limit + 3)
        self.assertEqual(rc, 0, srv.log_tail())
        self.assertLessEqual(dt, limit + 0.5, "exit took %.1fs, shutdown_timeout=%s" % (dt, limit))
        self.assertEqual(srv.crash_markers(), [], srv.log_tail())
        return dt

    def test_sigterm_sends_1001_and_exits_0(self):
        srv = self.start({"server": {"shutdown_timeout": "3"}})
        a, b = self.two_clients(srv)
        t0 = time.monotonic()
        srv.signal(signal.SIGTERM)
        for c in (a, b):
            f = c.expect_close(1001)   # echoes the close, expects TCP close
            self.assertEqual(f.close_code, 1001)
        self.check_exit(srv, 3)
        # cooperative clients: no reason to wait for the whole timeout
        self.assertLess(time.monotonic() - t0, 2.5)
        srv.stopped = True
        srv._cleanup()

    def test_sigint_same_as_sigterm(self):
        srv = self.start({"server": {"shutdown_timeout": "3"}})
        a, b = self.two_clients(srv)
        srv.signal(signal.SIGINT)
        for c in (a, b):
            c.expect_close(1001)
        self.check_exit(srv, 3)
        srv.stopped = True
        srv._cleanup()

    def test_sigterm_with_unresponsive_clients(self):
        # clients that never answer the close: the daemon still exits 0
        # within shutdown_timeout
        srv = self.start({"server": {"shutdown_timeout": "2"}})
        a, b = self.two_clients(srv)
        srv.signal(signal.SIGTERM)
        for c in (a, b):
            f = c.recv_frame()
            while f.opcode != OP_CLOSE:
                f = c.recv_frame()
            self.assertEqual(f.close_code, 1001)
        self.check_exit(srv, 2)
        srv.stopped = True
        srv._cleanup()

    def test_sigterm_idle_exits_fast(self):
        srv = self.start({"server": {"shutdown_timeout": "5"}})
        c = Conn(srv.port)
        self.addCleanup(c.close)
        self.assertEqual(c.request("GET", "/").status, 200)
        srv.signal(signal.SIGTERM)
        dt = self.check_exit(srv, 5)
        self.assertLess(dt, 2.0, "idle daemon took %.1fs to stop" % dt)
        srv.stopped = True
        srv._cleanup()

    def test_no_new_connections_after_sigterm(self):
        srv = self.start({"server": {"shutdown_timeout": "3"}})
        a = WS(srv.port, "/ws/alice", auto_pong=True)
        self.addCleanup(a.close)
        srv.signal(signal.SIGTERM)
        f = a.recv_frame()
        self.assertEqual((f.opcode, f.close_code), (OP_CLOSE, 1001))
        # alice has not answered yet: the daemon is draining; new upgrades fail
        try:
            c = WS(srv.port, "/ws/late", handshake=False)
            self.addCleanup(c.close)
            c.send(b"GET /ws/late HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                   b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   b"Sec-WebSocket-Version: 13\r\n\r\n")
            try:
                r = c.read_response()
                self.assertNotEqual(r.status, 101, "upgrade accepted while draining: %r" % r)
            except (PeerClosed, OSError):
                pass
        except OSError:
            pass   # refused: listener closed
        a.send_frame(OP_CLOSE, close_payload(1001))
        a.expect_eof()
        self.check_exit(srv, 3)
        srv.stopped = True
        srv._cleanup()


    def test_healthz_draining_during_shutdown(self):
        srv = self.start({"server": {"shutdown_timeout": "3"}})
        c = Conn(srv.port)
        self.addCleanup(c.close)
        r = c.request("GET", "/healthz")
        self.assertEqual((r.status, r.body), (200, b'{"status":"ok"}'))
        a = WS(srv.port, "/ws/holder")   # keeps the drain going until it answers
        self.addCleanup(a.close)
        srv.signal(signal.SIGTERM)
        f = a.recv_frame()
        self.assertEqual((f.opcode, f.close_code), (OP_CLOSE, 1001))
        r = c.request("GET", "/healthz")
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.body, b'{"status":"draining"}')
        self.assertEqual(r.media_type(), "application/json")
        a.send_frame(OP_CLOSE, close_payload(1001))
        a.expect_eof()
        self.check_exit(srv, 3)
        srv.stopped = True
        srv._cleanup()


class Reload(ServerTestCase):
    CONFIG = {"websocket": {"max_message_size": "1024"}}

    def rewrite(self, mutate):
        cfg = {sec: dict(kv) for sec, kv in self.server.config.items()}
        mutate(cfg)
        with open(self.server.conf_path, "w") as f:
            f.write(render_config(cfg))

    def chat_of(self, size):
        head, tail = '{"type":"chat","data":"', '"}'
        return head + "h" * (size - len(head) - len(tail)) + tail

    def test_sighup_applies_to_new_connections(self):
        old = self.ws("old")
        self.rewrite(lambda c: c["websocket"].update(max_message_size="4096"))
        self.server.signal(signal.SIGHUP)
        # a new connection gets the new limit (poll: the reload is asynchronous)
        deadline = time.monotonic() + 3
        while True:
            new = WS(self.port, "/ws/new")
            self.addCleanup(new.close)
            new.send_text(self.chat_of(3000))
            try:
                new.recv_until("chat")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise AssertionError("max_message_size 4096 not in effect after SIGHUP\n"
                                         + self.server.log_tail())
                time.sleep(0.2)
        self.server.assert_alive()
        self.assert_chat_works(new, "new")

    def test_sighup_bad_file_keeps_old_settings(self):
        a = self.ws("a")
        with open(self.server.conf_path, "a") as f:
            f.write("\n[websocket]\nno_such_key = 1\n")
        self.server.signal(signal.SIGHUP)
        time.sleep(0.5)
        self.server.assert_alive()
        self.assertIn("no_such_key", self.server.log_text())
        # old limit (1024) still in force for new connections, and things work
        b = self.ws("b")
        a.recv_until("user_joined")
        self.assert_chat_works(b, "b", [a])
        b.send_text(self.chat_of(2000))
        b.expect_close(1009)
        self.assertEqual(self.http("GET", "/").status, 200)


class Listeners(unittest.TestCase):
    def test_several_listeners_v4_and_v6(self):
        p2 = free_port()
        srv = Server()
        srv.config["server"]["listen"] = "127.0.0.1:%d, [::1]:%d" % (srv.port, p2)
        with open(srv.conf_path, "w") as f:
            f.write(render_config(srv.config))
        srv.start()
        self.addCleanup(srv.stop)
        c4 = Conn(srv.port)
        self.addCleanup(c4.close)
        self.assertEqual(c4.request("GET", "/").status, 200)
        c6 = Conn(p2, host="::1")
        self.addCleanup(c6.close)
        self.assertEqual(c6.request("GET", "/").status, 200)
        a = WS(srv.port, "/ws/v4")
        self.addCleanup(a.close)
        b = WS(p2, "/ws/v6", host="::1")
        self.addCleanup(b.close)
        a.recv_until("user_joined", data={"user_id": "v6", "count": 2})
        b.chat({"text": "from v6"})
        a.recv_until("chat", data={"text": "from v6"}, client_id="v6")


if __name__ == "__main__":
    unittest.main()
