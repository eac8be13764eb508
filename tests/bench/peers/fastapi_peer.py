"""The FastAPI original's design, as a peer for tests/bench.

A ConnectionManager holds a dict client_id -> WebSocket; a broadcast loops
over it and awaits send_text per client, encoding the envelope with
json.dumps for each recipient, as the original did. Timestamps come from
datetime.now(timezone.utc).isoformat(timespec='microseconds').

It speaks the protocol of PROTOCOL.md that the benchmarks use: chat,
private, ping, join/leave/room, user_joined/user_left, errors, envelope keys
in the order type, data, client_id[, room], timestamp.

    python3 fastapi_peer.py --port 8001 [--heartbeat 30] [--echo-path /echo]

Debian's python3-fastapi and python3-uvicorn (run with /usr/bin/python3).
"""
import argparse
import json
import re
from datetime import datetime, timezone

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")

app = FastAPI()


def now_ts():
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def envelope(type_, data, client_id, room=None, ts=None):
    msg = {"type": type_, "data": data, "client_id": client_id}
    if room is not None:
        msg["room"] = room
    msg["timestamp"] = ts or now_ts()
    return msg


class ConnectionManager:
    def __init__(self):
        self.active_connections: dict[str, WebSocket] = {}
        self.rooms: dict[str, set[str]] = {}

    async def connect(self, client_id: str, websocket: WebSocket):
        await websocket.accept()
        old = self.active_connections.get(client_id)
        self.active_connections[client_id] = websocket
        if old is not None:
            try:
                await old.close(code=4001, reason="replaced")
            except Exception:
                pass
            return False
        return True

    def disconnect(self, client_id: str, websocket: WebSocket):
        if self.active_connections.get(client_id) is websocket:
            del self.active_connections[client_id]
            return True
        return False

    async def send_personal_message(self, message: dict, client_id: str):
        websocket = self.active_connections.get(client_id)
        if websocket is None:
            return False
        try:
            await websocket.send_text(json.dumps(message))
        except Exception:
            pass
        return True

    async def broadcast(self, message: dict, exclude: str = None):
        for client_id, connection in list(self.active_connections.items()):
            if client_id == exclude:
                continue
            try:
                await connection.send_text(json.dumps(message))
            except Exception:
                pass

    async def send_to_room(self, room: str, message: dict):
        for client_id in list(self.rooms.get(room, ())):
            await self.send_personal_message(message, client_id)


manager = ConnectionManager()


def error(code, text):
    return envelope("error", {"code": code, "error": text}, None)


async def leave_room(client_id, room):
    members = manager.rooms.get(room)
    if not members or client_id not in members:
        return False
    members.discard(client_id)
    data = {"room": room, "user_id": client_id, "count": len(members)}
    msg = envelope("room_left", data, None, room)
    for member in list(members):
        await manager.send_personal_message(msg, member)
    await manager.send_personal_message(msg, client_id)
    if not members:
        del manager.rooms[room]
    return True


async def handle(client_id: str, raw: str):
    try:
        message = json.loads(raw)
    except ValueError:
        await manager.send_personal_message(error("invalid_json", "Invalid JSON"), client_id)
        return
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        await manager.send_personal_message(
            error("invalid_message", "type missing or not a string"), client_id)
        return
    kind = message["type"]
    data = message.get("data")
    ts = now_ts()
    if kind == "chat":
        await manager.broadcast(envelope("chat", data, client_id, ts=ts))
    elif kind == "private":
        recipient = message.get("recipient_id")
        if recipient is None and isinstance(data, dict):
            recipient = data.get("recipient_id")
        if not isinstance(recipient, str) or not ID_RE.match(recipient):
            await manager.send_personal_message(
                error("invalid_message", "recipient_id missing or invalid"), client_id)
        elif not await manager.send_personal_message(
                envelope("private", data, client_id, ts=ts), recipient):
            await manager.send_personal_message(
                error("unknown_recipient", "Recipient not connected"), client_id)
    elif kind == "ping":
        await manager.send_personal_message(
            envelope("pong", {"timestamp": ts}, client_id, ts=ts), client_id)
    elif kind in ("join", "leave", "room"):
        room = message.get("room")
        if not isinstance(room, str) or not ID_RE.match(room):
            await manager.send_personal_message(
                error("invalid_message", "room missing or invalid"), client_id)
        elif kind == "join":
            members = manager.rooms.setdefault(room, set())
            if client_id in members:
                data = {"room": room, "user_id": client_id, "count": len(members)}
                await manager.send_personal_message(
                    envelope("room_joined", data, None, room, ts), client_id)
                return
            members.add(client_id)
            data = {"room": room, "user_id": client_id, "count": len(members)}
            await manager.send_to_room(room, envelope("room_joined", data, None, room, ts))
        elif kind == "leave":
            if not await leave_room(client_id, room):
                await manager.send_personal_message(
                    error("not_in_room", "Not in room"), client_id)
        else:
            if client_id not in manager.rooms.get(room, ()):
                await manager.send_personal_message(
                    error("not_in_room", "Not in room"), client_id)
            else:
                await manager.send_to_room(room, envelope("room", data, client_id, room, ts))
    else:
        await manager.send_personal_message(
            error("unknown_type", f"Unknown message type: {kind}"), client_id)


@app.get("/")
async def root():
    return {"message": "WebSocket server is running"}


@app.get("/clients")
async def clients():
    ids = list(manager.active_connections)
    return {"count": len(ids), "clients": ids}


@app.websocket("/ws/{client_id}")
async def websocket_endpoint(websocket: WebSocket, client_id: str):
    if not ID_RE.match(client_id):
        await websocket.close(code=1008)
        return
    fresh = await manager.connect(client_id, websocket)
    if fresh:
        await manager.broadcast(
            envelope("user_joined",
                     {"user_id": client_id, "count": len(manager.active_connections)}, None),
            exclude=client_id)
    try:
        while True:
            raw = await websocket.receive_text()
            await handle(client_id, raw)
    except WebSocketDisconnect:
        pass
    except Exception:
        pass
    if manager.disconnect(client_id, websocket):
        for room in [r for r, m in manager.rooms.items() if client_id in m]:
            await leave_room(client_id, room)
        await manager.broadcast(
            envelope("user_left",
                     {"user_id": client_id, "count": len(manager.active_connections)}, None))


async def echo_endpoint(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except Exception:
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--heartbeat", type=float, default=30,
                    help="seconds between protocol pings, 0 = off")
    ap.add_argument("--echo-path", default="")
    args = ap.parse_args()
    if args.echo_path:
        app.add_api_websocket_route(args.echo_path, echo_endpoint)
    hb = args.heartbeat if args.heartbeat > 0 else None
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                access_log=False, ws_ping_interval=hb, ws_ping_timeout=hb,
                ws_per_message_deflate=False, backlog=4096)


if __name__ == "__main__":
    main()
