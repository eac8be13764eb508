"""systemd integration: sd_notify states, the watchdog, socket activation
and journal-style log lines, against the real daemon."""

import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness


class SystemdServer(harness.Server):
    """A Server started with extra environment (and optionally through a
    shell that hands it a listening socket as fd 3, as systemd does)."""

    def start_env(self, env, listen_sock=None, stderr_path=None):
        binary = harness.fastwsd_path()
        full_env = dict(os.environ)
        full_env.update(env)
        self._log = open(stderr_path or self.log_path, "wb")
        args = [binary, "-c", self.conf_path]
        pass_fds = ()
        if listen_sock is not None:
            full_env["FD"] = str(listen_sock.fileno())
            args = ["sh", "-c", 'exec 3<&"$FD"; LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"'] + args
            pass_fds = (listen_sock.fileno(),)
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log, cwd=self.tmp, env=full_env,
                                     pass_fds=pass_fds)
        return self


class NotifySocket:
    """The NOTIFY_SOCKET end systemd would hold: collects datagrams."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fastwsd-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []

    def drain(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except (socket.timeout, BlockingIOError):
                return

    def wait_for(self, needle, timeout=5.0):
        def seen():
            self.drain()
            return any(needle in m for m in self.messages)
        harness.wait_for(seen, timeout=timeout, msg="notify %r (got %r)" % (needle, self.messages))

    def close(self):
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


class TestNotify(unittest.TestCase):
    def setUp(self):
        self.notify = NotifySocket()
        self.addCleanup(self.notify.close)

    def test_ready_status_reloading_stopping(self):
        srv = SystemdServer().start_env({"NOTIFY_SOCKET": self.notify.path})
        self.addCleanup(srv.stop, False)
        self.notify.wait_for("READY=1")
        ready = [m for m in self.notify.messages if "READY=1" in m][0]
        self.assertIn("STATUS=0 clients", ready)
        ws = harness.WS(srv.port, "/ws/alice")
        self.notify.wait_for("STATUS=1 clients")
        self.notify.messages.clear()
        srv.signal(signal.SIGHUP)
        self.notify.wait_for("RELOADING=1")
        self.notify.wait_for("READY=1")  # again after the reload
        ws.close()
        srv.signal(signal.SIGTERM)
        self.notify.wait_for("STOPPING=1")
        rc, _ = srv.wait_exit(10)
        self.assertEqual(rc, 0)

    def test_watchdog_pings(self):
        srv = SystemdServer()
        # WATCHDOG_PID must name the daemon itself: a shell in between
        # sets it to its own pid and execs.
        binary = harness.fastwsd_path()
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.path, WATCHDOG_USEC="400000")
        srv._log = open(srv.log_path, "wb")
        srv.proc = subprocess.Popen(["sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"', binary,
                                     "-c", srv.conf_path], stdout=srv._log, stderr=srv._log,
                                    stdin=subprocess.DEVNULL, cwd=srv.tmp, env=env)
        self.addCleanup(srv.stop, False)
        self.notify.wait_for("READY=1")
        t0 = time.monotonic()
        self.notify.messages.clear()
        harness.wait_for(lambda: (self.notify.drain(),
                                  sum("WATCHDOG=1" in m for m in self.notify.messages) >= 3)[1],
                         timeout=3.0, msg="three WATCHDOG=1 pings")
        # 3 pings at half of 400 ms each: well under a second.
        self.assertLess(time.monotonic() - t0, 2.5)


class TestActivation(unittest.TestCase):
    def test_uses_the_socket_from_systemd(self):
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(16)
        port = lsock.getsockname()[1]
        srv = SystemdServer()  # its config names another port: unused
        srv.start_env({}, listen_sock=lsock)
        lsock.close()  # the daemon holds its own copy as fd 3
        self.addCleanup(srv.stop, False)
        def answers():
            try:
                c = harness.Conn(port)
                r = c.request("GET", "/")
                c.close()
                return r.status == 200 and r.json() == {"message": "WebSocket server is running"}
            except OSError:
                return False
        harness.wait_for(answers, timeout=5.0, msg="GET / on the activated socket")
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=0.5).close()
        self.assertIn("from systemd", srv.log_text())


class TestJournalLogs(unittest.TestCase):
    def test_priority_prefix_when_stderr_is_the_journal(self):
        srv = SystemdServer()
        log_path = srv.log_path
        # JOURNAL_STREAM names stderr's device and inode: point it at the log file.
        open(log_path, "wb").close()
        st = os.stat(log_path)
        srv.start_env({"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)}, stderr_path=log_path)
        harness.wait_for(lambda: "listening" in srv.log_text(), msg="start-up log")
        lines = [l for l in srv.log_text().splitlines() if l]
        srv.stop()
        self.assertTrue(lines)
        for line in lines:
            # syslog priority, no timestamp: journald adds its own.
            self.assertRegex(line, r"^<[3467]>[a-z]")
        self.assertTrue(any(l.startswith("<6>listening on 127.0.0.1:") for l in lines), lines)

    def test_plain_lines_otherwise(self):
        srv = harness.Server().start()
        harness.wait_for(lambda: "listening" in srv.log_text(), msg="start-up log")
        text = srv.log_text()
        srv.stop()
        first = text.splitlines()[0]
        self.assertRegex(first, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (info|warn) ")


if __name__ == "__main__":
    unittest.main()
