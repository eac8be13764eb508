"""The one close path (../shared/DESIGN.md): every connection's departure is
seen exactly once, whatever ended it: one "disconnected" log line, one
user_left (none for a replaced connection), however the connection went."""

import re
import time
import unittest

from harness import ServerTestCase, WS, wait_for


class OneDeparture(ServerTestCase):
    CONFIG = {"websocket": {"heartbeat_interval": "0", "idle_timeout": "0"}}

    def lines_for(self, cid):
        return [l for l in self.server.log_text().splitlines()
                if re.search(r"disconnected \S+ \(%s\)" % re.escape(cid), l)]

    def any_disconnected_lines(self):
        return [l for l in self.server.log_text().splitlines() if " disconnected " in l]

    def test_clean_close_one_line_one_user_left(self):
        watcher = self.ws("watcher")
        a = self.ws("leaver")
        watcher.recv_env(type="user_joined", data={"user_id": "leaver", "count": 2})
        a.send_close(1000)
        a.expect_close(1000, echo=False)
        watcher.recv_env(type="user_left", data={"user_id": "leaver", "count": 1})
        wait_for(lambda: self.lines_for("leaver"), msg="disconnected line")
        time.sleep(0.3)
        self.assertEqual(len(self.lines_for("leaver")), 1, self.lines_for("leaver"))
        watcher.expect_nothing(0.3)

    def test_reset_one_line(self):
        watcher = self.ws("watcher")
        a = self.ws("vanisher")
        watcher.recv_env(type="user_joined", data={"user_id": "vanisher", "count": 2})
        a.reset()
        watcher.recv_env(type="user_left", data={"user_id": "vanisher", "count": 1})
        wait_for(lambda: self.lines_for("vanisher"), msg="disconnected line")
        time.sleep(0.3)
        self.assertEqual(len(self.lines_for("vanisher")), 1)
        self.assertIn("code 1006", self.lines_for("vanisher")[0])

    def test_replaced_connection_one_line_no_user_left(self):
        watcher = self.ws("watcher")
        old = self.ws("dup")
        watcher.recv_env(type="user_joined", data={"user_id": "dup", "count": 2})
        before = len(self.any_disconnected_lines())
        new = self.ws("dup")
        old.expect_close(4001, "replaced")
        # the user never left: no user_left, no user_joined for the newcomer
        watcher.expect_nothing(0.5)
        wait_for(lambda: len(self.any_disconnected_lines()) > before, msg="disconnected line")
        time.sleep(0.3)
        lines = self.any_disconnected_lines()[before:]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("code 4001", lines[0])
        new.send_close(1000)
        new.expect_close(1000, echo=False)
        watcher.recv_env(type="user_left", data={"user_id": "dup", "count": 1})


if __name__ == "__main__":
    unittest.main()
