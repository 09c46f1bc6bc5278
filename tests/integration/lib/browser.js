'use strict';
// Headless Chromium for the integration tests: Debian's `chromium` package (scripts/install-deps.sh
// installs it) driven by puppeteer-core, which never downloads a browser.
//
//   const { launchBrowser } = require('./lib/browser');
//   const b = await launchBrowser({ spki: [spkiHash(cert)], resolve: ['*.sandbox.test'] });
//   const page = await b.newPage(); ... ; await b.close();
//
// Options:
//   spki     base64 SHA-256 SPKI hashes of the server certificates to accept (test certificates;
//            Chromium's --ignore-certificate-errors-spki-list: only those keys, not every error)
//   resolve  host patterns mapped to 127.0.0.1 (--host-resolver-rules), e.g. '*.sandbox.test'
// Environment: CHROMIUM_BIN (default: /usr/bin/chromium, else `chromium` on PATH).
// The profile lives in a fresh temp dir, removed by close(). Every wait is bounded.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

function chromiumPath() {
  if (process.env.CHROMIUM_BIN) return process.env.CHROMIUM_BIN;
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (fs.existsSync(p)) return p;
  const w = spawnSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' });
  return w.status === 0 ? w.stdout.trim() : null;
}

async function launchBrowser(opts) {
  const o = opts || {};
  const exe = chromiumPath();
  if (!exe) throw new Error('chromium not found: install the Debian package `chromium` (scripts/install-deps.sh) or set CHROMIUM_BIN');
  const puppeteer = require('puppeteer-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sandgate-chromium-'));
  const args = [
    '--disable-dev-shm-usage',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ];
  // Chromium refuses to start its sandbox as root (containers, CI).
  if (typeof process.getuid === 'function' && process.getuid() === 0) args.push('--no-sandbox');
  if (o.resolve && o.resolve.length) args.push(`--host-resolver-rules=${o.resolve.map((h) => `MAP ${h} 127.0.0.1`).join(',')}`);
  if (o.spki && o.spki.length) args.push(`--ignore-certificate-errors-spki-list=${o.spki.join(',')}`);
  let browser;
  try {
    browser = await puppeteer.launch({
      executablePath: exe,
      headless: true,
      userDataDir: profile,
      args,
      timeout: 30000,
      protocolTimeout: 30000,
      defaultViewport: { width: 900, height: 700 },
    });
  } catch (e) {
    fs.rmSync(profile, { recursive: true, force: true });
    throw new Error(`cannot launch ${exe}: ${e.message}`);
  }
  const close = browser.close.bind(browser);
  browser.close = async () => {
    const t = setTimeout(() => { try { browser.process().kill('SIGKILL'); } catch (_) { /* gone */ } }, 10000);
    try { await close(); } finally { clearTimeout(t); fs.rmSync(profile, { recursive: true, force: true }); }
  };
  return browser;
}

module.exports = { launchBrowser, chromiumPath };
