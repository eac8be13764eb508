'use strict';
// Phone width: 360x740 must not scroll sideways, even with long ids and long words.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const h = require('./lib');

const PHONE = { width: 360, height: 740 };

async function scrollWidth(page) {
  return page.evaluate(() => document.scrollingElement.scrollWidth);
}

describe('layout', { timeout: 60000 }, () => {
  let daemon; let browser;

  before(async () => {
    daemon = await h.startDaemon();
    browser = await h.launchBrowser();
  });

  after(async () => {
    assert.deepEqual(await h.shutdown(browser, daemon), { code: 0, sig: null },
      'fastwsd exits 0 on SIGTERM');
  });

  test('no horizontal scroll at 360x740', async () => {
    const long = 'L'.repeat(64);   // the longest valid id
    const page = await h.openChat(browser, daemon, 'phone', { viewport: PHONE, connect: false });
    assert.ok(await scrollWidth(page) <= PHONE.width, `offline page: scrollWidth ${await scrollWidth(page)}`);
    await h.connect(page, 'phone');
    assert.ok(await scrollWidth(page) <= PHONE.width, `online page: scrollWidth ${await scrollWidth(page)}`);

    const other = await h.openChat(browser, daemon, long);
    await h.waitForUsers(page, ['phone', long]);
    await page.fill('#room-name', 'R'.repeat(64));
    await page.click('#join-room');
    await page.locator('#rooms li.room').waitFor();
    await h.send(other, 'x'.repeat(300));
    await h.send(other, 'https://example.invalid/' + 'a/'.repeat(80));
    await h.send(page, 'y'.repeat(200), `user:${long}`);
    await h.send(page, 'z'.repeat(200), `room:${'R'.repeat(64)}`);
    await h.waitForMessage(page, 'room', 'z'.repeat(200));
    await page.click('#ping');
    await page.waitForFunction(() => /ms$/.test(document.getElementById('rtt').textContent));
    const sw = await scrollWidth(page);
    assert.ok(sw <= PHONE.width, `with long content: scrollWidth ${sw} > ${PHONE.width}`);
    // nothing sticks out of the viewport either (overflow hidden somewhere would hide it)
    const wide = await page.evaluate((w) => Array.from(document.querySelectorAll('body *'))
      .filter((e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right > w + 0.5; })
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}.${e.className}`), PHONE.width);
    assert.deepEqual(wide, [], 'elements wider than the viewport');
    await page.screenshot({ path: path.join(h.OUTPUT_DIR, 'phone.png'), fullPage: true });
    // the offline layout after Disconnect fits too
    await page.click('#disconnect');
    assert.ok(await scrollWidth(page) <= PHONE.width);
    assert.deepEqual(page.errors, [], 'no script errors');
  });
});
