"""SIGHUP and the settings a connection lives by (PROTOCOL.md section 5):
a reload applies to new connections only; open ones keep the timeouts,
heartbeat period and limits they were accepted under. Each key is moved to
0 and to a smaller value with clients connected. A zero or tiny duration
must never make the daemon spin (the ping storm of a heartbeat 1 -> 0
reload sent millions of pings before the deadline lists belonged to their
connections)."""

import json
import os
import signal
import time
import unittest
import zlib

from harness import (ServerTestCase, WS, Conn, WSClosed, build_frame, render_config, wait_for,
                     OP_PING, OP_PONG, OP_TEXT, OP_CLOSE)


def deflate(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ReloadCase(ServerTestCase):
    def reload_with(self, **websocket):
        cfg = {sec: dict(kv) for sec, kv in self.server.config.items()}
        cfg.setdefault("websocket", {}).update(websocket)
        with open(self.server.conf_path, "w") as f:
            f.write(render_config(cfg))
        before = self.server.log_text().count("reloaded")
        self.server.signal(signal.SIGHUP)
        wait_for(lambda: self.server.log_text().count("reloaded") > before, timeout=3,
                 msg="reloaded in the log")

    def count_pings(self, ws, seconds):
        """Pings received (and answered) in `seconds`."""
        n = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                f = ws.recv_frame(timeout=max(0.05, end - time.monotonic()))
            except OSError:
                break
            if f.opcode == OP_PING:
                n += 1
                ws.send_frame(OP_PONG, f.payload)
        return n


class HeartbeatReload(ReloadCase):
    CONFIG = {"websocket": {"heartbeat_interval": "1", "idle_timeout": "0"}}

    def test_heartbeat_to_zero_no_ping_storm(self):
        old = self.ws("old", auto_pong=False)
        self.assertGreaterEqual(self.count_pings(old, 1.3), 1)
        cpu0 = cpu_seconds(self.server.proc.pid)
        self.reload_with(heartbeat_interval="0")
        new = self.ws("new", auto_pong=False)
        pings_old = self.count_pings(old, 3.0)
        cpu = cpu_seconds(self.server.proc.pid) - cpu0
        print("  heartbeat 1 -> 0: old connection got %d pings in 3 s, daemon CPU %.2f s"
              % (pings_old, cpu))
        # the open connection keeps its 1 s period: about 3, never a storm
        self.assertGreaterEqual(pings_old, 2)
        self.assertLessEqual(pings_old, 5)
        self.assertLess(cpu, 1.0)
        # the new one was accepted with heartbeats off
        self.assertEqual(self.count_pings(new, 1.5), 0)
        self.server.assert_alive()

    def test_heartbeat_to_smaller_value(self):
        old = self.ws("old", auto_pong=False)
        self.reload_with(heartbeat_interval="0.25")
        new = self.ws("new", auto_pong=False)
        t0 = time.monotonic()
        got = {"old": 0, "new": 0}
        while time.monotonic() - t0 < 2.1:
            for name, ws in (("old", old), ("new", new)):
                got[name] += self.count_pings(ws, 0.05)
        print("  heartbeat 1 -> 0.25 over 2.1 s: old %(old)d pings, new %(new)d pings" % got)
        self.assertLessEqual(got["old"], 3)   # still about one a second
        self.assertGreaterEqual(got["new"], 5)  # about four a second

    def test_tiny_heartbeat_does_not_spin(self):
        self.reload_with(heartbeat_interval="0.0001")
        ws = self.ws("tiny", auto_pong=False)
        cpu0 = cpu_seconds(self.server.proc.pid)
        n = self.count_pings(ws, 1.0)
        cpu = cpu_seconds(self.server.proc.pid) - cpu0
        print("  heartbeat 0.0001 s: %d pings in 1 s, daemon CPU %.2f s" % (n, cpu))
        # at most one ping per tick (100 ms): a spinning loop sends thousands
        self.assertLessEqual(n, 15)
        self.assertLess(cpu, 0.8)


class IdleReload(ReloadCase):
    CONFIG = {"websocket": {"heartbeat_interval": "0", "idle_timeout": "6"}}

    def test_idle_shortened_applies_to_new_connections(self):
        old = self.ws("old", auto_pong=False)
        self.reload_with(idle_timeout="1")
        new = self.ws("new", auto_pong=False)
        t0 = time.monotonic()
        new.settimeout(4)
        new.expect_close(1000, "Timeout")
        took = time.monotonic() - t0
        print("  idle 6 -> 1: a new silent connection closed after %.2f s" % took)
        self.assertGreater(took, 0.5)
        self.assertLess(took, 2.5)
        # the old one keeps its 6 s: still open
        old.send_json({"type": "ping"})
        self.assertEqual(old.recv_until("pong").type, "pong")

    def test_idle_to_zero_never_times_out_an_active_client(self):
        self.server.stop()
        self.server = self.make_server({"websocket": {"idle_timeout": "3"}}).start()
        self.port = self.server.port
        active = self.ws("active")
        self.reload_with(idle_timeout="0")
        t0 = time.monotonic()
        while time.monotonic() - t0 < 4.0:
            active.send_json({"type": "ping"})
            try:
                active.recv_env(type="pong")
            except WSClosed as e:
                self.fail("active client closed %s %r %.1f s after idle_timeout 3 -> 0"
                          % (e.code, e.reason, time.monotonic() - t0))
            time.sleep(0.3)
        # and a new connection under idle_timeout 0 is never timed out
        quiet = self.ws("quiet", auto_pong=False)
        quiet.expect_nothing(1.5)


class HandshakeReload(ReloadCase):
    CONFIG = {"websocket": {"handshake_timeout": "5"}}

    def test_handshake_timeout_shortened_for_new_connections(self):
        old = self.conn()
        old.send(b"GET / HTTP/1.1\r\n")   # a request that never completes
        time.sleep(0.2)
        self.reload_with(handshake_timeout="1")
        new = self.conn()
        new.send(b"GET / HTTP/1.1\r\n")
        t0 = time.monotonic()
        new.expect_eof(timeout=4)
        took = time.monotonic() - t0
        print("  handshake_timeout 5 -> 1: new connection dropped after %.2f s" % took)
        self.assertLess(took, 2.5)
        # the old connection, accepted under 5 s, still completes its request
        old.send(b"Host: x\r\n\r\n")
        r = old.read_response()
        self.assertEqual(r.status, 200)


class InflateReload(ReloadCase):
    CONFIG = {"websocket": {"max_message_size": "65536", "heartbeat_interval": "0"}}

    def pmd(self, cid):
        c = WS(self.port, "/ws/" + cid,
               headers=[("Sec-WebSocket-Extensions", "permessage-deflate")])
        self.addCleanup(c.close)
        return c

    def compressed_chat(self, ws, size):
        text = "x" * size
        ws.send(build_frame(OP_TEXT, deflate(json.dumps({"type": "chat", "data": text}).encode()),
                            rsv=4))
        return text

    def test_open_connection_keeps_its_inflate_limit(self):
        old = self.pmd("old")
        self.reload_with(max_message_size="1000")
        self.compressed_chat(old, 2000)
        # delivered (compressed to the sender: a data frame, not a close)
        f = old.recv_frame(timeout=3)
        while f.opcode == OP_PING:
            f = old.recv_frame(timeout=3)
        self.assertNotEqual(f.opcode, OP_CLOSE,
                            "compressed 2000-byte message on a connection accepted under 65536 "
                            "closed after the limit was lowered: %r" % f)
        new = self.pmd("new")
        self.compressed_chat(new, 2000)
        new.expect_close(1009)

    def test_max_message_size_to_smaller_uncompressed(self):
        old = self.ws("old")
        self.reload_with(max_message_size="100")
        old.send_json({"type": "chat", "data": "y" * 500})
        self.assertEqual(len(old.recv_env(type="chat").data), 500)
        new = self.ws("new")
        new.send_json({"type": "chat", "data": "y" * 500})
        new.expect_close(1009)


class SendBufferReload(ReloadCase):
    CONFIG = {"websocket": {"max_send_buffer": "1048576", "heartbeat_interval": "0"}}

    def test_send_buffer_smaller_for_new_connections_zero_refused(self):
        old = self.ws("old")
        self.reload_with(max_send_buffer="4096")
        new = self.ws("new")
        old.recv_env(type="user_joined", data={"user_id": "new", "count": 2})
        # a 3000-byte chat fits the new connection's 4096 and the old one's 1 MiB
        new.send_json({"type": "chat", "data": "s" * 3000})
        for c in (old, new):
            self.assertEqual(len(c.recv_env(type="chat", client_id="new").data), 3000)
        # 0 is not a valid buffer (PROTOCOL.md section 5: >= 1): refused, old settings kept
        cfg = {sec: dict(kv) for sec, kv in self.server.config.items()}
        cfg["websocket"]["max_send_buffer"] = "0"
        with open(self.server.conf_path, "w") as f:
            f.write(render_config(cfg))
        self.server.signal(signal.SIGHUP)
        wait_for(lambda: "reload failed" in self.server.log_text(), timeout=3,
                 msg="reload failed in the log")
        self.assertIn("max_send_buffer", self.server.log_text())
        self.assert_chat_works(old, "old", [new])


if __name__ == "__main__":
    unittest.main()
