'use strict';
// Node.js peer for tests/bench, on the npm `ws` package: the protocol of
// PROTOCOL.md that the benchmarks use (chat, private, ping, join/leave/room,
// user_joined/user_left, errors), envelope keys in the order type, data,
// client_id[, room], timestamp, microsecond UTC timestamps. A broadcast
// encodes its envelope once (one Buffer for every recipient); no
// compression (perMessageDeflate: false).
//
//   node node_ws_peer.js --port 8002 [--heartbeat 30] [--echo-path /echo]

const http = require('http');
const { performance } = require('perf_hooks');
const { WebSocketServer } = require('ws');

const args = { host: '127.0.0.1', port: 8002, heartbeat: 30, echoPath: '' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i], v = process.argv[i + 1];
  if (k === '--host') args.host = v;
  else if (k === '--port') args.port = Number(v);
  else if (k === '--heartbeat') args.heartbeat = Number(v);
  else if (k === '--echo-path') args.echoPath = v;
  else { console.error(`unknown option ${k}`); process.exit(2); }
}

const ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const clients = new Map(); // id -> ws
const rooms = new Map();   // room -> Set(id)

function nowTs() {
  const t = performance.timeOrigin + performance.now();
  const ms = Math.floor(t);
  const us = Math.min(999, Math.floor((t - ms) * 1000));
  return new Date(ms).toISOString().slice(0, 23) + String(us).padStart(3, '0') + '+00:00';
}

function envelope(type, data, clientId, room, ts) {
  const m = { type, data: data === undefined ? null : data, client_id: clientId };
  if (room !== undefined && room !== null) m.room = room;
  m.timestamp = ts || nowTs();
  return Buffer.from(JSON.stringify(m));
}

function sendTo(id, buf) {
  const ws = clients.get(id);
  if (!ws) return false;
  ws.send(buf, { binary: false });
  return true;
}

function broadcast(buf, exclude) {
  for (const [id, ws] of clients) if (id !== exclude) ws.send(buf, { binary: false });
}

function toRoom(room, buf) {
  for (const id of rooms.get(room) || []) sendTo(id, buf);
}

function error(id, code, text) {
  sendTo(id, envelope('error', { code, error: text }, null));
}

function leaveRoom(id, room) {
  const members = rooms.get(room);
  if (!members || !members.has(id)) return false;
  members.delete(id);
  const buf = envelope('room_left', { room, user_id: id, count: members.size }, null, room);
  for (const m of members) sendTo(m, buf);
  sendTo(id, buf);
  if (!members.size) rooms.delete(room);
  return true;
}

function onMessage(id, raw, isBinary) {
  if (isBinary) return;
  let msg;
  try { msg = JSON.parse(raw.toString('utf8')); } catch (e) { return error(id, 'invalid_json', 'Invalid JSON'); }
  if (!msg || typeof msg !== 'object' || Array.isArray(msg) || typeof msg.type !== 'string')
    return error(id, 'invalid_message', 'type missing or not a string');
  const ts = nowTs();
  const data = msg.data;
  switch (msg.type) {
    case 'chat':
      return broadcast(envelope('chat', data, id, null, ts));
    case 'private': {
      let to = msg.recipient_id;
      if (to === undefined && data && typeof data === 'object') to = data.recipient_id;
      if (typeof to !== 'string' || !ID_RE.test(to)) return error(id, 'invalid_message', 'recipient_id missing or invalid');
      if (!sendTo(to, envelope('private', data, id, null, ts))) error(id, 'unknown_recipient', 'Recipient not connected');
      return;
    }
    case 'ping':
      return sendTo(id, envelope('pong', { timestamp: ts }, id, null, ts));
    case 'join': case 'leave': case 'room': {
      const room = msg.room;
      if (typeof room !== 'string' || !ID_RE.test(room)) return error(id, 'invalid_message', 'room missing or invalid');
      if (msg.type === 'join') {
        let members = rooms.get(room);
        if (!members) rooms.set(room, (members = new Set()));
        const already = members.has(id);
        members.add(id);
        const buf = envelope('room_joined', { room, user_id: id, count: members.size }, null, room, ts);
        if (already) sendTo(id, buf); else toRoom(room, buf);
      } else if (msg.type === 'leave') {
        if (!leaveRoom(id, room)) error(id, 'not_in_room', 'Not in room');
      } else {
        const members = rooms.get(room);
        if (!members || !members.has(id)) return error(id, 'not_in_room', 'Not in room');
        toRoom(room, envelope('room', data, id, room, ts));
      }
      return;
    }
    default:
      return error(id, 'unknown_type', `Unknown message type: ${msg.type}`);
  }
}

const server = http.createServer((req, res) => {
  const body = req.url === '/' ? '{"message":"WebSocket server is running"}' : '{"detail":"Not Found"}';
  res.writeHead(req.url === '/' ? 200 : 404, { 'Content-Type': 'application/json' });
  res.end(body);
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 65536, clientTracking: true });

server.on('upgrade', (req, socket, head) => {
  const path = req.url.split('?')[0];
  const m = /^\/ws\/(.+)$/.exec(path);
  let id = null;
  if (m) { try { id = decodeURIComponent(m[1]); } catch (e) { id = null; } }
  const echo = args.echoPath && path === args.echoPath;
  if (!echo && (!id || !ID_RE.test(id))) {
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.isAlive = true;
    ws.on('pong', () => { ws.isAlive = true; });
    if (echo) {
      ws.on('message', (raw, isBinary) => ws.send(raw, { binary: isBinary }));
      return;
    }
    const old = clients.get(id);
    clients.set(id, ws);
    if (old) old.close(4001, 'replaced');
    else broadcast(envelope('user_joined', { user_id: id, count: clients.size }, null), id);
    ws.on('message', (raw, isBinary) => onMessage(id, raw, isBinary));
    ws.on('close', () => {
      if (clients.get(id) !== ws) return;
      clients.delete(id);
      for (const [room, members] of rooms) if (members.has(id)) leaveRoom(id, room);
      broadcast(envelope('user_left', { user_id: id, count: clients.size }, null));
    });
    ws.on('error', () => {});
  });
});

if (args.heartbeat > 0) {
  setInterval(() => {
    for (const ws of wss.clients) {
      if (!ws.isAlive) { ws.terminate(); continue; }
      ws.isAlive = false;
      ws.ping();
    }
  }, args.heartbeat * 1000);
}

server.listen({ host: args.host, port: args.port, backlog: 4096 });
