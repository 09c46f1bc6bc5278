'use strict';
// Issue 10: signed, expiring sandbox port URLs through the gateway, written against the contract
// (/work/briefs/issue10-contract.md, docs/CONFIG.md `ports`):
// - the signed URL matrix (valid, expired, tampered id / port / expiry / signature / key char, another tenant's
//   sandbox, deleted sandbox) in path form, host form (plain HTTP; TLS through Node https with SNI and through
//   `curl --resolve` against a wildcard certificate verified by the test CA) and header form
//   (OpenSandbox-Ingress-To), on the memory store and on a real redis-server;
// - minting refusals of GET .../endpoints/{port}?expires= (malformed, past, beyond the tenant's maximum,
//   with use_server_proxy) and the endpoint answers of both forms;
// - the browser cookie flow at HTTP level (302 + Set-Cookie on a navigation, the cookie alone afterwards, what
//   reaches the sandbox), host routing details, header stripping, the reason phrases on the status line;
// - the official JS SDK's getSignedEndpoint giving a URL that plain fetch can open.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const { makeCerts } = require('../lib/certs');

const env = h.env();
const ctx = { gws: {} };
const DOMAIN = 'sandbox.test';
const COOKIE = 'sg_access';
const K1 = 'k1-ports-secret-0123456789abcdef0123456789';
const MAX_A = 3600; // tenant ta's policy.max_signed_lifetime
const MAX_GLOBAL = 86400; // ports.max_signed_lifetime
const FORMS = ['path', 'host', 'host-tls', 'host-curl', 'header'];
const GATEWAY_HEADERS = ['x-sandgate-token', 'open-sandbox-api-key', 'opensandbox-ingress-to'];

const nowS = () => Math.floor(Date.now() / 1000);
const b36 = (n) => BigInt(n).toString(36);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- setup

const PORTS = { sandbox_domain: DOMAIN, endpoint_form: 'path', max_signed_lifetime: '24h', renew_interval: '60s' };

test.before(async () => {
  ctx.certs = await makeCerts(path.join(h.tmpDir(), 'ports-certs'), { domain: DOMAIN });
  ctx.caPem = fs.readFileSync(ctx.certs.ca);
  ctx.sim = await env.sim({ name: 'ports-a', args: ['--ready-delay-ms', '0'] });
  ctx.kA = T.newKey('a');
  ctx.kB = T.newKey('b');
  ctx.kH = T.newKey('h');
  ctx.tenants = [
    { id: 'ta', keys: [T.keyHash(ctx.kA)], policy: { max_signed_lifetime: '1h' } },
    { id: 'tb', keys: [T.keyHash(ctx.kB)] },
    { id: 'th', keys: [T.keyHash(ctx.kH)], policy: { endpoint_form: 'host' } },
  ];
  const configure = (c) => { // the wildcard certificate next to the server one (chosen by SNI)
    for (const l of c.listen) {
      if (l.tls) l.tls.certificates = [{ cert: ctx.certs.cert, key: ctx.certs.key }, { cert: ctx.certs.wildCert, key: ctx.certs.wildKey }];
    }
  };
  const base = { backends: [h.backend(ctx.sim)], tenants: ctx.tenants, portsConf: PORTS, configure };
  ctx.gws.memory = await T.startGateway(Object.assign({}, base, { port_tokens: { secrets: [{ id: 'k1', secret: K1 }] } }));
  env.gateways.push(ctx.gws.memory);
  ctx.store = await T.storeFor('redis');
  if (!ctx.store.skip) {
    ctx.gws.redis = await T.startGateway(Object.assign({}, base, { redis: ctx.store.conf }));
    env.gateways.push(ctx.gws.redis);
  }
}, { timeout: 90000 });

test.after(async () => { await env.cleanup(); if (ctx.store && ctx.store.redis) await ctx.store.redis.stop(); });

// ---------------------------------------------------------------- helpers

const client = (gw, key) => T.client(gw.httpUrl, key);

// GET .../endpoints/{port}?expires=E for a path-form tenant: the signed parts of the answer.
async function mint(c, id, port, expires) {
  const r = await c.get(`/v1/sandboxes/${id}/endpoints/${port}?expires=${expires}`);
  assert.equal(r.status, 200, `minting ${id}:${port} expires=${expires}: ${r.text}`);
  const m = new RegExp(`/sandboxes/${id}/port/${port}-([0-9a-z]{1,13})-([0-9a-z]{12})$`).exec(r.json.endpoint);
  assert.ok(m, `signed path-form endpoint: ${r.json.endpoint}`);
  assert.equal(m[1], b36(expires), 'expires in base 36');
  return { id, port, e36: m[1], sig: m[2], expires };
}

const token = (s) => `${s.id}-${s.port}-${s.e36}-${s.sig}`;

function flip(ch) { return ch === 'a' ? 'b' : 'a'; }

// Parses `curl -i` output (the last response head, HTTP/1.1 or HTTP/2).
function parseCurl(out) {
  let rest = out;
  let head = '';
  for (;;) {
    const sep = rest.indexOf('\r\n\r\n');
    if (sep < 0) { head = rest; rest = ''; break; }
    head = rest.slice(0, sep);
    rest = rest.slice(sep + 4);
    if (!/^HTTP\/\S+ 1\d\d/.test(head)) break;
  }
  const lines = head.split('\r\n');
  const m = /^HTTP\/\S+ (\d{3})/.exec(lines[0] || '');
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i < 0) continue;
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    if (k === 'set-cookie') (headers[k] = headers[k] || []).push(v); else headers[k] = v;
  }
  let json;
  try { json = JSON.parse(rest); } catch (_) { json = undefined; }
  return { status: m ? Number(m[1]) : 0, statusLine: lines[0], headers, text: rest, json };
}

// curl over TLS to https://{hostname}:{https port}{rest}, the name resolved to 127.0.0.1 and verified by the test CA.
async function curlHost(gw, hostname, rest, opts) {
  const o = opts || {};
  const args = ['-i', '--cacert', ctx.certs.ca, '--resolve', `${hostname}:${gw.ports.https}:127.0.0.1`];
  if (o.method) args.push('-X', o.method);
  for (const [k, v] of Object.entries(o.headers || {})) args.push('-H', `${k}: ${v}`);
  args.push(`https://${hostname}:${gw.ports.https}${rest}`);
  const r = await h.curl(args, 10000);
  assert.equal(r.code, 0, `curl ${args.join(' ')}: ${r.stderr}`);
  return parseCurl(r.stdout);
}

// Port traffic on signed route s in one form. opts: {method, headers, body}.
function send(gw, form, s, rest, opts) {
  const o = opts || {};
  const headers = Object.assign({}, o.headers);
  const label = `${token(s)}.${DOMAIN}`;
  const common = { method: o.method, headers, body: o.body };
  switch (form) {
    case 'path':
      return h.request(`${gw.httpUrl}/sandboxes/${s.id}/port/${s.port}-${s.e36}-${s.sig}${rest}`, common);
    case 'host':
      headers.Host = `${label}:${gw.ports.http}`;
      return h.request(`${gw.httpUrl}${rest}`, common);
    case 'host-tls':
      headers.Host = `${label}:${gw.ports.https}`;
      return h.request(`https://127.0.0.1:${gw.ports.https}${rest}`, Object.assign(common, { ca: ctx.caPem, servername: label }));
    case 'host-curl':
      return curlHost(gw, label, rest, o);
    case 'header':
      headers['OpenSandbox-Ingress-To'] = token(s);
      return h.request(`${gw.httpUrl}${rest}`, common);
    default:
      throw new Error(form);
  }
}

// A 200 from the echo service that saw `rest` and none of the gateway's credentials.
function assertEchoed(r, rest, what) {
  assert.equal(r.status, 200, `${what}: ${r.status} ${r.text}`);
  assert.ok(r.json && r.json.headers, `${what}: not the echo service: ${r.text}`);
  assert.equal(r.json.path, rest, `${what}: path seen by the sandbox`);
  const names = Object.keys(r.json.headers);
  for (const n of GATEWAY_HEADERS) assert.ok(!names.includes(n), `${what}: ${n} reached the sandbox: ${JSON.stringify(r.json.headers)}`);
  assert.ok(!new RegExp(`(^|;\\s*)${COOKIE}=`).test(r.json.headers.cookie || ''), `${what}: the gateway cookie reached the sandbox: ${r.json.headers.cookie}`);
}

// A JSON error {code, message} (exactly those fields) with this status and code.
function assertError(r, status, code, what) {
  assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
  assert.match(String(r.headers['content-type']), /^application\/json/, `${what}: content-type`);
  assert.ok(r.json, `${what}: body is not JSON: ${r.text}`);
  assert.deepEqual(Object.keys(r.json).sort(), ['code', 'message'], `${what}: ${r.text}`);
  assert.equal(r.json.code, code, `${what}: ${r.text}`);
  assert.equal(typeof r.json.message, 'string');
  assert.ok(r.json.message.length > 0);
}

async function unsignedToken(c, id, port) {
  const r = await c.get(`/v1/sandboxes/${id}/endpoints/${port}`);
  assert.equal(r.status, 200, r.text);
  return r.json.headers['X-Sandgate-Token'];
}

// Parses one Set-Cookie line: {name, value, attrs: {lowercased name: value|true}}.
function parseSetCookie(line) {
  const parts = line.split(';').map((p) => p.trim());
  const [name, ...v] = parts[0].split('=');
  const attrs = {};
  for (const p of parts.slice(1)) {
    const i = p.indexOf('=');
    if (i < 0) attrs[p.toLowerCase()] = true; else attrs[p.slice(0, i).toLowerCase()] = p.slice(i + 1);
  }
  return { name, value: v.join('='), attrs, raw: parts.slice(1).map((p) => p.split('=')[0]) };
}

// ---------------------------------------------------------------- the signed URL matrix

for (const store of ['memory', 'redis']) {
  test(`signed URL matrix (${store} store): valid, tampered id/port/expiry/signature/key, another tenant's sandbox, expired, deleted; path, host (HTTP, TLS by SNI, curl --resolve), header form`, { timeout: 90000 }, env.wrap(async (t) => {
    if (store === 'redis' && ctx.store.skip) { t.skip(ctx.store.skip); return; }
    const gw = ctx.gws[store];
    const a = client(gw, ctx.kA);
    const b = client(gw, ctx.kB);
    const x = (await a.create()).id;
    const y = (await a.create()).id;
    const z = (await a.create()).id;
    const bsb = (await b.create()).id;
    assert.match(x, /^[0-9a-f]{8}-[0-9a-f]{4}-/, 'the simulator ids are uuids (dashes: host labels split from the right)');
    const short = await mint(a, x, 8080, nowS() + 2); // expires while the rest runs
    const exp = nowS() + 600;
    const sx = await mint(a, x, 8080, exp);
    const sx44 = await mint(a, x, 44772, exp);
    const sz = await mint(a, z, 8080, exp);
    const sb = await mint(b, bsb, 8080, exp);

    // valid, in every form: the whole remaining path (query included) reaches the sandbox, no gateway credential does
    for (const form of FORMS) {
      assertEchoed(await send(gw, form, sx, '/echo/v/a%20b?q=1&r=%2F'), '/echo/v/a%20b?q=1&r=%2F', `valid (${form})`);
      const ping = await send(gw, form, sx44, '/ping');
      assert.equal(ping.status, 200, `execd /ping on a signed 44772 (${form}): ${ping.text}`);
      assertEchoed(await send(gw, form, sb, '/echo/b'), '/echo/b', `tenant B's own signed URL (${form})`);
    }
    const root = await send(gw, 'path', sx, '');
    assert.equal(root.status, 404, `path form without a rest: ${root.text}`);
    assert.equal(root.json.message, 'echo service: no route for GET /', 'path form without a rest: the sandbox sees /');
    const post = await send(gw, 'path', sx, '/echo/post', { method: 'POST', body: 'payload' });
    assertEchoed(post, '/echo/post', 'POST on a signed path');
    assert.equal(post.json.body, 'payload');

    // every bad signature: 401 GATEWAY::INVALID_SIGNATURE with one byte-identical body
    const bad = {
      'tampered id (X\'s signature on Y, same tenant)': Object.assign({}, sx, { id: y }),
      'tampered port (8080\'s signature on 44772)': Object.assign({}, sx, { port: 44772 }),
      'tampered expiry (+1 s)': Object.assign({}, sx, { e36: b36(exp + 1) }),
      'tampered expiry (one year later)': Object.assign({}, sx, { e36: b36(exp + 365 * 86400) }),
      'tampered expiry (into the past)': Object.assign({}, sx, { e36: b36(nowS() - 100) }),
      'tampered signature (last char)': Object.assign({}, sx, { sig: sx.sig.slice(0, 11) + flip(sx.sig[11]) }),
      'tampered signature (middle char)': Object.assign({}, sx, { sig: sx.sig.slice(0, 6) + flip(sx.sig[6]) + sx.sig.slice(7) }),
      'unknown key char': Object.assign({}, sx, { sig: flip(sx.sig[0]) + sx.sig.slice(1) }),
      'tenant A\'s signature on tenant B\'s sandbox id': Object.assign({}, sx, { id: bsb }),
      'tenant B\'s signature on tenant A\'s sandbox id': Object.assign({}, sb, { id: x }),
    };
    const bodies = new Set();
    for (const [what, s] of Object.entries(bad)) {
      for (const form of FORMS) {
        const r = await send(gw, form, s, '/echo/bad');
        assertError(r, 401, 'GATEWAY::INVALID_SIGNATURE', `${what} (${form})`);
        bodies.add(r.text);
      }
    }
    assert.equal(bodies.size, 1, `one body for every bad signature, got: ${[...bodies].join(' | ')}`);

    // a genuine signature past its expiry
    while (nowS() <= short.expires) await sleep(200);
    for (const form of FORMS) assertError(await send(gw, form, short, '/echo/late'), 401, 'GATEWAY::SIGNED_URL_EXPIRED', `expired (${form})`);

    // a deleted sandbox: 404 as for any unknown sandbox
    assertEchoed(await send(gw, 'path', sz, '/echo/z'), '/echo/z', 'Z before its delete');
    assert.equal((await a.del(`/v1/sandboxes/${z}`)).status, 204);
    for (const form of FORMS) {
      const r = await send(gw, form, sz, '/echo/gone');
      assertError(r, 404, 'GATEWAY::SANDBOX_NOT_FOUND', `deleted (${form})`);
      assert.deepEqual(r.json, T.sandboxNotFound(z));
    }
    assert.ok(!gw.stderr().includes(sx.sig), 'a signature was logged');
  }));
}

// ---------------------------------------------------------------- minting

test('minting: the endpoint answers of the path form, and every refusal of ?expires= (400 JSON, the maximum stated)', { timeout: 60000 }, env.wrap(async () => {
  const gw = ctx.gws.memory;
  const a = client(gw, ctx.kA);
  const b = client(gw, ctx.kB);
  const x = (await a.create()).id;
  const bx = (await b.create()).id;
  const authority = `127.0.0.1:${gw.ports.http}`;

  const u = await a.get(`/v1/sandboxes/${x}/endpoints/8080`);
  assert.equal(u.status, 200, u.text);
  assert.equal(u.json.endpoint, `${authority}/sandboxes/${x}/port/8080`);
  assert.deepEqual(Object.keys(u.json.headers), ['X-Sandgate-Token']);
  const exp = nowS() + 300;
  const s = await a.get(`/v1/sandboxes/${x}/endpoints/8080?expires=${exp}`);
  assert.equal(s.status, 200, s.text);
  assert.match(s.json.endpoint, new RegExp(`^${authority.replace(/\./g, '\\.')}/sandboxes/${x}/port/8080-${b36(exp)}-[0-9a-z]{12}$`));
  assert.ok(s.json.headers === undefined || Object.keys(s.json.headers).length === 0, `a signed endpoint needs no headers: ${s.text}`);
  const sp = await a.get(`/v1/sandboxes/${x}/endpoints/8080?use_server_proxy=true`);
  assert.equal(sp.json.endpoint, `${authority}/v1/sandboxes/${x}/proxy/8080`);
  // at the tenant's maximum exactly: accepted (give the clock a second)
  assert.equal((await a.get(`/v1/sandboxes/${x}/endpoints/8080?expires=${nowS() + MAX_A - 1}`)).status, 200);

  const malformed = ['abc', '', '01', '-5', '+5', '1.5', '1e9', ' 1', `${exp}x`, '0x10', '99999999999999999999', '18446744073709551616', '123456789012345678901'];
  for (const e of malformed) {
    const r = await a.get(`/v1/sandboxes/${x}/endpoints/8080?expires=${encodeURIComponent(e)}`);
    assertError(r, 400, 'GATEWAY::INVALID_REQUEST', `malformed expires '${e}'`);
  }
  for (const e of [0, 1, nowS() - 10, nowS()]) {
    const r = await a.get(`/v1/sandboxes/${x}/endpoints/8080?expires=${e}`);
    assertError(r, 400, 'GATEWAY::INVALID_REQUEST', `past expires ${e}`);
    assert.match(r.json.message, /expires is in the past/);
  }
  // beyond the tenant's policy.max_signed_lifetime (1h): 400 with the maximum in seconds
  for (const e of [nowS() + MAX_A + 5, nowS() + MAX_GLOBAL + 100, '18446744073709551615']) {
    const r = await a.get(`/v1/sandboxes/${x}/endpoints/8080?expires=${e}`);
    assertError(r, 400, 'GATEWAY::SIGNED_URL_TOO_LONG', `tenant ta, expires ${e}`);
    assert.match(r.json.message, new RegExp(`\\b${MAX_A}\\b`), `the message states the maximum: ${r.json.message}`);
  }
  // a tenant without the policy: the global 24h
  assert.equal((await b.get(`/v1/sandboxes/${bx}/endpoints/8080?expires=${nowS() + 2 * MAX_A}`)).status, 200, 'beyond ta\'s 1h, within the global 24h');
  const g = await b.get(`/v1/sandboxes/${bx}/endpoints/8080?expires=${nowS() + MAX_GLOBAL + 100}`);
  assertError(g, 400, 'GATEWAY::SIGNED_URL_TOO_LONG', 'tenant tb beyond 24h');
  assert.match(g.json.message, new RegExp(`\\b${MAX_GLOBAL}\\b`), g.json.message);
  // with use_server_proxy=true, in either order
  for (const q of [`use_server_proxy=true&expires=${exp}`, `expires=${exp}&use_server_proxy=true`]) {
    const r = await a.get(`/v1/sandboxes/${x}/endpoints/8080?${q}`);
    assertError(r, 400, 'GATEWAY::INVALID_REQUEST', q);
    assert.match(r.json.message, /expires cannot be combined with use_server_proxy/);
  }
  // another tenant's sandbox and an unknown one: 404 as every sandbox-scoped call
  assertError(await b.get(`/v1/sandboxes/${x}/endpoints/8080?expires=${exp}`), 404, 'GATEWAY::SANDBOX_NOT_FOUND', 'B minting for A\'s sandbox');
  // the backend (Docker runtime: expires is not supported) is never asked to sign
  const asked = await ctx.sim.requests('', 0);
  assert.ok(Array.isArray(asked.items) && asked.items.length > 0, JSON.stringify(asked).slice(0, 200));
  assert.ok(!asked.items.some((q) => /[?&]expires=/.test(q.url)), 'the gateway forwarded ?expires= to the backend');
}));

test('status lines carry the standard reason phrase (raw HTTP/1.1): 302 Found, 400 Bad Request, 401 Unauthorized, 404 Not Found', { timeout: 60000 }, env.wrap(async () => {
  const gw = ctx.gws.memory;
  const a = client(gw, ctx.kA);
  const x = (await a.create()).id;
  const s = await mint(a, x, 8080, nowS() + 300);
  const host = `Host: 127.0.0.1:${gw.ports.http}\r\nConnection: close\r\n`;
  const raw = (line, extra) => T.rawRequest(gw.ports.http, `${line}\r\n${host}${extra || ''}\r\n`);
  const cases = [
    [`GET /sandboxes/${x}/port/8080-${s.e36}-${s.sig}/ HTTP/1.1`, 'Sec-Fetch-Mode: navigate\r\n', 302, 'Found'],
    [`GET /v1/sandboxes/${x}/endpoints/8080?expires=abc HTTP/1.1`, `OPEN-SANDBOX-API-KEY: ${ctx.kA}\r\n`, 400, 'Bad Request'],
    [`GET /v1/sandboxes/${x}/endpoints/8080?expires=${nowS() + 10 * MAX_A} HTTP/1.1`, `OPEN-SANDBOX-API-KEY: ${ctx.kA}\r\n`, 400, 'Bad Request'],
    [`GET /sandboxes/${x}/port/8080-${s.e36}-${s.sig.slice(0, 11)}${flip(s.sig[11])}/echo HTTP/1.1`, '', 401, 'Unauthorized'],
    [`GET /echo HTTP/1.1`, `OpenSandbox-Ingress-To: ${x}-8080-${b36(s.expires + 1)}-${s.sig}\r\n`, 401, 'Unauthorized'],
    [`GET /sandboxes/00000000-0000-4000-8000-000000000000/port/8080-${s.e36}-${s.sig}/echo HTTP/1.1`, '', 404, 'Not Found'],
  ];
  for (const [line, extra, status, reason] of cases) {
    const r = await raw(line, extra);
    assert.equal(r.head.split('\r\n')[0], `HTTP/1.1 ${status} ${reason}`, `${line}: ${r.head.split('\r\n')[0]}`);
    if (status !== 302) {
      assert.match(r.head, /\r\ncontent-type: application\/json/i, line);
      assert.deepEqual(Object.keys(r.json).sort(), ['code', 'message'], `${line}: ${r.text}`);
      assert.match(r.json.code, /^GATEWAY::/);
    }
  }
}));

// ---------------------------------------------------------------- browsers (path form)

test('browser cookie flow over HTTP and TLS: navigation 302 + Set-Cookie, then the cookie alone; non-navigations forwarded; cookie scope; expiry', { timeout: 90000 }, env.wrap(async () => {
  const gw = ctx.gws.memory;
  const a = client(gw, ctx.kA);
  const x = (await a.create()).id;
  const y = (await a.create()).id;
  const shortExp = nowS() + 3;
  const short = await mint(a, x, 8080, shortExp);
  const exp = nowS() + 900;
  const sx = await mint(a, x, 8080, exp);
  const sy = await mint(a, y, 8080, exp);
  const signedPath = (s, rest) => `/sandboxes/${s.id}/port/${s.port}-${s.e36}-${s.sig}${rest}`;
  const nav = { 'Sec-Fetch-Mode': 'navigate', 'Sec-Fetch-Dest': 'document', Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };
  const cookieOf = (s) => `${s.e36}-${s.sig}`;

  for (const scheme of ['http', 'https']) {
    const base = scheme === 'http' ? gw.httpUrl : `https://127.0.0.1:${gw.ports.https}`;
    const req = (p, o) => h.request(`${base}${p}`, Object.assign({ ca: ctx.caPem }, o || {}));
    const what = (s) => `${scheme}: ${s}`;

    // the first visit
    const t0 = nowS();
    const r = await req(signedPath(sx, '/app/page?x=1&y=%2F'), { headers: nav });
    const t1 = nowS();
    assert.equal(r.status, 302, what(`navigation: ${r.status} ${r.text}`));
    assert.equal(r.headers.location, `/sandboxes/${x}/port/8080/app/page?x=1&y=%2F`, what('Location without the signature'));
    assert.equal(r.headers['cache-control'], 'no-store', what('Cache-Control'));
    assert.equal(r.headers['referrer-policy'], 'no-referrer', what('Referrer-Policy'));
    const lines = r.headers['set-cookie'] || [];
    assert.equal(lines.length, 1, what(`one Set-Cookie: ${JSON.stringify(lines)}`));
    const c = parseSetCookie(lines[0]);
    assert.equal(c.name, COOKIE);
    assert.equal(c.value, cookieOf(sx));
    const want = ['path', 'max-age', 'httponly', 'samesite'].concat(scheme === 'https' ? ['secure'] : []).sort();
    assert.deepEqual(Object.keys(c.attrs).sort(), want, what(`cookie attributes: ${lines[0]}`));
    assert.equal(c.attrs.path, `/sandboxes/${x}/port/8080`, what('cookie Path'));
    assert.equal(c.attrs.samesite, 'Lax');
    assert.equal(c.attrs.httponly, true);
    if (scheme === 'https') assert.equal(c.attrs.secure, true);
    const maxAge = Number(c.attrs['max-age']);
    // ~ expires - now here (±1 s); the exact bound is the expiry boundary test's
    assert.ok(Number.isInteger(maxAge) && maxAge >= exp - t1 - 1 && maxAge <= exp - t0 + 1, what(`Max-Age ${c.attrs['max-age']} for expires-now in [${exp - t1}, ${exp - t0}]`));

    // other navigations: no rest, query only, Accept text/html without Sec-Fetch-Mode, HEAD
    let n = await req(signedPath(sx, ''), { headers: nav });
    assert.equal(n.status, 302, what(n.text));
    assert.equal(n.headers.location, `/sandboxes/${x}/port/8080/`);
    n = await req(signedPath(sx, '?a=b'), { headers: nav });
    assert.equal(n.status, 302, what(n.text));
    assert.equal(n.headers.location, `/sandboxes/${x}/port/8080/?a=b`);
    n = await req(signedPath(sx, '/p'), { headers: { Accept: 'text/html' } });
    assert.equal(n.status, 302, what('Accept: text/html and no Sec-Fetch-Mode is a navigation'));
    n = await req(signedPath(sx, '/p'), { method: 'HEAD', headers: nav });
    assert.equal(n.status, 302, what('HEAD navigation'));
    assert.equal(n.headers.location, `/sandboxes/${x}/port/8080/p`);
    const sm = await req(signedPath(short, '/'), { headers: nav });
    assert.equal(sm.status, 302);
    const smAge = Number(parseSetCookie(sm.headers['set-cookie'][0]).attrs['max-age']);
    assert.ok(smAge >= 0 && smAge <= 4, what(`Max-Age of a URL expiring in 3 s: ${smAge}`));

    // not navigations: forwarded directly, signed segment stripped, no cookie
    for (const [label, o] of [
      ['GET without Sec-Fetch-Mode', {}],
      ['fetch() of a page (Sec-Fetch-Mode: cors, Accept text/html)', { headers: { 'Sec-Fetch-Mode': 'cors', Accept: 'text/html' } }],
      ['POST form submission (navigate)', { method: 'POST', headers: Object.assign({ 'Content-Type': 'text/plain' }, nav), body: 'form' }],
      ['PUT', { method: 'PUT', body: 'x' }],
    ]) {
      const f = await req(signedPath(sx, '/echo/direct?k=v'), o);
      assertEchoed(f, '/echo/direct?k=v', what(label));
      assert.equal(f.headers['set-cookie'], undefined, what(`${label}: no cookie`));
      if (o.body) assert.equal(f.json.body, o.body);
    }

    // the cookie alone authenticates the unsigned path form; other cookies pass, the gateway's does not
    const plain = `/sandboxes/${x}/port/8080`;
    let k = await req(`${plain}/echo/c?z=1`, { headers: { Cookie: `app=1; ${COOKIE}=${cookieOf(sx)}; other=2` } });
    assertEchoed(k, '/echo/c?z=1', what('cookie alone'));
    assert.equal(k.json.headers.cookie, 'app=1; other=2', what('the sandbox\'s own cookies pass'));
    k = await req(`${plain}/echo/only`, { headers: { Cookie: `${COOKIE}=${cookieOf(sx)}` } });
    assertEchoed(k, '/echo/only', what('only the gateway cookie'));
    assert.equal(k.json.headers.cookie, undefined, what(`no empty Cookie header: ${JSON.stringify(k.json.headers.cookie)}`));
    k = await req(`${plain}/echo/post`, { method: 'POST', body: 'b', headers: { Cookie: `${COOKIE}=${cookieOf(sx)}` } });
    assertEchoed(k, '/echo/post', what('POST with the cookie'));
    // the sandbox's own Set-Cookie comes back untouched
    k = await req(`${plain}/echo/sc?set_cookie=${encodeURIComponent('app=2; Path=/; HttpOnly')}&set_cookie=b%3D3`, { headers: { Cookie: `${COOKIE}=${cookieOf(sx)}` } });
    assert.equal(k.status, 200, k.text);
    assert.deepEqual(k.headers['set-cookie'], ['app=2; Path=/; HttpOnly', 'b=3'], what('sandbox Set-Cookie through the cookie route'));
    k = await req(signedPath(sx, `/echo/sc?set_cookie=${encodeURIComponent('app=4')}`));
    assert.deepEqual(k.headers['set-cookie'], ['app=4'], what('sandbox Set-Cookie through the signed route'));
    // a navigation inside the app (unsigned path, with the cookie): forwarded, no new redirect
    k = await req(`${plain}/echo/page`, { headers: Object.assign({ Cookie: `${COOKIE}=${cookieOf(sx)}` }, nav) });
    assertEchoed(k, '/echo/page', what('a navigation on the unsigned path with the cookie is forwarded'));

    // cookie scope: X's cookie does not open Y nor another port of X; tampered cookies fail
    for (const [label, p, v] of [
      ['X\'s cookie on Y', `/sandboxes/${y}/port/8080/echo/s`, cookieOf(sx)],
      ['X:8080\'s cookie on X:44772', `/sandboxes/${x}/port/44772/ping`, cookieOf(sx)],
      ['tampered cookie signature', `${plain}/echo/s`, `${sx.e36}-${sx.sig.slice(0, 11)}${flip(sx.sig[11])}`],
      ['tampered cookie expiry', `${plain}/echo/s`, `${b36(exp + 60)}-${sx.sig}`],
    ]) {
      assertError(await req(p, { headers: { Cookie: `${COOKIE}=${v}` } }), 401, 'GATEWAY::INVALID_SIGNATURE', what(label));
    }
    assertEchoed(await req(`/sandboxes/${y}/port/8080/echo/y`, { headers: { Cookie: `${COOKIE}=${cookieOf(sy)}` } }), '/echo/y', what('Y\'s own cookie'));
    // no cookie, no credential: as before (key-auth's 401)
    const none = await req(`${plain}/echo/n`);
    assert.equal(none.status, 401, what(none.text));
  }

  // an expired cookie (and its URL) -> 401 SIGNED_URL_EXPIRED
  while (nowS() <= shortExp) await sleep(200);
  const ex = await h.request(`${gw.httpUrl}/sandboxes/${x}/port/8080/echo/late`, { headers: { Cookie: `${COOKIE}=${cookieOf(short)}` } });
  assertError(ex, 401, 'GATEWAY::SIGNED_URL_EXPIRED', 'expired cookie');
  assertError(await h.request(`${gw.httpUrl}${signedPath(short, '/')}`, { headers: nav }), 401, 'GATEWAY::SIGNED_URL_EXPIRED', 'navigation to an expired URL');
}));

test('stripping: no gateway credential reaches the sandbox in any form; the /proxy/ forms drop Authorization and Cookie entirely', { timeout: 60000 }, env.wrap(async () => {
  const gw = ctx.gws.memory;
  const a = client(gw, ctx.kA);
  const x = (await a.create()).id;
  const sx = await mint(a, x, 8080, nowS() + 600);
  const tok = await unsignedToken(a, x, 8080);
  const extra = { 'X-Sandgate-Token': tok, 'OPEN-SANDBOX-API-KEY': ctx.kA, Cookie: `app=1; ${COOKIE}=${sx.e36}-${sx.sig}`, 'X-App': 'kept' };
  for (const form of FORMS) {
    const r = await send(gw, form, sx, '/echo/strip', { headers: extra });
    assertEchoed(r, '/echo/strip', `every credential at once (${form})`);
    assert.equal(r.json.headers.cookie, 'app=1', `${form}: the app cookie stays`);
    assert.equal(r.json.headers['x-app'], 'kept');
  }
  // the unsigned path form keeps the app's Authorization and cookies
  const p = await h.request(`${gw.httpUrl}/sandboxes/${x}/port/8080/echo/p`, { headers: { 'X-Sandgate-Token': tok, Authorization: 'Bearer app-level', Cookie: 'app=1' } });
  assertEchoed(p, '/echo/p', 'unsigned path form');
  assert.equal(p.json.headers.authorization, 'Bearer app-level');
  assert.equal(p.json.headers.cookie, 'app=1');
  // the /proxy/ forms: as OpenSandbox's server proxy, Authorization and Cookie removed
  for (const form of ['proxy', 'v1proxy']) {
    const r = await h.request(`${gw.httpUrl}${h.portPath(x, 8080, '/echo/px', form)}`,
      { headers: { 'X-Sandgate-Token': tok, Authorization: 'Bearer app-level', Cookie: `app=1; ${COOKIE}=${sx.e36}-${sx.sig}`, 'X-App': 'kept' } });
    assertEchoed(r, '/echo/px', form);
    assert.equal(r.json.headers.authorization, undefined, `${form}: Authorization reached the sandbox`);
    assert.equal(r.json.headers.cookie, undefined, `${form}: Cookie reached the sandbox`);
    assert.equal(r.json.headers['x-app'], 'kept');
    // and a signature is no credential there
    const s = await h.request(`${gw.httpUrl}/sandboxes/${x}/proxy/8080-${sx.e36}-${sx.sig}/echo/px`);
    assert.notEqual(s.status, 200, `${form}: a signed segment on the /proxy/ form was accepted`);
  }
}));

// ---------------------------------------------------------------- host routing

test('host routing: unsigned labels with a token or key, split at the last dash, no host routing for look-alike domains, signed hosts never redirect, header form', { timeout: 60000 }, env.wrap(async () => {
  const gw = ctx.gws.memory;
  const a = client(gw, ctx.kA);
  const x = (await a.create()).id;
  const tok = await unsignedToken(a, x, 8080);
  const tok44 = await unsignedToken(a, x, 44772);
  const hostReq = (host, rest, headers) => h.request(`${gw.httpUrl}${rest}`, { headers: Object.assign({ Host: host }, headers || {}) });
  const lbl = `${x}-8080.${DOMAIN}`;

  assertEchoed(await hostReq(`${lbl}:${gw.ports.http}`, '/echo/h?a=1', { 'X-Sandgate-Token': tok }), '/echo/h?a=1', 'unsigned host + token');
  assertEchoed(await hostReq(lbl, '/echo/noport', { 'X-Sandgate-Token': tok }), '/echo/noport', 'unsigned host without :port');
  assertEchoed(await hostReq(`${lbl}:${gw.ports.http}`, '/echo/k', { 'OPEN-SANDBOX-API-KEY': ctx.kA }), '/echo/k', 'unsigned host + tenant key');
  assert.equal((await hostReq(`${x}-44772.${DOMAIN}`, '/ping', { 'X-Sandgate-Token': tok44 })).status, 200, 'execd by host');
  const noCred = await hostReq(`${lbl}:${gw.ports.http}`, '/echo/none');
  assert.equal(noCred.status, 401, `host form without a credential: ${noCred.text}`);
  assert.ok(T.isJsonError(noCred), noCred.text);
  assert.equal((await hostReq(`${lbl}:${gw.ports.http}`, '/echo/wrong', { 'X-Sandgate-Token': tok44 })).status, 401, '44772\'s token on the 8080 host');
  const bk = await hostReq(`${lbl}:${gw.ports.http}`, '/echo/b', { 'OPEN-SANDBOX-API-KEY': ctx.kB });
  assertError(bk, 404, 'GATEWAY::SANDBOX_NOT_FOUND', 'tenant B\'s key on A\'s host');
  // TLS: SNI picks the wildcard certificate, verified by the test CA (curl and Node)
  const c = await curlHost(gw, lbl, '/echo/tls', { headers: { 'X-Sandgate-Token': tok } });
  assertEchoed(c, '/echo/tls', 'curl --resolve, unsigned host + token');
  const n = await h.request(`https://127.0.0.1:${gw.ports.https}/echo/tls2`, { ca: ctx.caPem, servername: lbl, headers: { Host: `${lbl}:${gw.ports.https}`, 'X-Sandgate-Token': tok } });
  assertEchoed(n, '/echo/tls2', 'Node https with servername');
  // an app's absolute paths reach the sandbox (not gateway routes)
  for (const rest of ['/v1/sandboxes', '/health', `/sandboxes/${x}/port/8080/echo/z`]) {
    const r = await hostReq(lbl, rest, { 'X-Sandgate-Token': tok });
    assert.equal(r.status, 404, `host form ${rest} goes to the sandbox (the echo service's 404): ${r.status} ${r.text}`);
    assert.match(r.json.message, /echo service: no route/, `${rest}: ${r.text}`);
  }

  // look-alike domains are not host-routed: the request is what it would be without host routing
  for (const host of [`${x}-8080.evil${DOMAIN}`, `evil${DOMAIN}`, `${x}-8080.${DOMAIN}.evil`, DOMAIN, `${x}-8080${DOMAIN}`]) {
    const r = await hostReq(host, '/echo/evil', { 'X-Sandgate-Token': tok });
    assert.ok(!(r.json && r.json.path === '/echo/evil'), `Host ${host} was routed to the sandbox: ${r.status} ${r.text}`);
    const p = await hostReq(host, `/sandboxes/${x}/port/8080/echo/p`, { 'X-Sandgate-Token': tok });
    assertEchoed(p, '/echo/p', `Host ${host}: the path form still works`);
  }

  // a signed host self-authenticates every request: a navigation gets the page, no redirect, no cookie
  const s = await mint(a, x, 8080, nowS() + 600);
  const sh = `${token(s)}.${DOMAIN}`;
  const nav = await hostReq(`${sh}:${gw.ports.http}`, '/index.html', { 'Sec-Fetch-Mode': 'navigate', Accept: 'text/html' });
  assert.notEqual(nav.status, 302, `signed host navigation redirected: ${nav.headers.location}`);
  assert.equal(nav.headers['set-cookie'], undefined);
  assert.match(nav.json.message, /echo service: no route for GET \/index\.html/, nav.text);
  const navCurl = await curlHost(gw, sh, '/echo/nav', { headers: { 'Sec-Fetch-Mode': 'navigate' } });
  assertEchoed(navCurl, '/echo/nav', 'signed host navigation over TLS');
  assert.equal(navCurl.headers['set-cookie'], undefined);

  // header form: unsigned with a token, without a credential, on any host; the header never reaches the sandbox
  const ing = (v, headers, host) => h.request(`${gw.httpUrl}/echo/ing`, { headers: Object.assign({ 'OpenSandbox-Ingress-To': v }, host ? { Host: host } : {}, headers || {}) });
  assertEchoed(await ing(`${x}-8080`, { 'X-Sandgate-Token': tok }), '/echo/ing', 'header form + token');
  assertEchoed(await ing(`${x}-8080`, { 'X-Sandgate-Token': tok }, 'anything.example'), '/echo/ing', 'header form on another host');
  const ingNone = await ing(`${x}-8080`);
  assert.equal(ingNone.status, 401, ingNone.text);
  assert.ok(T.isJsonError(ingNone));
}));

test('endpoints in host form (tenant policy endpoint_form: host): unsigned and signed labels with the request authority\'s port, and they work', { timeout: 60000 }, env.wrap(async () => {
  const gw = ctx.gws.memory;
  const hc = client(gw, ctx.kH);
  const id = (await hc.create()).id;
  const u = await hc.get(`/v1/sandboxes/${id}/endpoints/8080`);
  assert.equal(u.status, 200, u.text);
  assert.equal(u.json.endpoint, `${id}-8080.${DOMAIN}:${gw.ports.http}`);
  assert.deepEqual(Object.keys(u.json.headers), ['X-Sandgate-Token']);
  const exp = nowS() + 600;
  const s = await hc.get(`/v1/sandboxes/${id}/endpoints/8080?expires=${exp}`);
  assert.equal(s.status, 200, s.text);
  const m = new RegExp(`^${id}-8080-${b36(exp)}-([0-9a-z]{12})\\.sandbox\\.test:${gw.ports.http}$`).exec(s.json.endpoint);
  assert.ok(m, s.json.endpoint);
  assert.ok(s.json.headers === undefined || Object.keys(s.json.headers).length === 0, s.text);
  // the authority's port: none when the Host has none; the TLS listener's over TLS
  const noPort = await h.request(`${gw.httpUrl}/v1/sandboxes/${id}/endpoints/8080`, { headers: { Host: 'gw.example', 'OPEN-SANDBOX-API-KEY': ctx.kH } });
  assert.equal(noPort.json.endpoint, `${id}-8080.${DOMAIN}`);
  const tls = await h.request(`https://127.0.0.1:${gw.ports.https}/v1/sandboxes/${id}/endpoints/8080?expires=${exp}`, { ca: ctx.caPem, headers: { 'OPEN-SANDBOX-API-KEY': ctx.kH } });
  assert.equal(tls.status, 200, tls.text);
  assert.match(tls.json.endpoint, new RegExp(`^${id}-8080-${b36(exp)}-[0-9a-z]{12}\\.sandbox\\.test:${gw.ports.https}$`));
  // use_server_proxy stays the path form
  const sp = await hc.get(`/v1/sandboxes/${id}/endpoints/8080?use_server_proxy=true`);
  assert.equal(sp.json.endpoint, `127.0.0.1:${gw.ports.http}/v1/sandboxes/${id}/proxy/8080`);

  // the answers work: the signed TLS label with curl and no header; the unsigned one with its header
  const label = tls.json.endpoint.split(':')[0];
  assertEchoed(await curlHost(gw, label, '/echo/signed-host'), '/echo/signed-host', 'the signed host-form answer over TLS');
  assertEchoed(await curlHost(gw, u.json.endpoint.split(':')[0], '/echo/unsigned-host', { headers: u.json.headers }), '/echo/unsigned-host', 'the unsigned host-form answer');
  // one signature, every form: the host tenant's signature in path form
  const sig = m[1];
  assertEchoed(await h.request(`${gw.httpUrl}/sandboxes/${id}/port/8080-${b36(exp)}-${sig}/echo/pf`), '/echo/pf', 'host-form signature used in path form');
  // a path-form tenant keeps the path form
  const a = client(gw, ctx.kA);
  const ax = (await a.create()).id;
  assert.equal((await a.get(`/v1/sandboxes/${ax}/endpoints/8080`)).json.endpoint, `127.0.0.1:${gw.ports.http}/sandboxes/${ax}/port/8080`);
}));

// WebSocket upgrade (ws): 101 and one echoed message, or the refusal's status and body.
function wsEcho(url, headers) {
  const WebSocket = require('ws');
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: headers || {}, handshakeTimeout: 5000 });
    ws.on('unexpected-response', (req, res) => { let b = ''; res.on('data', (c) => { b += c; }); res.on('end', () => resolve({ status: res.statusCode, body: b })); });
    ws.on('open', () => ws.send('hello-ws'));
    ws.on('message', (m) => { ws.close(); resolve({ status: 101, body: String(m) }); });
    ws.on('error', (e) => resolve({ status: -1, body: e.message }));
  });
}

test('WebSocket: through a signed path, a signed host, the header form and the cookie; refused with a bad or expired signature', { timeout: 30000 }, env.wrap(async () => {
  const gw = ctx.gws.memory;
  const a = client(gw, ctx.kA);
  const x = (await a.create()).id;
  const y = (await a.create()).id;
  const s = await mint(a, x, 8080, nowS() + 600);
  const ws = `ws://127.0.0.1:${gw.ports.http}`;
  const ok = { status: 101, body: 'hello-ws' };
  assert.deepEqual(await wsEcho(`${ws}/sandboxes/${x}/port/8080-${s.e36}-${s.sig}/ws`), ok, 'signed path');
  assert.deepEqual(await wsEcho(`${ws}/ws`, { Host: `${token(s)}.${DOMAIN}:${gw.ports.http}` }), ok, 'signed host');
  assert.deepEqual(await wsEcho(`${ws}/ws`, { 'OpenSandbox-Ingress-To': token(s) }), ok, 'signed header form');
  assert.deepEqual(await wsEcho(`${ws}/sandboxes/${x}/port/8080/ws`, { Cookie: `${COOKIE}=${s.e36}-${s.sig}` }), ok, 'cookie on the unsigned path');
  { // over TLS: the address given, the name in SNI and Host (sandbox.test does not resolve)
    const WebSocket = require('ws');
    const r = await new Promise((resolve) => {
      const sock = new WebSocket(`wss://127.0.0.1:${gw.ports.https}/ws`, { headers: { Host: `${token(s)}.${DOMAIN}:${gw.ports.https}` }, servername: `${token(s)}.${DOMAIN}`, ca: ctx.caPem, handshakeTimeout: 5000 });
      sock.on('open', () => sock.send('tls-ws'));
      sock.on('message', (m) => { sock.close(); resolve(String(m)); });
      sock.on('unexpected-response', (req, res) => resolve(`status ${res.statusCode}`));
      sock.on('error', (e) => resolve(`error ${e.message}`));
    });
    assert.equal(r, 'tls-ws', 'signed host over TLS (SNI: the wildcard certificate)');
  }
  const bad = await wsEcho(`${ws}/sandboxes/${y}/port/8080-${s.e36}-${s.sig}/ws`);
  assert.equal(bad.status, 401, bad.body);
  assert.equal(JSON.parse(bad.body).code, 'GATEWAY::INVALID_SIGNATURE');
  const badCookie = await wsEcho(`${ws}/sandboxes/${y}/port/8080/ws`, { Cookie: `${COOKIE}=${s.e36}-${s.sig}` });
  assert.equal(badCookie.status, 401, badCookie.body);
  const e = await mint(a, x, 8080, nowS() + 1);
  while (nowS() <= e.expires) await sleep(100);
  const late = await wsEcho(`${ws}/ws`, { Host: `${token(e)}.${DOMAIN}` });
  assert.equal(late.status, 401, late.body);
  assert.equal(JSON.parse(late.body).code, 'GATEWAY::SIGNED_URL_EXPIRED');
}));

// ---------------------------------------------------------------- the JS SDK

test('JS SDK: sandbox.getSignedEndpoint(port, expires) gives a URL that plain fetch opens through the gateway, no headers', { timeout: 60000 }, env.wrap(async () => {
  const { ConnectionConfig, Sandbox } = require('@alibaba-group/opensandbox');
  const gw = ctx.gws.memory;
  const conn = new ConnectionConfig({ domain: `127.0.0.1:${gw.ports.http}`, protocol: 'http', apiKey: ctx.kA, requestTimeoutSeconds: 20, disableMetrics: true });
  const sbx = await Sandbox.create({ connectionConfig: conn, image: 'python:3.11', timeoutSeconds: 600, resource: { cpu: '500m', memory: '512Mi' }, readyTimeoutSeconds: 20, healthCheckPollingInterval: 100 });
  try {
    const exp = nowS() + 600;
    const ep = await sbx.getSignedEndpoint(8080, exp);
    assert.match(ep.endpoint, new RegExp(`^127\\.0\\.0\\.1:${gw.ports.http}/sandboxes/${sbx.id}/port/8080-${b36(exp)}-[0-9a-z]{12}$`));
    assert.ok(!ep.headers || Object.keys(ep.headers).length === 0, JSON.stringify(ep));
    const r = await fetch(`http://${ep.endpoint}/echo/sdk?x=1`);
    assert.equal(r.status, 200, await r.clone().text());
    const body = await r.json();
    assert.equal(body.path, '/echo/sdk?x=1');
    assert.ok(!GATEWAY_HEADERS.some((k) => k in body.headers));
    const ex = await sbx.getSignedEndpoint(44772, exp);
    assert.equal((await fetch(`http://${ex.endpoint}/ping`)).status, 200, 'execd through the signed URL');
    // beyond the tenant's maximum: the SDK surfaces the 400
    await assert.rejects(sbx.getSignedEndpoint(8080, nowS() + 10 * MAX_A), (e) => /SIGNED_URL_TOO_LONG|400/.test(String(e && (e.message + JSON.stringify(e)))));
  } finally {
    await sbx.kill();
    if (typeof sbx.close === 'function') await sbx.close();
  }
}));

// Minting calls `expires <= now` the past; the traffic check must agree: during the second E a URL (and its cookie)
// with expires=E no longer opens the sandbox, and the cookie's Max-Age does not outlive E.
test('expiry boundary: during second E a URL and a cookie with expires=E are expired, as minting says', { timeout: 30000 }, env.wrap(async () => {
  const gw = ctx.gws.memory;
  const a = client(gw, ctx.kA);
  const x = (await a.create()).id;
  const e = nowS() + 2;
  const s = await mint(a, x, 8080, e);
  assertError(await a.get(`/v1/sandboxes/${x}/endpoints/8080?expires=${nowS()}`), 400, 'GATEWAY::INVALID_REQUEST', 'minting expires=now');
  // Max-Age: at most the seconds left until E
  const t0 = Date.now();
  const nav = await h.request(`${gw.httpUrl}/sandboxes/${x}/port/8080-${s.e36}-${s.sig}/`, { headers: { 'Sec-Fetch-Mode': 'navigate' } });
  assert.equal(nav.status, 302, nav.text);
  const maxAge = Number(parseSetCookie(nav.headers['set-cookie'][0]).attrs['max-age']);
  // into second E (with 150 ms of margin both sides)
  while (Date.now() < e * 1000 + 150) await sleep(20);
  const url = await h.request(`${gw.httpUrl}/sandboxes/${x}/port/8080-${s.e36}-${s.sig}/echo/edge`);
  const cookie = await h.request(`${gw.httpUrl}/sandboxes/${x}/port/8080/echo/edge`, { headers: { Cookie: `${COOKIE}=${s.e36}-${s.sig}` } });
  assert.ok(Date.now() < e * 1000 + 850, 'the requests ran within second E');
  const problems = [];
  if (maxAge > e - Math.floor(t0 / 1000)) problems.push(`Max-Age ${maxAge} outlives expires (${e - Math.floor(t0 / 1000)} s left)`);
  for (const [what, r] of [['URL', url], ['cookie', cookie]]) {
    if (r.status !== 401 || !r.json || r.json.code !== 'GATEWAY::SIGNED_URL_EXPIRED') problems.push(`${what} with expires=E during second E: ${r.status} ${r.text.slice(0, 100)}`);
  }
  assert.deepEqual(problems, []);
}));

test('sandgate exits 0 on SIGTERM (both stores)', { timeout: 60000 }, async () => {
  for (const g of Object.values(ctx.gws)) await g.stop();
});
