'use strict';
// Two and three pages talking through a real fastwsd: broadcast chat with sender and
// local time, private messages, and hostile text staying text.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./lib');

const TS_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/;

// HH:MM:SS of an envelope timestamp in an IANA time zone, computed here in node
// (independently of the page's code).
function localHms(ts, timeZone) {
  const d = new Date(ts.replace(/(\.\d{3})\d+/, '$1'));
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  }).formatToParts(d);
  const get = (t) => parts.find((p) => p.type === t).value;
  return `${get('hour')}:${get('minute')}:${get('second')}`;
}

describe('chat between pages', { timeout: 60000 }, () => {
  let daemon; let browser; let alice; let bob; let carol;
  // Two zones away from UTC (and from each other) so "local time" is really tested.
  const ZONES = { alice: 'Asia/Kolkata', bob: 'America/New_York' };

  before(async () => {
    daemon = await h.startDaemon();
    browser = await h.launchBrowser();
    alice = await h.openChat(browser, daemon, 'alice', { timezoneId: ZONES.alice });
    bob = await h.openChat(browser, daemon, 'bob', { timezoneId: ZONES.bob });
  });

  after(async () => {
    assert.deepEqual(await h.shutdown(browser, daemon), { code: 0, sig: null },
      'fastwsd exits 0 on SIGTERM');
  });

  test('a message appears on both pages with its sender and a local-time .time', async () => {
    await h.send(alice, 'Hello Bob, how is the new server?');
    await h.send(bob, 'Hi Alice! Fast, and it speaks JSON.');
    for (const [name, page] of [['alice', alice], ['bob', bob]]) {
      for (const [sender, text] of [['alice', 'Hello Bob, how is the new server?'],
        ['bob', 'Hi Alice! Fast, and it speaks JSON.']]) {
        const msg = await h.waitForMessage(page, 'chat', text);
        assert.equal((await msg.locator('.sender').textContent()).trim(), sender, `${name} sees the sender`);
        const time = msg.locator('time.time');
        const dt = await time.getAttribute('datetime');
        assert.match(dt, TS_RE, 'datetime is the envelope timestamp');
        assert.ok(Math.abs(Date.parse(dt.replace(/(\.\d{3})\d+/, '$1')) - Date.now()) < 60000,
          'timestamp is about now');
        const shown = (await time.textContent()).trim();
        assert.match(shown, /^\d\d:\d\d:\d\d$/);
        assert.equal(shown, localHms(dt, ZONES[name]), `${name} sees ${dt} in ${ZONES[name]} time`);
        const mine = await msg.evaluate((li) => li.classList.contains('mine'));
        assert.equal(mine, sender === name, 'own messages are marked .mine');
      }
      // order: alice's message first on both pages (one TCP stream per page, in order)
      const texts = await h.messageTexts(page, 'chat');
      assert.deepEqual(texts, ['Hello Bob, how is the new server?', 'Hi Alice! Fast, and it speaks JSON.']);
    }
    await h.send(alice, 'Great — see you in #lobby later');
    await h.waitForMessage(bob, 'chat', 'Great — see you in #lobby later');
    await h.waitForMessage(alice, 'chat', 'Great — see you in #lobby later');
    fs.mkdirSync(h.OUTPUT_DIR, { recursive: true });
    await alice.screenshot({ path: path.join(h.OUTPUT_DIR, 'conversation.png') });
    assert.deepEqual(alice.errors.concat(bob.errors), [], 'no script errors');
  });

  test('a private message reaches only its target', async () => {
    carol = await h.openChat(browser, daemon, 'carol');
    await h.waitForUsers(alice, ['alice', 'bob', 'carol']);
    // choose bob by clicking him in the users list (the page's own way), then send
    await alice.click('#users .user[data-id="bob"]');
    assert.equal(await alice.inputValue('#target'), 'user:bob');
    assert.equal(await alice.getAttribute('#users .user[data-id="bob"]', 'aria-pressed'), 'true');
    await alice.fill('#message', 'psst, only for bob');
    await alice.press('#message', 'Enter');

    const got = await h.waitForMessage(bob, 'private', 'psst, only for bob');
    assert.equal(await got.getAttribute('data-direction'), 'in');
    assert.equal((await got.locator('.sender').textContent()).trim(), 'alice');
    const own = await h.waitForMessage(alice, 'private', 'psst, only for bob');
    assert.equal(await own.getAttribute('data-direction'), 'out');
    assert.equal((await own.locator('.to').textContent()).trim(), 'to bob');

    // A later broadcast from alice reaches carol after anything alice sent her before.
    await h.send(alice, 'public again');
    await h.waitForMessage(carol, 'chat', 'public again');
    await h.waitForMessage(bob, 'chat', 'public again');
    await h.sleep(h.SETTLE_MS);
    assert.deepEqual(await h.messageTexts(carol, 'private'), [], 'carol gets no private message');
    assert.ok(!(await h.messageTexts(carol)).includes('psst, only for bob'), 'the text is nowhere on carol\'s page');
    assert.deepEqual(await h.messageTexts(alice, 'private'), ['psst, only for bob'], 'the server does not echo privates');
  });

  test('HTML in a message stays text', async () => {
    const evil = '<img src=x onerror=alert(1)>';
    const evil2 = '<script>alert(2)</script><b onmouseover=alert(3)>bold</b>';
    await h.send(alice, evil);
    await h.send(alice, evil2);
    await h.send(bob, evil, 'user:alice');
    for (const page of [alice, bob, carol]) {
      const m = await h.waitForMessage(page, 'chat', evil);
      assert.equal(await m.locator('.text').textContent(), evil);
      const m2 = await h.waitForMessage(page, 'chat', evil2);
      assert.equal(await m2.locator('.text').textContent(), evil2);
    }
    const p = await h.waitForMessage(alice, 'private', evil);
    assert.equal(await p.locator('.text').textContent(), evil);
    await h.sleep(500); // an injected <img src=x> would have failed to load and fired by now
    for (const page of [alice, bob, carol]) {
      assert.equal(await page.locator('#messages img, #messages script, #messages b').count(), 0,
        'no element was made from the text');
      assert.deepEqual(page.dialogs, [], 'no dialog opened');
      assert.deepEqual(page.errors, [], 'no script errors');
    }
  });
});
