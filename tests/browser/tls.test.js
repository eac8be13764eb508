'use strict';
// The page over https: it must open its WebSocket as wss:// to its own host
// (never ws:// or a hard-coded address), and chat works end to end over TLS.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./lib');

describe('the chat page over https/wss', { timeout: 60000 }, () => {
  let daemon; let browser; let alice; let bob;
  const sockets = [];

  before(async () => {
    daemon = await h.startDaemon({ tls: true });
    browser = await h.launchBrowser();
    alice = await h.openChat(browser, daemon, 'alice', { connect: false });
    alice.on('websocket', (ws) => sockets.push(ws.url()));
    await h.connect(alice, 'alice');
    bob = await h.openChat(browser, daemon, 'bob');
  });

  after(async () => {
    assert.deepEqual(await h.shutdown(browser, daemon), { code: 0, sig: null },
      'fastwsd exits 0 on SIGTERM');
  });

  test('the page was served over https and connected with wss:// to its own host', async () => {
    assert.ok(alice.url().startsWith(`https://127.0.0.1:${daemon.port}/static/`), alice.url());
    assert.deepEqual(sockets, [`wss://127.0.0.1:${daemon.port}/ws/alice`]);
  });

  test('two pages chat over TLS', async () => {
    await h.send(alice, 'hello over TLS');
    await h.waitForMessage(bob, 'chat', 'hello over TLS');
    await h.waitForMessage(alice, 'chat', 'hello over TLS');
  });
});
