'use strict';
// Shared helpers for the browser tests: start/stop a real fastwsd on a free
// loopback port, launch Debian's Chromium through playwright-core (never a
// downloaded browser), open chat pages and wait for things with bounded timeouts.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const REPO = path.resolve(__dirname, '..', '..');
const OUTPUT_DIR = path.join(__dirname, 'output');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic',
];
const START_TIMEOUT_MS = 5000;      // the daemon must accept connections within this
const STOP_TIMEOUT_MS = 5000;       // and exit within this after SIGTERM
const UI_TIMEOUT_MS = 8000;         // any single wait on the page
// A test that must show that something did NOT arrive waits this long after a
// later message from the same sender did arrive (per-sender order, PROTOCOL.md 3).
const SETTLE_MS = 300;

function fastwsdPath() {
  const build = process.env.BUILD || 'build';
  const p = process.env.FASTWSD || path.join(build, 'fastwsd');
  return path.isAbsolute(p) ? p : path.join(REPO, p);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => { s.destroy(); resolve(ok); };
    s.setTimeout(500, () => done(false));
    s.on('connect', () => done(true));
    s.on('error', () => done(false));
  });
}

// One fastwsd process on 127.0.0.1:port with a temp config; start() may be called
// again after stop() to restart on the same port.
class Daemon {
  // opts.tls: serve https/wss with a throwaway self-signed certificate.
  constructor(port, opts = {}) {
    this.port = port;
    this.tls = !!opts.tls;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastwsd-browser-'));
    this.conf = path.join(this.dir, 'fastws.conf');
    this.logPath = path.join(this.dir, 'fastwsd.log');
    const lines = [
      '[server]',
      `listen = 127.0.0.1:${port}`,
      `static_dir = ${process.env.STATIC_DIR || path.join(REPO, 'static')}`,
      'log_level = info',
      'shutdown_timeout = 2',
    ];
    if (this.tls) {
      const cert = path.join(this.dir, 'cert.pem');
      const key = path.join(this.dir, 'key.pem');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
        '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert],
      { stdio: 'ignore' });
      lines.push('[tls]', `cert = ${cert}`, `key = ${key}`);
    }
    fs.writeFileSync(this.conf, lines.concat(['']).join('\n'));
    this.proc = null;
    this.exit = null;
  }

  get base() { return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`; }

  log() {
    try { return fs.readFileSync(this.logPath, 'utf8'); } catch (e) { return ''; }
  }

  async start() {
    const bin = fastwsdPath();
    if (!fs.existsSync(bin)) throw new Error(`fastwsd binary not found: ${bin} (run make, or set BUILD)`);
    const fd = fs.openSync(this.logPath, 'a');
    const proc = spawn(bin, ['-c', this.conf], { cwd: this.dir, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    this.proc = proc;
    this.exit = new Promise((resolve) => proc.on('exit', (code, sig) => resolve({ code, sig })));
    let exited = null;
    this.exit.then((e) => { exited = e; });
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exited) throw new Error(`fastwsd exited during start-up (${JSON.stringify(exited)})\n${this.log()}`);
      if (await canConnect(this.port)) return this;
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`fastwsd did not accept on port ${this.port} within ${START_TIMEOUT_MS} ms\n${this.log()}`);
      }
      await sleep(25);
    }
  }

  // SIGTERM, bounded wait (SIGKILL after); resolves to {code, sig}.
  async stop() {
    const proc = this.proc;
    if (!proc) return null;
    this.proc = null;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    let timer;
    const res = await Promise.race([
      this.exit,
      new Promise((r) => { timer = setTimeout(() => r(null), STOP_TIMEOUT_MS); }),
    ]);
    clearTimeout(timer);
    if (res === null) {
      proc.kill('SIGKILL');
      await this.exit;
      throw new Error(`fastwsd did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM\n${this.log()}`);
    }
    return res;
  }

  cleanup() {
    if (this.proc) { try { this.proc.kill('SIGKILL'); } catch (e) { /* gone */ } }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

async function startDaemon(opts = {}) {
  const d = new Daemon(await freePort(), opts);
  try {
    await d.start();
  } catch (e) {
    d.cleanup();
    throw e;
  }
  return d;
}

async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium (make deps)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30000 });
}

// Opens the chat page in its own browser context, records dialogs and page
// errors, connects as `id` and waits until the page says "online".
async function openChat(browser, daemon, id, opts = {}) {
  const context = await browser.newContext({
    viewport: opts.viewport || { width: 1100, height: 700 },
    timezoneId: opts.timezoneId,
    locale: 'en-US',
    colorScheme: 'light',
    ignoreHTTPSErrors: daemon.tls, // the throwaway certificate of a TLS daemon
  });
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  page.dialogs = [];
  page.errors = [];
  page.on('dialog', (d) => { page.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  await page.goto(`${daemon.base}/static/?id=${encodeURIComponent(id)}`);
  if (opts.connect !== false) await connect(page, id);
  return page;
}

async function connect(page, id) {
  await page.fill('#client-id', id);
  await page.click('#connect');
  await waitOnline(page);
  // the user list snapshot (GET /clients) has arrived once our own id is listed
  await page.locator(`#users .user[data-id="${id}"]`).waitFor();
}

async function waitOnline(page, timeout = UI_TIMEOUT_MS) {
  await page.waitForFunction(() => {
    const s = document.getElementById('status');
    return s.dataset.state === 'online' && s.textContent.trim() === 'online';
  }, null, { timeout });
}

// Types `text` into #message with #target set to `target` ("" | "user:ID" | "room:NAME"), sends.
async function send(page, text, target = '') {
  await page.selectOption('#target', target);
  await page.fill('#message', text);
  await page.click('#send');
}

// Waits for a li.msg of `kind` whose .text equals `text`; returns a locator for it.
async function waitForMessage(page, kind, text, timeout = UI_TIMEOUT_MS) {
  const loc = page.locator(`#messages li.msg[data-kind="${kind}"]`).filter({
    has: page.locator('.text', { hasText: exactText(text) }),
  });
  await loc.first().waitFor({ timeout });
  return loc.first();
}

function exactText(s) {
  return new RegExp(`^${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
}

// Texts of every message of `kind` on the page.
async function messageTexts(page, kind) {
  return page.$$eval(`#messages li.msg${kind ? `[data-kind="${kind}"]` : ''} .text`,
    (els) => els.map((e) => e.textContent));
}

async function userIds(page) {
  return page.$$eval('#users .user[data-id]', (els) => els.map((e) => e.dataset.id).sort());
}

async function userCount(page) {
  return (await page.textContent('#user-count')).trim();
}

// Waits until the page lists exactly `ids` (any order) and #user-count says ids.length.
async function waitForUsers(page, ids, timeout = UI_TIMEOUT_MS) {
  const want = [...ids].sort();
  try {
    await page.waitForFunction((w) => {
      const got = Array.from(document.querySelectorAll('#users .user[data-id]')).map((e) => e.dataset.id).sort();
      return JSON.stringify(got) === JSON.stringify(w) &&
        document.getElementById('user-count').textContent.trim() === String(w.length);
    }, want, { timeout });
  } catch (e) {
    throw new Error(`users list never became ${JSON.stringify(want)}: have ${JSON.stringify(await userIds(page))}` +
      ` count ${await userCount(page)}`);
  }
}

// Closes the browser and stops the daemon with SIGTERM; returns its
// { code, sig } (null when it never started) for the caller to check.
async function shutdown(browser, daemon) {
  if (browser) await browser.close().catch(() => {});
  if (!daemon) return { code: 0, sig: null };
  const res = await daemon.stop();
  daemon.cleanup();
  return res;
}

module.exports = {
  shutdown,
  REPO, OUTPUT_DIR, SETTLE_MS, UI_TIMEOUT_MS, Daemon, startDaemon, launchBrowser, openChat, connect,
  waitOnline, send, waitForMessage, messageTexts, userIds, userCount, waitForUsers, sleep, freePort,
};
