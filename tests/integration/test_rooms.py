"""Rooms (PROTOCOL.md sections 1 and 3): join, leave, room messages,
not_in_room, /rooms and /rooms/{room}, leaving on disconnect, fan-out.

Envelopes are checked byte for byte: keys type, data, client_id, room,
timestamp in this order; room_joined/room_left data {"room","user_id","count"}
with client_id null."""

import json
import re
import unittest

from harness import ServerTestCase, build_frame, OP_TEXT, TS_RE, wait_for

TS = r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00"'


def event_rx(type, room, user, count):
    """Exact bytes of a room_joined / room_left envelope (timestamp aside)."""
    return re.compile("^" + re.escape(
        '{"type":%s,"data":{"room":%s,"user_id":%s,"count":%d},"client_id":null,"room":%s,'
        '"timestamp":' % (json.dumps(type), json.dumps(room), json.dumps(user), count,
                          json.dumps(room))) + TS + r"\}$")


def room_msg_rx(data_json, sender, room):
    return re.compile("^" + re.escape(
        '{"type":"room","data":%s,"client_id":%s,"room":%s,"timestamp":'
        % (data_json, json.dumps(sender), json.dumps(room))) + TS + r"\}$")


class RoomsBase(ServerTestCase):
    def join(self, c, room):
        c.send_json({"type": "join", "room": room})

    def leave(self, c, room):
        c.send_json({"type": "leave", "room": room})

    def assertRoomEvent(self, c, type, room, user, count):
        env = c.recv_env(type=type, client_id=None, room=room,
                         data={"room": room, "user_id": user, "count": count})
        self.assertRegex(env.raw, event_rx(type, room, user, count))
        return env

    def assertError(self, c, code):
        env = c.recv_env(type="error", client_id=None)
        self.assertNotIn("room", env.obj, env)
        self.assertEqual(list(env.data.keys()), ["code", "error"], env)
        self.assertEqual(env.data["code"], code, env)
        self.assertTrue(isinstance(env.data["error"], str) and env.data["error"], env)
        return env

    def join_all(self, room, members):
        """members join one after the other; each event is checked on every
        member so far."""
        for i, c in enumerate(members):
            self.join(c, room)
            cid = c.path.rsplit("/", 1)[1]
            for m in members[:i + 1]:
                self.assertRoomEvent(m, "room_joined", room, cid, i + 1)

    def rooms_raw(self):
        r = self.http("GET", "/rooms")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.media_type(), "application/json", r)
        self.assertEqual(int(r.header("Content-Length")), len(r.body), r)
        return r

    def rooms(self):
        r = self.rooms_raw()
        obj = json.loads(r.body, object_pairs_hook=lambda kv: (dict(kv), [k for k, _ in kv]))
        top, keys = obj
        self.assertEqual(keys, ["count", "rooms"], r.body)
        self.assertEqual(top["count"], len(top["rooms"]), r.body)
        out = {}
        for item, ikeys in top["rooms"]:
            self.assertEqual(ikeys, ["room", "count"], r.body)
            self.assertNotIn(item["room"], out, "room listed twice: %r" % r.body)
            out[item["room"]] = item["count"]
        return out

    def room(self, name):
        return self.http("GET", "/rooms/" + name)


class Rooms(RoomsBase):
    def test_join_exact_and_members_only(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        self.join(alice, "r1")
        self.assertRoomEvent(alice, "room_joined", "r1", "alice", 1)
        self.join(bob, "r1")
        raws = [self.assertRoomEvent(c, "room_joined", "r1", "bob", 2).raw for c in (alice, bob)]
        self.assertEqual(raws[0], raws[1], "one event, the same bytes for every member")
        # carol is not a member: she saw none of it
        self.barrier(carol, [alice, bob, carol])
        self.assertEqual(self.rooms(), {"r1": 2})

    def test_join_again_only_joiner_told(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        self.join_all("r1", [alice, bob])
        self.join(alice, "r1")          # already a member
        self.assertRoomEvent(alice, "room_joined", "r1", "alice", 2)
        self.barrier(carol, [alice, bob, carol])   # bob got nothing before the barrier
        self.assertEqual(self.rooms(), {"r1": 2})
        r = self.room("r1")
        self.assertEqual(sorted(r.json()["clients"]), ["alice", "bob"])

    def test_room_message_members_only(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        self.join_all("r1", [alice, bob])
        alice.send_text('{"type":"room","room":"r1","data":{"text":"hi room"}}')
        raws = []
        for c in (alice, bob):
            env = c.recv_env(type="room", client_id="alice", room="r1", data={"text": "hi room"})
            self.assertRegex(env.raw, room_msg_rx('{"text":"hi room"}', "alice", "r1"))
            raws.append(env.raw)
        self.assertEqual(raws[0], raws[1])
        # carol (not a member) got nothing: her next message is the barrier
        self.barrier(carol, [alice, bob, carol])

    def test_room_message_data_absent_is_null(self):
        alice, = self.connect_all(["alice"])
        self.join_all("r1", [alice])
        alice.send_text('{"type":"room","room":"r1"}')
        env = alice.recv_env(type="room", client_id="alice", room="r1", data=None)
        self.assertRegex(env.raw, room_msg_rx("null", "alice", "r1"))

    def test_not_in_room(self):
        alice, bob = self.connect_all(["alice", "bob"])
        self.join_all("r1", [alice])
        bob.send_json({"type": "room", "room": "r1", "data": "sneaky"})
        self.assertError(bob, "not_in_room")
        bob.send_json({"type": "room", "room": "nosuchroom", "data": "x"})
        self.assertError(bob, "not_in_room")
        # nothing leaked to the member, and no room was created
        self.barrier(bob, [alice, bob])
        self.assertEqual(self.rooms(), {"r1": 1})

    def test_leave(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        self.join_all("r1", [alice, bob])
        self.leave(bob, "r1")
        raws = [self.assertRoomEvent(c, "room_left", "r1", "bob", 1).raw for c in (alice, bob)]
        self.assertEqual(raws[0], raws[1])
        self.barrier(carol, [alice, bob, carol])
        self.assertEqual(self.rooms(), {"r1": 1})
        # bob is out: his room messages are refused and alice gets nothing
        bob.send_json({"type": "room", "room": "r1", "data": "x"})
        self.assertError(bob, "not_in_room")
        alice.send_json({"type": "room", "room": "r1", "data": "only me"})
        alice.recv_env(type="room", client_id="alice", room="r1", data="only me")
        self.barrier(carol, [alice, bob, carol])
        # the last member leaves: the room disappears
        self.leave(alice, "r1")
        self.assertRoomEvent(alice, "room_left", "r1", "alice", 0)
        self.assertEqual(self.rooms(), {})
        r = self.room("r1")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.media_type(), "application/json")
        self.assertEqual(r.body, b'{"detail":"Not Found"}')
        self.barrier(alice, [alice, bob, carol])
        # and can be created again
        self.join_all("r1", [carol])
        self.assertEqual(self.rooms(), {"r1": 1})

    def test_leave_when_not_member(self):
        alice, bob = self.connect_all(["alice", "bob"])
        self.join_all("r1", [alice])
        self.leave(bob, "r1")            # existing room, not a member
        self.assertError(bob, "not_in_room")
        self.leave(bob, "ghost")         # no such room
        self.assertError(bob, "not_in_room")
        self.barrier(bob, [alice, bob])
        self.assertEqual(self.rooms(), {"r1": 1})
        # leaving twice
        self.leave(alice, "r1")
        self.assertRoomEvent(alice, "room_left", "r1", "alice", 0)
        self.leave(alice, "r1")
        self.assertError(alice, "not_in_room")
        self.barrier(bob, [alice, bob])

    def test_many_rooms_one_client(self):
        hub, a, b = self.connect_all(["hub", "a", "b"])
        names = ["room-%02d" % i for i in range(20)]
        for i, name in enumerate(names):
            self.join(hub, name)
            self.assertRoomEvent(hub, "room_joined", name, "hub", 1)
            other = a if i % 2 == 0 else b
            self.join(other, name)
            for c in (hub, other):
                self.assertRoomEvent(c, "room_joined", name, other.path[4:], 2)
        self.assertEqual(self.rooms(), {n: 2 for n in names})
        # every room's traffic reaches the hub, in order, tagged with its room
        for i, name in enumerate(names):
            other = a if i % 2 == 0 else b
            other.send_json({"type": "room", "room": name, "data": i})
        got = [hub.recv_env(type="room") for _ in range(20)]
        # a and b send concurrently: order holds per sender, not across them
        self.assertEqual(sorted((e.data, e["room"], e["client_id"]) for e in got),
                         [(i, names[i], "a" if i % 2 == 0 else "b") for i in range(20)])
        for sender in ("a", "b"):
            self.assertEqual([e.data for e in got if e["client_id"] == sender],
                             list(range(0 if sender == "a" else 1, 20, 2)))
        for c, idx in ((a, range(0, 20, 2)), (b, range(1, 20, 2))):
            for i in idx:
                c.recv_env(type="room", room=names[i], data=i)
        # the hub's own messages to each room
        for name in names:
            hub.send_json({"type": "room", "room": name, "data": "from hub " + name})
        for name in names:
            hub.recv_env(type="room", room=name, client_id="hub", data="from hub " + name)
        for c, idx in ((a, range(0, 20, 2)), (b, range(1, 20, 2))):
            for i in idx:
                c.recv_env(type="room", room=names[i], client_id="hub")
        self.barrier(hub, [hub, a, b])

    def test_rooms_are_separate(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        self.join_all("r1", [alice, bob])
        self.join_all("r2", [alice, carol])
        alice.send_json({"type": "room", "room": "r2", "data": "for r2"})
        for c in (alice, carol):
            c.recv_env(type="room", room="r2", data="for r2", client_id="alice")
        self.barrier(alice, [alice, bob, carol])
        self.assertEqual(self.rooms(), {"r1": 2, "r2": 2})

    def test_room_order(self):
        alice, bob = self.connect_all(["alice", "bob"])
        self.join_all("ordered", [alice, bob])
        alice.send(b"".join(build_frame(OP_TEXT, json.dumps(
            {"type": "room", "room": "ordered", "data": i})) for i in range(100)))
        for c in (alice, bob):
            self.assertEqual([c.recv_env(type="room").data for _ in range(100)], list(range(100)))


class Disconnect(RoomsBase):
    def test_close_leaves_all_rooms_then_user_left(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        for room in ("r1", "r2"):
            self.join_all(room, [alice, bob])
        bob.close_handshake()
        # alice: room_left for both rooms (any order), then user_left
        got = [alice.recv_env() for _ in range(3)]
        self.assertEqual(sorted((e.type, e.get("room")) for e in got[:2]),
                         [("room_left", "r1"), ("room_left", "r2")], got)
        for e in got[:2]:
            self.assertRegex(e.raw, event_rx("room_left", e["room"], "bob", 1))
        self.assertEqual((got[2].type, got[2].data), ("user_left", {"user_id": "bob", "count": 2}))
        self.assertNotIn("room", got[2].obj)
        # carol (no rooms) only hears user_left
        carol.recv_env(type="user_left", data={"user_id": "bob", "count": 2}, client_id=None)
        self.barrier(carol, [alice, carol])
        self.assertEqual(self.rooms(), {"r1": 1, "r2": 1})
        r = self.room("r1")
        self.assertEqual(r.json()["clients"], ["alice"])

    def test_abrupt_disconnect_leaves_rooms(self):
        alice, bob, carol = self.connect_all(["alice", "bob", "carol"])
        self.join_all("r1", [alice, bob])
        bob.reset()                      # TCP RST, no close frame
        self.assertRoomEvent(alice, "room_left", "r1", "bob", 1)
        alice.recv_env(type="user_left", data={"user_id": "bob", "count": 2})
        carol.recv_env(type="user_left", data={"user_id": "bob", "count": 2})
        self.barrier(carol, [alice, carol])

    def test_last_member_disconnect_removes_room(self):
        alice, bob = self.connect_all(["alice", "bob"])
        self.join_all("solo", [alice])
        self.join_all("pair", [alice, bob])
        self.assertEqual(self.rooms(), {"solo": 1, "pair": 2})
        alice.close_handshake()
        self.assertRoomEvent(bob, "room_left", "pair", "alice", 1)
        bob.recv_env(type="user_left", data={"user_id": "alice", "count": 1})
        self.assertEqual(self.rooms(), {"pair": 1})
        r = self.room("solo")
        self.assertEqual((r.status, r.body), (404, b'{"detail":"Not Found"}'), r)
        bob.close_handshake()
        wait_for(lambda: self.rooms() == {}, msg="rooms empty after the last client left")
        self.assertEqual(self.room("pair").status, 404)


class RoomsHttp(RoomsBase):
    def test_rooms_exact_json(self):
        # no rooms
        self.assertEqual(self.rooms_raw().body, b'{"count":0,"rooms":[]}')
        alice, bob = self.connect_all(["alice", "bob"])
        self.join_all("r1", [alice, bob])
        self.join_all("r2", [alice])
        body = self.rooms_raw().body
        self.assertIn(body, (b'{"count":2,"rooms":[{"room":"r1","count":2},{"room":"r2","count":1}]}',
                             b'{"count":2,"rooms":[{"room":"r2","count":1},{"room":"r1","count":2}]}'))
        r = self.room("r1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.media_type(), "application/json")
        self.assertEqual(int(r.header("Content-Length")), len(r.body))
        self.assertIn(r.body, (b'{"room":"r1","count":2,"clients":["alice","bob"]}',
                               b'{"room":"r1","count":2,"clients":["bob","alice"]}'))
        self.assertEqual(self.room("r2").body, b'{"room":"r2","count":1,"clients":["alice"]}')

    def test_unknown_room_404(self):
        for path in ("/rooms/nosuch", "/rooms/a%20b", "/rooms/" + "x" * 65):
            with self.subTest(path=path):
                r = self.http("GET", path)
                self.assertEqual(r.status, 404, r)
                self.assertEqual(r.media_type(), "application/json")
                self.assertEqual(r.body, b'{"detail":"Not Found"}')

    def test_room_names_at_the_limit(self):
        alice, = self.connect_all(["alice"])
        name = "A-z_0.9" + "x" * 57        # 64 characters, every allowed class
        self.assertEqual(len(name), 64)
        self.join_all(name, [alice])
        self.assertEqual(self.rooms(), {name: 1})
        r = self.room(name)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"room": name, "count": 1, "clients": ["alice"]})
        # rooms and client ids are separate name spaces, and names are case-sensitive
        self.join_all("alice", [alice])
        self.join_all("ALICE", [alice])
        self.assertEqual(self.rooms(), {name: 1, "alice": 1, "ALICE": 1})


class BadRoomNames(RoomsBase):
    def test_invalid_room_names(self):
        alice, bob = self.connect_all(["alice", "bob"])
        bad = [MISSING_ROOM, 5, None, True, ["r"], {"r": 1}, "", "x" * 65, "a b", "\u00e9",
               "a/b", "r%20", "a\u0000b"]
        for type in ("join", "leave", "room"):
            for room in bad:
                with self.subTest(type=type, room=room):
                    msg = {"type": type, "data": "x"}
                    if room is not MISSING_ROOM:
                        msg["room"] = room
                    alice.send_json(msg)
                    self.assertError(alice, "invalid_message")
        self.barrier(alice, [alice, bob])
        self.assertEqual(self.rooms(), {})


MISSING_ROOM = object()


class Fanout(RoomsBase):
    def test_fanout_50_members_identical_bytes(self):
        n = 50
        ids = ["m%02d" % i for i in range(n)]
        clients = self.connect_all(ids)
        outsider = self.ws("outsider")
        for c in clients:
            c.recv_env(type="user_joined", data={"user_id": "outsider", "count": n + 1})
        for i, c in enumerate(clients):
            self.join(c, "big")
            # the joiner sees count i+1; earlier members see the same event
            self.assertRoomEvent(c, "room_joined", "big", ids[i], i + 1)
        for i, c in enumerate(clients):
            for j in range(i + 1, n):
                c.recv_env(type="room_joined", room="big", data={"room": "big", "user_id": ids[j],
                                                                  "count": j + 1})
        self.assertEqual(self.rooms(), {"big": n})
        self.assertEqual(sorted(self.room("big").json()["clients"]), ids)
        clients[7].send_json({"type": "room", "room": "big", "data": {"text": "to all fifty"}})
        raws = set()
        for c in clients:
            env = c.recv_env(type="room", room="big", client_id="m07", data={"text": "to all fifty"})
            self.assertRegex(env.raw, room_msg_rx('{"text":"to all fifty"}', "m07", "big"))
            raws.add(env.raw)
        self.assertEqual(len(raws), 1, "members got different bytes: %r" % raws)
        self.barrier(outsider, clients + [outsider])


if __name__ == "__main__":
    unittest.main()
