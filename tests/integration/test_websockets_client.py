"""fastwsd against an independent client: Python's `websockets` library
(asyncio API; the sync client needs websockets >= 11). It offers
permessage-deflate by default, which fastwsd enables by default."""

import asyncio
import json
import unittest

import websockets

from harness import ws_recv_env as recv_env, ws_recv_type as recv_type, ServerTestCase, check_timestamp, TIMEOUT

STEP = TIMEOUT     # bound on every await






class WebsocketsClient(ServerTestCase):
    CONFIG = {"server": {"echo_path": "/echo"}, "websocket": {"max_message_size": "1000000"}}

    def url(self, path):
        return "ws://127.0.0.1:%d%s" % (self.port, path)

    def run_async(self, coro, timeout=20):
        asyncio.run(asyncio.wait_for(coro, timeout))

    def connect(self, path, **kw):
        kw.setdefault("open_timeout", STEP)
        kw.setdefault("close_timeout", STEP)
        kw.setdefault("ping_interval", None)
        kw.setdefault("max_size", 2 ** 24)
        return websockets.connect(self.url(path), **kw)

    def test_chat_between_two_clients(self):
        async def main():
            async with self.connect("/ws/alice") as alice:
                async with self.connect("/ws/bob") as bob:
                    await recv_env(alice, type="user_joined", client_id=None,
                                   data={"user_id": "bob", "count": 2})
                    await alice.send(json.dumps({"type": "chat", "data": {"text": "hello bob"}}))
                    for ws in (alice, bob):
                        env = await recv_env(ws, type="chat", client_id="alice",
                                             data={"text": "hello bob"})
                        self.assertTrue(env.raw.startswith(
                            '{"type":"chat","data":{"text":"hello bob"},"client_id":"alice",'
                            '"timestamp":"'), env.raw)
                    await bob.send(json.dumps({"type": "private", "recipient_id": "alice",
                                               "data": {"text": "psst"}}))
                    await recv_env(alice, type="private", client_id="bob", data={"text": "psst"})
                    await bob.close()
                    self.assertEqual(bob.close_code, 1000)
                await recv_env(alice, type="user_left", client_id=None,
                               data={"user_id": "bob", "count": 1})
                await alice.close()
                self.assertEqual(alice.close_code, 1000)
        self.run_async(main())

    def test_app_ping_and_protocol_ping(self):
        async def main():
            async with self.connect("/ws/pinger") as ws:
                await ws.send('{"type":"ping"}')
                env = await recv_env(ws, type="pong", client_id="pinger")
                check_timestamp(env.data["timestamp"])
                waiter = await ws.ping(b"are you there")
                await asyncio.wait_for(waiter, STEP)
                await ws.close()
                self.assertEqual(ws.close_code, 1000)
        self.run_async(main())

    def test_error_then_chat(self):
        async def main():
            async with self.connect("/ws/erring") as ws:
                await ws.send("{nope")
                env = await recv_env(ws, type="error", client_id=None)
                self.assertEqual(env.data["code"], "invalid_json")
                await ws.send('{"type":"chat","data":1}')
                await recv_env(ws, type="chat", client_id="erring", data=1)
        self.run_async(main())

    def test_binary_closes_1003(self):
        async def main():
            async with self.connect("/ws/binary") as ws:
                await ws.send(b"\x00\x01")
                with self.assertRaises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), STEP)
                self.assertEqual(ws.close_code, 1003)
        self.run_async(main())

    def test_deflate_negotiated_and_large_messages(self):
        async def main():
            async with self.connect("/ws/big-a") as a, self.connect("/ws/big-b") as b:
                ext = a.response_headers.get("Sec-WebSocket-Extensions", "")
                self.assertIn("permessage-deflate", ext)
                self.assertIn("server_no_context_takeover", ext)
                self.assertIn("client_no_context_takeover", ext)
                await recv_env(a, type="user_joined", data={"user_id": "big-b", "count": 2})
                for n in (10, 200, 5000, 300000):
                    text = ("compress me %d " % n) * (n // 12 + 1)
                    await a.send(json.dumps({"type": "chat", "data": text}))
                    for ws in (a, b):
                        env = await recv_type(ws, "chat", client_id="big-a")
                        self.assertEqual(env.data, text)
        self.run_async(main())

    def test_without_compression(self):
        async def main():
            async with self.connect("/ws/plain", compression=None) as ws:
                self.assertIsNone(ws.response_headers.get("Sec-WebSocket-Extensions"))
                await ws.send('{"type":"chat","data":"plain"}')
                await recv_env(ws, type="chat", data="plain")
        self.run_async(main())

    def test_echo_path(self):
        async def main():
            for comp in ("deflate", None):
                async with self.connect("/echo", compression=comp) as ws:
                    for n in (0, 125, 126, 65535, 65536, 500000):
                        msg = "e" * n
                        await ws.send(msg)
                        self.assertEqual(await asyncio.wait_for(ws.recv(), STEP), msg)
                        data = bytes(i % 251 for i in range(n))
                        await ws.send(data)
                        self.assertEqual(await asyncio.wait_for(ws.recv(), STEP), data)
        self.run_async(main())

    def test_duplicate_replaced(self):
        async def main():
            async with self.connect("/ws/dup") as old:
                async with self.connect("/ws/dup") as new:
                    with self.assertRaises(websockets.ConnectionClosed):
                        while True:
                            await asyncio.wait_for(old.recv(), STEP)
                    self.assertEqual(old.close_code, 4001)
                    self.assertEqual(old.close_reason, "replaced")
                    await new.send('{"type":"chat","data":"new"}')
                    await recv_type(new, "chat", data="new", client_id="dup")
        self.run_async(main())


if __name__ == "__main__":
    unittest.main()
