'use strict';
// The users list (#users .user[data-id]) and #user-count follow joins and leaves.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./lib');

describe('users list', { timeout: 60000 }, () => {
  let daemon; let browser;

  before(async () => {
    daemon = await h.startDaemon();
    browser = await h.launchBrowser();
  });

  after(async () => {
    assert.deepEqual(await h.shutdown(browser, daemon), { code: 0, sig: null },
      'fastwsd exits 0 on SIGTERM');
  });

  test('updates on join and on leave (page closed)', async () => {
    const alice = await h.openChat(browser, daemon, 'alice');
    await h.waitForUsers(alice, ['alice']);
    assert.equal(await alice.getAttribute('#users .user[data-id="alice"]', 'disabled'), '', 'own entry is disabled');
    assert.ok(await alice.locator('#users .user.self[data-id="alice"]').count() === 1, 'own entry is .self');

    const bob = await h.openChat(browser, daemon, 'bob');
    await h.waitForUsers(alice, ['alice', 'bob']);
    await h.waitForUsers(bob, ['alice', 'bob']);          // the newcomer's snapshot lists the others

    const carol = await h.openChat(browser, daemon, 'carol');
    for (const p of [alice, bob, carol]) await h.waitForUsers(p, ['alice', 'bob', 'carol']);
    await h.waitForMessage(alice, 'system', 'carol joined (3 online)');

    // closing the page (tab) drops its WebSocket: everyone else sees carol leave
    await carol.context().close();
    for (const p of [alice, bob]) await h.waitForUsers(p, ['alice', 'bob']);
    const left = await h.waitForMessage(bob, 'system', 'carol left (2 online)');
    assert.equal(await left.getAttribute('data-type'), 'user_left');

    // and a leave by the Disconnect button
    await bob.click('#disconnect');
    await h.waitForUsers(alice, ['alice']);
    await bob.waitForFunction(() => document.getElementById('status').dataset.state === 'offline');
    assert.deepEqual(await h.userIds(bob), [], 'an offline page lists nobody');
    assert.equal(await h.userCount(bob), '0');

    // a private target that left stays selected, marked offline (never silently public)
    await bob.click('#connect');
    await h.waitOnline(bob);
    await h.waitForUsers(alice, ['alice', 'bob']);
    await alice.click('#users .user[data-id="bob"]');
    await bob.context().close();
    await h.waitForUsers(alice, ['alice']);
    assert.equal(await alice.inputValue('#target'), 'user:bob');
    assert.match(await alice.locator('#target option:checked').textContent(), /bob \(offline\)/);
    for (const p of [alice]) assert.deepEqual(p.errors, [], 'no script errors');
  });
});
