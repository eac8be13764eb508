'use strict';
// Rooms: joining from the page, room messages reach members only.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./lib');

async function joinRoom(page, room, expectCount) {
  await page.fill('#room-name', room);
  await page.click('#join-room');
  const li = page.locator(`#rooms li.room[data-room="${room}"]`);
  await li.waitFor();
  if (expectCount !== undefined) {
    await page.waitForFunction(([r, n]) => {
      const c = document.querySelector(`#rooms li.room[data-room="${r}"] .room-count`);
      return c && c.textContent.trim() === String(n);
    }, [room, expectCount]);
  }
  return li;
}

describe('rooms', { timeout: 60000 }, () => {
  let daemon; let browser; let alice; let bob; let carol;

  before(async () => {
    daemon = await h.startDaemon();
    browser = await h.launchBrowser();
    alice = await h.openChat(browser, daemon, 'alice');
    bob = await h.openChat(browser, daemon, 'bob');
    carol = await h.openChat(browser, daemon, 'carol');
  });

  after(async () => {
    assert.deepEqual(await h.shutdown(browser, daemon), { code: 0, sig: null },
      'fastwsd exits 0 on SIGTERM');
  });

  test('a room message reaches members, not non-members', async () => {
    await joinRoom(alice, 'lobby', 1);
    await joinRoom(bob, 'lobby', 2);
    await alice.waitForFunction(() =>
      document.querySelector('#rooms li.room[data-room="lobby"] .room-count').textContent.trim() === '2');
    assert.equal(await alice.inputValue('#room-name'), '', 'the field is cleared after joining');

    await h.send(alice, 'members only', 'room:lobby');
    for (const p of [alice, bob]) {
      const m = await h.waitForMessage(p, 'room', 'members only');
      assert.equal(await m.getAttribute('data-room'), 'lobby');
      assert.equal((await m.locator('.room').textContent()).trim(), '#lobby');
      assert.equal((await m.locator('.sender').textContent()).trim(), 'alice');
    }
    // barrier: a later broadcast from alice reaches carol after anything sent before it
    await h.send(alice, 'after the room message');
    await h.waitForMessage(carol, 'chat', 'after the room message');
    await h.sleep(h.SETTLE_MS);
    assert.deepEqual(await h.messageTexts(carol, 'room'), [], 'carol (not a member) gets no room message');
    assert.equal(await carol.locator('#messages li.msg[data-room="lobby"]').count(), 0,
      'nor the room\'s join events');
    assert.equal(await carol.locator('#rooms li.room').count(), 0);
  });

  test('after leaving, a member gets no more room messages', async () => {
    await bob.click('#rooms li.room[data-room="lobby"] button.leave');
    await bob.locator('#rooms li.room[data-room="lobby"]').waitFor({ state: 'detached' });
    await alice.waitForFunction(() =>
      document.querySelector('#rooms li.room[data-room="lobby"] .room-count').textContent.trim() === '1');
    await h.send(alice, 'bob has gone', 'room:lobby');
    await h.waitForMessage(alice, 'room', 'bob has gone');
    await h.send(alice, 'barrier for bob');
    await h.waitForMessage(bob, 'chat', 'barrier for bob');
    await h.sleep(h.SETTLE_MS);
    assert.deepEqual(await h.messageTexts(bob, 'room'), ['members only']);
    for (const p of [alice, bob, carol]) assert.deepEqual(p.errors, [], 'no script errors');
  });

  test('an invalid room name is refused on the page', async () => {
    await carol.fill('#room-name', 'no spaces');
    await carol.click('#join-room');
    assert.match(await carol.textContent('#room-error'), /space/);
    assert.equal(await carol.getAttribute('#room-name', 'aria-invalid'), 'true');
    assert.equal(await carol.locator('#rooms li.room').count(), 0);
  });
});
