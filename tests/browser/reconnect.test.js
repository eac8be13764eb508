'use strict';
// The page reconnects by itself after the daemon restarts on the same port.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./lib');

const BACK_ONLINE_MS = 20000;   // backoff 0.5 s, 1 s, 2 s, 4 s (+-30 %) while the daemon is down

describe('reconnect', { timeout: 60000 }, () => {
  let daemon; let browser;

  before(async () => {
    daemon = await h.startDaemon();
    browser = await h.launchBrowser();
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (daemon) {
      await daemon.stop();
      daemon.cleanup();
    }
  });

  test('after a daemon restart the page comes back online and chat works', async () => {
    const alice = await h.openChat(browser, daemon, 'alice');
    const bob = await h.openChat(browser, daemon, 'bob');
    await h.send(alice, 'before the restart');
    await h.waitForMessage(bob, 'chat', 'before the restart');

    const res = await daemon.stop();
    assert.deepEqual(res, { code: 0, sig: null }, 'fastwsd exits 0 on SIGTERM');
    for (const p of [alice, bob]) {
      await p.waitForFunction(() => document.getElementById('status').dataset.state === 'reconnecting');
      assert.match(await p.textContent('#status'), /^offline, reconnecting in \d+s$/);
      assert.match(await p.textContent('#notice'), /1001/, 'the notice names the close code');
      assert.ok(await p.isDisabled('#send'), 'cannot send while offline');
    }

    await h.sleep(300);
    await daemon.start();     // same port, same config
    for (const p of [alice, bob]) await h.waitOnline(p, BACK_ONLINE_MS);
    for (const p of [alice, bob]) await h.waitForUsers(p, ['alice', 'bob']);

    await h.send(bob, 'after the restart');
    await h.send(alice, 'me too');
    for (const p of [alice, bob]) {
      await h.waitForMessage(p, 'chat', 'after the restart');
      await h.waitForMessage(p, 'chat', 'me too');
    }
    assert.deepEqual(alice.errors.concat(bob.errors), [], 'no script errors');
  });
});
