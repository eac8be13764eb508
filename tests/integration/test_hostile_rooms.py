"""[limits] max_rooms_per_client (issue 14 item 7, PROTOCOL.md sections 3
and 5): a join past the cap gets error too_many_rooms, the client stays
connected and in its rooms; a reload applies to new connections only."""

import signal
import unittest

from harness import render_config, wait_for
from test_rooms import RoomsBase


class RoomCap(RoomsBase):
    CONFIG = {"limits": {"max_rooms_per_client": "3"}}

    def fill(self, c, cid, n):
        for i in range(n):
            self.join(c, "r%d" % i)
            self.assertRoomEvent(c, "room_joined", "r%d" % i, cid, 1)

    def test_join_past_the_cap(self):
        a = self.ws("capped")
        self.fill(a, "capped", 3)
        self.join(a, "one-too-many")
        self.assertError(a, "too_many_rooms")
        # a re-join of a room it is in is not a new membership
        self.join(a, "r0")
        self.assertRoomEvent(a, "room_joined", "r0", "capped", 1)
        # still connected, still in its rooms, and chat works
        a.send_json({"type": "room", "room": "r2", "data": {"x": 1}})
        env = a.recv_env(type="room", room="r2")
        self.assertEqual(env.data, {"x": 1})
        self.leave(a, "r1")
        self.assertRoomEvent(a, "room_left", "r1", "capped", 0)
        self.join(a, "r3")
        self.assertRoomEvent(a, "room_joined", "r3", "capped", 1)
        self.assert_chat_works(a, "capped")

    def test_1000_joins_hold_the_cap(self):
        a = self.ws("flood")
        self.fill(a, "flood", 3)
        for i in range(1000):
            a.send_json({"type": "join", "room": "x%d" % i})
        refused = 0
        for _ in range(1000):
            env = a.recv_env(type="error", client_id=None)
            refused += env.data["code"] == "too_many_rooms"
        print("1000 joins past a cap of 3: %d refused with too_many_rooms" % refused)
        self.assertEqual(refused, 1000)
        r = self.http("GET", "/rooms")
        self.assertEqual(r.json()["count"], 3, r.body)


class RoomCapReload(RoomsBase):
    CONFIG = {"limits": {"max_rooms_per_client": "2"}}

    def reload_limit(self, value):
        cfg = {sec: dict(kv) for sec, kv in self.server.config.items()}
        cfg.setdefault("limits", {})["max_rooms_per_client"] = value
        with open(self.server.conf_path, "w") as f:
            f.write(render_config(cfg))
        before = self.server.log_text().count("reloaded")
        self.server.signal(signal.SIGHUP)
        wait_for(lambda: self.server.log_text().count("reloaded") > before, timeout=3,
                 msg="reloaded in the log")

    def test_reload_to_smaller_and_to_zero(self):
        old = self.ws("old")
        self.join(old, "a")
        self.assertRoomEvent(old, "room_joined", "a", "old", 1)
        self.reload_limit("1")
        smaller = self.ws("smaller")
        old.recv_env(type="user_joined", client_id=None)
        self.join(smaller, "s1")
        self.assertRoomEvent(smaller, "room_joined", "s1", "smaller", 1)
        self.join(smaller, "s2")
        self.assertError(smaller, "too_many_rooms")
        # the open connection keeps the cap of 2 it was accepted under
        self.join(old, "b")
        self.assertRoomEvent(old, "room_joined", "b", "old", 1)
        self.join(old, "c")
        self.assertError(old, "too_many_rooms")
        self.reload_limit("0")
        free = self.ws("free")
        old.recv_env(type="user_joined", client_id=None)
        smaller.recv_env(type="user_joined", client_id=None)
        for i in range(200):
            self.join(free, "f%d" % i)
            self.assertRoomEvent(free, "room_joined", "f%d" % i, "free", 1)
        # and the older ones still keep theirs
        self.join(smaller, "s3")
        self.assertError(smaller, "too_many_rooms")
        self.join(old, "d")
        self.assertError(old, "too_many_rooms")


if __name__ == "__main__":
    unittest.main()
