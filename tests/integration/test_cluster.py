"""Cluster (DESIGN.md "Scaling out", server/cluster.h): several fastwsd nodes
joined through a real redis-server on an ephemeral loopback port.

Each test class starts its own redis-server (no persistence); each test
starts its nodes with a channel_prefix of its own, so tests never see each
other's channels or keys. Skipped when redis-server is not installed.
"""

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import (Server, WS, Conn, build_frame, merge_config, render_config, free_port,
                     wait_for)

REDIS_SERVER = shutil.which("redis-server")
PEER_TIMEOUT = 7.0      # cluster.c PEER_TIMEOUT_MS: a silent node is dropped
_prefixes = itertools.count(1)


# --------------------------------------------------------------------------
# redis-server and a tiny RESP client
# --------------------------------------------------------------------------

class Redis:
    """A redis-server on 127.0.0.1:port with no persistence, in a temp dir."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.tmp = tempfile.mkdtemp(prefix="fastwsd-redis-")
        self.proc = None
        self.log = None

    def start(self, timeout=5.0):
        self.log = open(os.path.join(self.tmp, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.tmp,
             "--protected-mode", "no", "--loglevel", "warning"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        wait_for(lambda: self._ping(), timeout=timeout, msg="redis-server on port %d" % self.port)
        return self

    def _ping(self):
        if self.proc.poll() is not None:
            raise AssertionError("redis-server exited with %s" % self.proc.returncode)
        try:
            return self.command("PING") == "PONG"
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def command(self, *args):
        """One command, one reply (+ - : $ * parsed; -ERR raises)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        try:
            out = b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            f = s.makefile("rb")
            return self._read(f)
        finally:
            s.close()

    def _read(self, f):
        line = f.readline()
        if not line:
            raise OSError("redis closed the connection")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise AssertionError("redis error: %s" % rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)[:-2]
            return data.decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read(f) for _ in range(n)]
        raise AssertionError("bad RESP line %r" % line)


# --------------------------------------------------------------------------
# base class
# --------------------------------------------------------------------------

@unittest.skipUnless(REDIS_SERVER, "redis-server is not installed")
class ClusterTestCase(unittest.TestCase):
    """One redis-server per class; nodes per test (node_id A, B, C...)."""

    NODE_CONFIG = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.redis = Redis().start()

    @classmethod
    def tearDownClass(cls):
        cls.redis.cleanup()
        super().tearDownClass()

    def setUp(self):
        self.prefix = "t%d" % next(_prefixes)
        self.nodes = {}
        self.server = None   # run.py attaches the log of self.server on failure

    def tearDown(self):
        for n in self.nodes.values():
            if not n.stopped:
                n.assert_alive()

    def start_node(self, name, config=None, wait=True, also_listen=None):
        cfg = merge_config({
            "cluster": {"redis_url": "redis://127.0.0.1:%d" % self.redis.port,
                        "node_id": name, "channel_prefix": self.prefix},
            "websocket": {"heartbeat_interval": "0", "idle_timeout": "0"},
        }, self.NODE_CONFIG, config)
        node = Server(cfg)
        if also_listen:
            # the harness's own port (it waits on it) plus a shared one
            node.config["server"]["listen"] = "127.0.0.1:%d,127.0.0.1:%d" % (node.port,
                                                                            also_listen)
            with open(node.conf_path, "w") as f:
                f.write(render_config(node.config))
        node.start()
        self.addCleanup(node.stop)
        self.nodes[name] = node
        if self.server is None:
            self.server = node
        if wait:
            self.wait_health(node, "ok")
        return node

    def start_nodes(self, names="ABC", config=None):
        return [self.start_node(n, config) for n in names]

    # -- HTTP --------------------------------------------------------------

    def get(self, node, path):
        c = Conn(node.port)
        try:
            return c.request("GET", path)
        finally:
            c.close()

    def get_json(self, node, path):
        r = self.get(node, path)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def health(self, node):
        r = self.get(node, "/healthz")
        return r.status, r.json()["status"]

    def wait_health(self, node, status, timeout=10.0):
        wait_for(lambda: self.health(node) == (200, status), timeout=timeout,
                 msg="/healthz %s on port %d" % (status, node.port))

    def metric(self, node, name):
        for line in self.get(node, "/metrics").body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError("no metric %s" % name)

    def client_ids(self, node):
        obj = self.get_json(node, "/clients")
        self.assertEqual(obj["count"], len(obj["clients"]), obj)
        return obj["clients"]

    def wait_clients(self, expected, nodes=None, timeout=5.0):
        """Every node's /clients lists exactly `expected` (any order)."""
        want = sorted(expected)
        for node in (nodes or self.nodes.values()):
            if node.stopped:
                continue
            wait_for(lambda: sorted(self.client_ids(node)) == want, timeout=timeout,
                     msg="/clients == %r on port %d" % (want, node.port))

    # -- WebSocket -----------------------------------------------------------

    def ws(self, node, cid, **kw):
        c = WS(node.port, "/ws/" + cid, **kw)
        self.addCleanup(c.close)
        return c

    def connect(self, specs):
        """specs: [(node, id)] connected in order. Each earlier client gets
        the newcomer's user_joined with the cluster-wide count, and every
        node lists it, before the next one connects: streams are quiet."""
        clients = []
        ids = []
        for node, cid in specs:
            c = self.ws(node, cid)
            ids.append(cid)
            for old in clients:
                old.recv_env(type="user_joined", data={"user_id": cid, "count": len(ids)},
                             client_id=None)
            self.wait_clients(ids)
            clients.append(c)
        return clients

    def barrier(self, sender, sender_id, clients):
        """The next message of every client is sender's unique chat."""
        token = "barrier-%s" % os.urandom(4).hex()
        sender.chat({"barrier": token})
        for c in clients:
            c.recv_env(type="chat", data={"barrier": token}, client_id=sender_id)


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------

class Messaging(ClusterTestCase):

    def test_chat_reaches_every_node_exactly_once(self):
        a, b, c = self.start_nodes()
        a1, a2, b1, c1 = self.connect([(a, "a1"), (a, "a2"), (b, "b1"), (c, "c1")])
        everyone = [a1, a2, b1, c1]
        a1.chat({"text": "hello cluster"})
        envs = [cl.recv_env(type="chat", data={"text": "hello cluster"}, client_id="a1")
                for cl in everyone]
        # encoded once at the origin: the very same bytes everywhere
        self.assertEqual(len({e.raw for e in envs}), 1, [e.raw for e in envs])
        for cl in everyone:
            cl.expect_nothing(0.3)
        # and from another node, to all
        c1.chat({"text": "from C"})
        for cl in everyone:
            cl.recv_env(type="chat", data={"text": "from C"}, client_id="c1")
        self.barrier(b1, "b1", everyone)

    def test_private_to_a_client_on_another_node(self):
        a, b, c = self.start_nodes()
        a1, b1, c1 = self.connect([(a, "a1"), (b, "b1"), (c, "c1")])
        a1.send_json({"type": "private", "recipient_id": "c1", "data": {"secret": 1}})
        env = c1.recv_env(type="private", data={"secret": 1}, client_id="a1")
        self.assertNotIn("room", env.obj)
        # recipient_id inside data works across nodes too
        c1.send_json({"type": "private", "data": {"recipient_id": "b1", "n": 2}})
        b1.recv_env(type="private", client_id="c1")
        a1.expect_nothing(0.3)
        self.barrier(a1, "a1", [a1, b1, c1])

    def test_unknown_recipient_only_when_no_node_has_it(self):
        a, b = self.start_nodes("AB")
        a1, b1 = self.connect([(a, "a1"), (b, "b1")])
        a1.send_json({"type": "private", "recipient_id": "b1", "data": 1})
        b1.recv_env(type="private", data=1, client_id="a1")
        a1.send_json({"type": "private", "recipient_id": "nobody", "data": 1})
        a1.recv_env(type="error", data={"code": "unknown_recipient",
                                        "error": "no such recipient is connected"},
                    client_id=None)
        b1.expect_nothing(0.3)
        # after b1 leaves, every node knows it is gone
        b1.close_handshake()
        a1.recv_env(type="user_left", data={"user_id": "b1", "count": 1})
        a1.send_json({"type": "private", "recipient_id": "b1", "data": 1})
        a1.recv_env(type="error", data={"code": "unknown_recipient",
                                        "error": "no such recipient is connected"})

    def test_per_sender_order_across_nodes(self):
        a, b, c = self.start_nodes()
        a1, b1, c1 = self.connect([(a, "a1"), (b, "b1"), (c, "c1")])
        n = 200
        payload = b"".join(build_frame(1, json.dumps({"type": "chat", "data": {"i": i}}).encode())
                           for i in range(n))
        a1.send(payload)   # all at once: one burst through Redis
        for cl in (b1, c1, a1):
            got = [cl.recv_env(type="chat", client_id="a1").data["i"] for _ in range(n)]
            self.assertEqual(got, list(range(n)))
        # a private and a chat from one sender keep their order too
        a1.send_json({"type": "private", "recipient_id": "b1", "data": "first"})
        a1.chat("second")
        b1.recv_env(type="private", data="first", client_id="a1")
        b1.recv_env(type="chat", data="second", client_id="a1")


class Presence(ClusterTestCase):

    def test_counts_and_clients_are_cluster_wide(self):
        a, b, c = self.start_nodes()
        a1, b1, c1 = self.connect([(a, "a1"), (b, "b1"), (c, "c1")])   # counts 1, 2, 3
        self.wait_clients(["a1", "b1", "c1"])
        # the node's own presence is in its HASH (cluster.h: P:clients:N)
        h = self.redis.command("HGETALL", "%s:clients:B" % self.prefix)
        fields = dict(zip(h[::2], h[1::2]))
        self.assertIn("b1", fields)
        self.assertIn("#seq", fields)
        self.assertGreater(self.redis.command("TTL", "%s:clients:B" % self.prefix), 0)
        b1.close_handshake()
        for cl in (a1, c1):
            cl.recv_env(type="user_left", data={"user_id": "b1", "count": 2}, client_id=None)
        self.wait_clients(["a1", "c1"])
        b2 = self.ws(b, "b2")
        for cl in (a1, c1):
            cl.recv_env(type="user_joined", data={"user_id": "b2", "count": 3})
        self.wait_clients(["a1", "b2", "c1"])
        self.barrier(b2, "b2", [a1, b2, c1])

    def test_rooms_span_nodes(self):
        a, b, c = self.start_nodes()
        a1, b1, c1 = self.connect([(a, "a1"), (b, "b1"), (c, "c1")])
        a1.send_json({"type": "join", "room": "r"})
        a1.recv_env(type="room_joined", data={"room": "r", "user_id": "a1", "count": 1},
                    client_id=None, room="r")
        wait_for(lambda: self.get(c, "/rooms/r").status == 200, msg="room r known on C")
        c1.send_json({"type": "join", "room": "r"})
        c1.recv_env(type="room_joined", data={"room": "r", "user_id": "c1", "count": 2}, room="r")
        # the other member, on another node, is told too
        a1.recv_env(type="room_joined", data={"room": "r", "user_id": "c1", "count": 2}, room="r")
        for node in (a, b, c):
            wait_for(lambda: self.get_json(node, "/rooms") ==
                     {"count": 1, "rooms": [{"room": "r", "count": 2}]}, msg="/rooms")
            obj = self.get_json(node, "/rooms/r")
            self.assertEqual((obj["room"], obj["count"], sorted(obj["clients"])),
                             ("r", 2, ["a1", "c1"]))
        a1.send_json({"type": "room", "room": "r", "data": {"n": 1}})
        for cl in (a1, c1):
            cl.recv_env(type="room", data={"n": 1}, client_id="a1", room="r")
        b1.expect_nothing(0.3)
        # a non-member on another node cannot talk into it
        b1.send_json({"type": "room", "room": "r", "data": 2})
        b1.recv_env(type="error", data={"code": "not_in_room",
                                        "error": "you are not in that room"})
        # leaving: the remaining member elsewhere gets room_left
        c1.send_json({"type": "leave", "room": "r"})
        c1.recv_env(type="room_left", data={"room": "r", "user_id": "c1", "count": 1}, room="r")
        a1.recv_env(type="room_left", data={"room": "r", "user_id": "c1", "count": 1}, room="r")
        # C has no member any more: C's clients get nothing of r
        a1.send_json({"type": "room", "room": "r", "data": 3})
        a1.recv_env(type="room", data=3, room="r")
        c1.expect_nothing(0.3)
        # a member on another node disconnecting: room_left, then user_left
        c1.send_json({"type": "join", "room": "r"})
        a1.recv_env(type="room_joined", data={"room": "r", "user_id": "c1", "count": 2})
        c1.recv_env(type="room_joined")
        c1.close_handshake()
        a1.recv_env(type="room_left", data={"room": "r", "user_id": "c1", "count": 1})
        a1.recv_env(type="user_left", data={"user_id": "c1", "count": 2})
        b1.recv_env(type="user_left", data={"user_id": "c1", "count": 2})
        self.assertEqual(self.get_json(b, "/rooms/r")["clients"], ["a1"])

    def test_kill_9_node_heals_within_10_s(self):
        a, b, c = self.start_nodes()
        a1, b1, c1, c2 = self.connect([(a, "a1"), (b, "b1"), (c, "c1"), (c, "c2")])
        c1.send_json({"type": "join", "room": "k"})
        c1.recv_env(type="room_joined")
        wait_for(lambda: self.get(a, "/rooms/k").status == 200, msg="room k known on A")
        a1.send_json({"type": "join", "room": "k"})
        a1.recv_env(type="room_joined", data={"room": "k", "user_id": "a1", "count": 2})
        c1.recv_env(type="room_joined")
        self.kill9(c)
        t0 = time.monotonic()
        self.wait_clients(["a1", "b1"], nodes=[a, b], timeout=PEER_TIMEOUT + 3)
        self.assertLess(time.monotonic() - t0, PEER_TIMEOUT + 3)
        got = {}
        for cl, name in ((a1, "a1"), (b1, "b1")):
            seen = []
            while len([e for e in seen if e.type == "user_left"]) < 2:
                seen.append(cl.recv_env(timeout=5))
            got[name] = seen
        lefts = sorted((e.data["user_id"]) for e in got["b1"] if e.type == "user_left")
        self.assertEqual(lefts, ["c1", "c2"])
        self.assertEqual(got["b1"][-1].data["count"], 2)
        # a1 shared room k with c1: room_left before c1's user_left
        types = [(e.type, e.data.get("user_id")) for e in got["a1"]]
        self.assertIn(("room_left", "c1"), types)
        self.assertLess(types.index(("room_left", "c1")), types.index(("user_left", "c1")))
        self.assertEqual(self.get_json(b, "/rooms/k")["clients"], ["a1"])
        self.barrier(a1, "a1", [a1, b1])

    def kill9(self, node):
        node.proc.kill()
        node.proc.wait()
        node.stopped = True
        node._cleanup()

    def test_restarted_node_replaces_its_previous_incarnation(self):
        a, c = self.start_nodes("AC")
        a1, c1 = self.connect([(a, "a1"), (c, "c1")])
        self.kill9(c)
        t0 = time.monotonic()
        self.start_node("C")   # same node_id, a new incarnation: no need to wait 7 s
        a1.recv_env(type="user_left", data={"user_id": "c1", "count": 1}, timeout=5)
        self.assertLess(time.monotonic() - t0, PEER_TIMEOUT - 2)
        self.wait_clients(["a1"])

    def test_clean_shutdown_removes_presence_at_once(self):
        a, b, c = self.start_nodes()
        a1, b1, c1 = self.connect([(a, "a1"), (b, "b1"), (c, "c1")])
        c.signal(signal.SIGTERM)
        c1.expect_close(1001)
        rc, _ = c.wait_exit(5)
        self.assertEqual(rc, 0, c.log_tail())
        self.assertEqual(c.crash_markers(), [])
        c.stopped = True
        c._cleanup()
        for cl in (a1, b1):
            cl.recv_env(type="user_left", data={"user_id": "c1", "count": 2})
        self.wait_clients(["a1", "b1"], nodes=[a, b], timeout=1.0)
        self.assertEqual(self.redis.command("EXISTS", "%s:clients:C" % self.prefix), 0)
        self.barrier(a1, "a1", [a1, b1])


class DuplicateIds(ClusterTestCase):

    def test_replace_closes_the_older_connection_on_another_node(self):
        a, b, c = self.start_nodes()
        a1, xa, c1 = self.connect([(a, "a1"), (a, "x"), (c, "c1")])
        xb = self.ws(b, "x")
        xa.expect_close(4001, "replaced")
        # the user never left: nobody sees a leave/join pair
        for cl in (a1, c1):
            cl.expect_nothing(0.5)
        self.wait_clients(["a1", "c1", "x"])
        # the new connection is the one that gets traffic
        c1.send_json({"type": "private", "recipient_id": "x", "data": "to new"})
        xb.recv_env(type="private", data="to new", client_id="c1")
        self.barrier(c1, "c1", [a1, c1, xb])
        self.assertEqual(self.metric(a, 'fastws_closes_total{code="4001"}'), 1)

    def test_reject_answers_409_when_another_node_has_the_id(self):
        a, b = self.start_nodes("AB", {"websocket": {"on_duplicate_id": "reject"}})
        (xa,) = self.connect([(a, "x")])
        c = Conn(b.port)
        self.addCleanup(c.close)
        c.send(("GET /ws/x HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n" % b.host).encode())
        r = c.read_response()
        self.assertEqual(r.status, 409, r)
        xa.expect_nothing(0.3)
        xa.close_handshake()
        self.wait_clients([])
        self.ws(b, "x")
        self.wait_clients(["x"])


class RedisOutage(ClusterTestCase):

    def setUp(self):
        super().setUp()
        self.addCleanup(self.ensure_redis)   # runs last: after the nodes stopped

    def ensure_redis(self):
        if self.redis.proc.poll() is not None:
            self.redis.start()

    def test_redis_restart_mid_chat(self):
        a, b = self.start_nodes("AB")
        a1, a2, b1 = self.connect([(a, "a1"), (a, "a2"), (b, "b1")])
        self.barrier(a1, "a1", [a1, a2, b1])
        self.assertEqual(self.metric(a, "fastws_cluster_up"), 1)
        self.redis.stop()
        for node in (a, b):
            self.wait_health(node, "degraded", timeout=5)
            self.assertEqual(self.metric(node, "fastws_cluster_up"), 0)
        # local chat keeps working; other nodes cannot be reached
        a1.chat({"during": 1})
        for cl in (a1, a2):
            cl.recv_env(type="chat", data={"during": 1}, client_id="a1")
        # presence is frozen, not emptied, while Redis is away
        self.assertEqual(sorted(self.client_ids(a)), ["a1", "a2", "b1"])
        time.sleep(0.5)
        self.redis.start()
        for node in (a, b):
            self.wait_health(node, "ok", timeout=10)
            self.assertEqual(self.metric(node, "fastws_cluster_up"), 1)
        a1.chat({"after": 1})
        for cl in (a1, a2, b1):
            # b1's next message is this one: nothing of the outage, nothing twice
            cl.recv_env(type="chat", data={"after": 1}, client_id="a1")
        b1.chat({"after": 2})
        for cl in (a1, a2, b1):
            cl.recv_env(type="chat", data={"after": 2}, client_id="b1")
        for cl in (a1, a2, b1):
            cl.expect_nothing(0.3)
        # the HASHes were rewritten: Redis had lost them
        self.assertIn("a1", self.redis.command("HKEYS", "%s:clients:A" % self.prefix))
        self.wait_clients(["a1", "a2", "b1"])

    def test_presence_heals_after_changes_during_the_outage(self):
        a, b = self.start_nodes("AB")
        a1, b1, b2 = self.connect([(a, "a1"), (b, "b1"), (b, "b2")])
        self.redis.stop()
        self.wait_health(b, "degraded", timeout=5)
        b2.close_handshake()          # a leave nobody else can hear now
        b3 = self.ws(b, "b3")         # and a join
        self.assertEqual(b1.recv_env(type="user_left").data["user_id"], "b2")
        self.assertEqual(b1.recv_env(type="user_joined").data["user_id"], "b3")
        a1.expect_nothing(0.3)
        self.redis.start()
        # A re-reads B (heartbeat mismatch) and tells a1 the difference
        got = sorted((a1.recv_env(timeout=10).type, ) for _ in range(2))
        self.assertEqual(got, [("user_joined",), ("user_left",)])
        self.wait_clients(["a1", "b1", "b3"])
        self.barrier(b3, "b3", [a1, b1, b3])

    def test_node_starts_while_redis_is_down(self):
        self.redis.stop()
        a = self.start_node("A", wait=False)
        self.assertEqual(self.health(a), (200, "degraded"))
        a1 = self.ws(a, "a1")          # local service goes on
        a1.chat("local")
        a1.recv_env(type="chat", data="local")
        self.redis.start()
        self.wait_health(a, "ok", timeout=10)
        b = self.start_node("B")
        self.wait_clients(["a1"])      # B has read A's presence
        self.ws(b, "b1")
        a1.recv_env(type="user_joined", data={"user_id": "b1", "count": 2})
        self.wait_clients(["a1", "b1"])


class SharedPort(ClusterTestCase):

    def test_two_nodes_bind_the_same_port_and_both_serve(self):
        shared = free_port()
        nodes = [self.start_node(n, {"server": {"reuse_port": "on"}}, also_listen=shared)
                 for n in "AB"]
        ids = ["s%d" % i for i in range(16)]
        clients = [WS(shared, "/ws/" + cid) for cid in ids]
        for cl in clients:
            self.addCleanup(cl.close)
        self.wait_clients(ids, timeout=10)
        # the kernel spread the connections over both processes
        per_node = [self.metric(n, "fastws_connections") for n in nodes]
        self.assertEqual(sum(per_node), len(ids), per_node)
        self.assertTrue(all(n > 0 for n in per_node), per_node)
        # and they chat as one: everyone gets it once, wherever it landed
        clients[0].chat("one port")
        for cl in clients:   # after the user_joined of those that came later
            cl.recv_until("chat", data="one port", client_id="s0")
        time.sleep(0.3)
        for cl in clients:
            cl.expect_nothing(0.01)


if __name__ == "__main__":
    unittest.main()
