'use strict';
// Issue 10, a real browser: headless Chromium (Debian's `chromium`, driven by puppeteer-core) opens signed
// endpoint URLs of the simulator's web app (sandbox port 3000, tests/simulator/webapp.js) through a TLS gateway
// and the test asserts what the page rendered:
//   - path form (tenant tpath, the global form): the first visit is a 302 to the URL without the signature that
//     leaves an HttpOnly, Secure, SameSite=Lax cookie scoped to /sandboxes/{id}/port/3000; the app's relative
//     script, fetch and WebSocket then work on the cookie. Its ABSOLUTE paths (/app.js, /api/abs, /ws) cannot work
//     in the path form by construction: the browser sends them to the gateway's own root, outside the sandbox
//     prefix. They must be the only failures.
//   - host form (tenant thost, policy endpoint_form: host): {id}-3000-{expires}-{sig}.sandbox.test, chosen by SNI
//     with a wildcard certificate, serves the whole app: absolute and relative paths alike, no redirect, no cookie.
// In both, the app's own cookie goes to the sandbox and back while the gateway's cookie, the signature and every
// gateway credential header never reach it (the app's /api/whoami echoes what it received).
// A screenshot per form goes to tests/artifacts/ (its path is printed). Every wait is bounded.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../lib/harness');
const T = require('../lib/tenancy');
const { makeCerts, spkiHash } = require('../lib/certs');
const { launchBrowser } = require('../lib/browser');

const DOMAIN = 'sandbox.test';
const APP_PORT = 3000;
const SECRET = 'browser-k1-secret-0123456789abcdef0123456789';
const ARTIFACTS = path.join(h.REPO, 'tests', 'artifacts');
const CHECKS = ['abs-script', 'rel-script', 'fetch-rel', 'fetch-abs', 'ws-rel', 'ws-abs', 'app-cookie'];
// What the path form cannot serve: the app's absolute paths leave the /sandboxes/{id}/port/{port} prefix.
const ABSOLUTE = ['abs-script', 'fetch-abs', 'ws-abs'];
// Gateway credentials that must never reach the sandbox.
const GATEWAY_HEADERS = ['x-sandgate-token', 'open-sandbox-api-key', 'opensandbox-ingress-to', 'authorization'];

const env = h.env();
const ctx = {};

test.before(async () => {
  ctx.certs = await makeCerts(path.join(h.tmpDir(), 'browser-certs'), { domain: DOMAIN });
  ctx.ca = fs.readFileSync(ctx.certs.ca);
  ctx.sim = await env.sim({ name: 'browser', args: ['--ready-delay-ms', '0'] });
  ctx.kPath = T.newKey('path');
  ctx.kHost = T.newKey('host');
  const tenants = [
    { id: 'tpath', keys: [T.keyHash(ctx.kPath)] },
    { id: 'thost', keys: [T.keyHash(ctx.kHost)], policy: { endpoint_form: 'host' } },
  ];
  ctx.gw = await T.startGateway({
    backends: [h.backend(ctx.sim)],
    tenants,
    port_tokens: { secrets: [{ id: 'k1', secret: SECRET }] },
    portsConf: { sandbox_domain: DOMAIN, endpoint_form: 'path' },
    configure(config) {
      const tls = config.listen.find((l) => l.tls).tls;
      tls.certificates = [{ cert: ctx.certs.cert, key: ctx.certs.key }, { cert: ctx.certs.wildCert, key: ctx.certs.wildKey }];
    },
  });
  env.gateways.push(ctx.gw);
  ctx.httpsPort = ctx.gw.ports.https;
  // Trust exactly the two test certificates (their keys), and resolve *.sandbox.test to the gateway.
  ctx.browser = await launchBrowser({ spki: [spkiHash(ctx.certs.cert), spkiHash(ctx.certs.wildCert)], resolve: [`*.${DOMAIN}`] });
}, { timeout: 90000 });

test.after(async () => {
  if (ctx.browser) await ctx.browser.close().catch(() => {});
  await env.cleanup();
});

// A Running sandbox of tenant `key` (created over plain HTTP) and its signed endpoint for the app port, asked
// over TLS (so the answer names the TLS listener). Resolves {id, expires, endpoint}.
async function signedApp(key) {
  const c = T.client(ctx.gw.httpUrl, key);
  const { id } = await c.create();
  const expires = Math.floor(Date.now() / 1000) + 600;
  const r = await h.request(`${ctx.gw.httpsUrl}/v1/sandboxes/${id}/endpoints/${APP_PORT}?expires=${expires}`,
    { headers: { 'OPEN-SANDBOX-API-KEY': key }, ca: ctx.ca });
  assert.equal(r.status, 200, `signed endpoint: ${r.status} ${r.text}`);
  assert.equal(r.json.headers, undefined, `a signed endpoint needs no header: ${r.text}`);
  return { id, expires, endpoint: r.json.endpoint };
}

// Opens url in a fresh incognito context, waits until the app settled every check (bounded), saves a screenshot
// whatever happened and resolves what the page rendered.
async function openApp(url, shot) {
  const context = await ctx.browser.createBrowserContext();
  const page = await context.newPage();
  const file = path.join(ARTIFACTS, shot);
  let resp = null;
  try {
    resp = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
    await page.waitForSelector('#done[data-state=done]', { timeout: 15000 });
    const state = await page.evaluate(() => ({
      results: Object.assign({}, window.results),
      docCookie: document.cookie,
      whoami: document.getElementById('whoami').textContent,
      href: location.href,
    }));
    const chain = resp.request().redirectChain().map((rq) => ({ url: rq.url(), status: rq.response() && rq.response().status(), headers: rq.response() && rq.response().headers() }));
    const cookies = await page.cookies();
    return { context, page, resp, state, chain, cookies, file };
  } finally {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: file, fullPage: true }).catch((e) => process.stderr.write(`screenshot failed: ${e.message}\n`));
    process.stdout.write(`# screenshot: ${file}\n`);
  }
}

// The sandbox saw its own cookie and nothing of the gateway's: no gateway cookie, no credential header, and the
// signature in no header but `addressHeaders` (host form: the signed host IS the request's address, so the
// sandbox sees it in X-Forwarded-Host and in the browser's Referer, as an app behind any ingress does).
function assertSandboxSawOnlyItsOwn(state, sig, addressHeaders) {
  const who = JSON.parse(state.whoami);
  assert.match(who.cookie, /(^|; )app_session=[0-9a-f]{18}($|;)/, `the app's own cookie reaches the sandbox: ${state.whoami}`);
  assert.doesNotMatch(who.cookie, /sg_access/, `the gateway cookie reached the sandbox: ${who.cookie}`);
  for (const hname of GATEWAY_HEADERS) assert.equal(who.headers[hname], undefined, `${hname} reached the sandbox`);
  const carrying = Object.keys(who.headers).filter((k) => String(who.headers[k]).includes(sig));
  assert.deepEqual(carrying.filter((k) => !(addressHeaders || []).includes(k)), [],
    `the signature ${sig} reached the sandbox: ${state.whoami}`);
}

test('path form: Chromium follows one 302 to the unsigned URL, gets an HttpOnly cookie scoped to the sandbox port, and the app works on relative paths', { timeout: 90000 }, env.wrap(async () => {
  const { id, expires, endpoint } = await signedApp(ctx.kPath);
  const m = new RegExp(`^127\\.0\\.0\\.1:${ctx.httpsPort}/sandboxes/${id}/port/${APP_PORT}-([0-9a-z]{1,13})-([0-9a-z]{12})$`).exec(endpoint);
  assert.ok(m, `path-form signed endpoint: ${endpoint}`);
  const [, e36, sig] = m;
  assert.equal(e36, expires.toString(36));
  const base = `https://127.0.0.1:${ctx.httpsPort}/sandboxes/${id}/port/${APP_PORT}`;

  const v = await openApp(`https://${endpoint}`, 'browser-path-form.png');
  // one redirect, to the same place without the signature; the page itself answers 200
  assert.equal(v.chain.length, 1, JSON.stringify(v.chain));
  assert.equal(v.chain[0].status, 302);
  assert.equal(v.chain[0].headers.location, `/sandboxes/${id}/port/${APP_PORT}/`);
  assert.equal(v.chain[0].headers['cache-control'], 'no-store');
  assert.equal(v.chain[0].headers['referrer-policy'], 'no-referrer');
  assert.equal(v.resp.status(), 200);
  assert.equal(v.state.href, `${base}/`);
  assert.ok(!v.state.href.includes(sig));

  // the cookie the browser keeps: the signature, scoped to this sandbox port, invisible to the page's scripts
  const gwCookie = v.cookies.find((c) => c.name === 'sg_access');
  assert.ok(gwCookie, `sg_access cookie set: ${JSON.stringify(v.cookies)}`);
  assert.equal(gwCookie.value, `${e36}-${sig}`);
  assert.equal(gwCookie.domain, '127.0.0.1');
  assert.equal(gwCookie.path, `/sandboxes/${id}/port/${APP_PORT}`);
  assert.equal(gwCookie.httpOnly, true);
  assert.equal(gwCookie.secure, true);
  assert.equal(gwCookie.sameSite, 'Lax');
  assert.ok(Math.abs(gwCookie.expires - expires) <= 5, `cookie expiry ${gwCookie.expires} vs expires=${expires}`);
  assert.doesNotMatch(v.state.docCookie, /sg_access/, 'HttpOnly: document.cookie must not show the gateway cookie');
  assert.match(v.state.docCookie, /app_session=/, `document.cookie shows the app's own cookie: ${v.state.docCookie}`);

  // what the page rendered: relative paths work; the absolute ones are the only failures
  for (const id2 of CHECKS) assert.ok(id2 in v.state.results, `${id2} settled: ${JSON.stringify(v.state.results)}`);
  const failed = CHECKS.filter((c) => v.state.results[c] !== 'ok');
  assert.deepEqual(failed, ABSOLUTE, `results: ${JSON.stringify(v.state.results)}`);
  assertSandboxSawOnlyItsOwn(v.state, sig);

  // the cookie is what authenticates: another browser context without it is refused at the unsigned URL
  const bare = await ctx.browser.createBrowserContext();
  try {
    const p = await bare.newPage();
    const r = await p.goto(`${base}/`, { timeout: 15000 });
    assert.equal(r.status(), 401, `unsigned URL without the cookie: ${r.status()}`);
  } finally {
    await bare.close();
    await v.context.close();
  }
}));

test('host form: Chromium opens {id}-3000-{expires}-{sig}.sandbox.test (wildcard certificate by SNI) and the whole app works, absolute paths included', { timeout: 90000 }, env.wrap(async () => {
  const { id, expires, endpoint } = await signedApp(ctx.kHost);
  const m = new RegExp(`^(${id}-${APP_PORT}-([0-9a-z]{1,13})-([0-9a-z]{12})\\.sandbox\\.test):${ctx.httpsPort}$`).exec(endpoint);
  assert.ok(m, `host-form signed endpoint: ${endpoint}`);
  const [, host, e36, sig] = m;
  assert.equal(e36, expires.toString(36));
  assert.ok(host.split('.')[0].length <= 63, 'the signed label fits a DNS label');

  const url = `https://${endpoint}/`;
  const v = await openApp(url, 'browser-host-form.png');
  // every request self-authenticates: no redirect, no cookie of the gateway
  assert.equal(v.chain.length, 0, JSON.stringify(v.chain));
  assert.equal(v.resp.status(), 200);
  assert.equal(v.state.href, url);
  assert.equal(v.cookies.find((c) => c.name === 'sg_access'), undefined, JSON.stringify(v.cookies));
  // the certificate the gateway chose for this name is the wildcard one (SNI)
  const sec = v.resp.securityDetails();
  assert.ok(sec, 'TLS security details');
  assert.equal(sec.subjectName(), `*.${DOMAIN}`);

  assert.deepEqual(v.state.results, Object.fromEntries(CHECKS.map((c) => [c, 'ok'])), JSON.stringify(v.state.results));
  assertSandboxSawOnlyItsOwn(v.state, sig, ['x-forwarded-host', 'referer']);
  await v.context.close();
}));

test('JS SDK: getSignedEndpoint over plain HTTP gives a URL Chromium opens; the cookie has no Secure attribute there', { timeout: 90000 }, env.wrap(async () => {
  process.env.OPENSANDBOX_DISABLE_METRICS = '1';
  const { ConnectionConfig, Sandbox } = require('@alibaba-group/opensandbox');
  const { id } = await T.client(ctx.gw.httpUrl, ctx.kPath).create();
  const connectionConfig = new ConnectionConfig({ domain: `127.0.0.1:${ctx.gw.ports.http}`, protocol: 'http', apiKey: ctx.kPath,
    requestTimeoutSeconds: 20, disableMetrics: true });
  const sbx = await Sandbox.connect({ sandboxId: id, connectionConfig, skipHealthCheck: true });
  const expires = Math.floor(Date.now() / 1000) + 300;
  const ep = await sbx.getSignedEndpoint(APP_PORT, expires);
  assert.match(ep.endpoint, new RegExp(`^127\\.0\\.0\\.1:${ctx.gw.ports.http}/sandboxes/${id}/port/${APP_PORT}-${expires.toString(36)}-[0-9a-z]{12}$`));
  const sig = ep.endpoint.slice(-12);
  const v = await openApp(`http://${ep.endpoint}`, 'browser-sdk-http.png');
  assert.equal(v.chain.length, 1);
  assert.equal(v.chain[0].status, 302);
  assert.equal(v.state.href, `http://127.0.0.1:${ctx.gw.ports.http}/sandboxes/${id}/port/${APP_PORT}/`);
  const gwCookie = v.cookies.find((c) => c.name === 'sg_access');
  assert.ok(gwCookie, JSON.stringify(v.cookies));
  assert.equal(gwCookie.secure, false, 'no Secure attribute on plain HTTP');
  assert.equal(gwCookie.httpOnly, true);
  const failed = CHECKS.filter((c) => v.state.results[c] !== 'ok');
  assert.deepEqual(failed, ABSOLUTE, `results: ${JSON.stringify(v.state.results)}`);
  assertSandboxSawOnlyItsOwn(v.state, sig);
  await v.context.close();
  if (typeof sbx.close === 'function') await sbx.close();
}));

test('sandgate exits 0 on SIGTERM', { timeout: 30000 }, () => ctx.gw.stop());
