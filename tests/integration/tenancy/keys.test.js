'use strict';
// Tenant keys: missing/unknown/expired/revoked keys, both header forms, expiry while cached, and
// the key is never forwarded (backend request log, and the headers the sandbox's echo service saw).
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const env = h.env();
const ctx = {};
const SOON_MS = 5000;

test.before(async () => {
  const args = ['--command-grace-ms', '50'];
  ctx.sims = [await env.sim({ name: 'keys-a', args }), await env.sim({ name: 'keys-b', args })];
  ctx.k = {
    valid: T.newKey('valid'), named: T.newKey('named'), expired: T.newKey('expired'), revoked: T.newKey('revoked'),
    soon: T.newKey('soon'), unknown: T.newKey('unknown'), b: T.newKey('b'),
  };
  ctx.soonAt = Date.now() + SOON_MS;
  ctx.gw = await T.startGateway({
    backends: ctx.sims.map((s) => h.backend(s)),
    tenants: [
      {
        id: 'tenant-a',
        keys: [
          T.keyHash(ctx.k.valid),
          { hash: T.keyHash(ctx.k.named), name: 'ci', expires_at: '2099-12-31T23:59:59Z' },
          { hash: T.keyHash(ctx.k.expired), name: 'old', expires_at: '2020-01-01T00:00:00Z' },
          { hash: T.keyHash(ctx.k.revoked), name: 'leaked', revoked: true },
          { hash: T.keyHash(ctx.k.soon), name: 'soon', expires_at: new Date(ctx.soonAt).toISOString().replace(/\.\d+Z$/, 'Z') },
        ],
        policy: { allow_manual_cleanup: true },
      },
      { id: 'tenant-b', keys: [{ hash: T.keyHash(ctx.k.b) }] },
    ],
  });
  env.gateways.push(ctx.gw);
  ctx.A = T.client(ctx.gw.httpUrl, ctx.k.valid);
  ctx.sbx = (await ctx.A.create({})).id;
}, { timeout: 60000 });

test.after(() => env.cleanup());

const routes = () => [
  ['GET', '/v1/sandboxes'],
  ['POST', '/v1/sandboxes'],
  ['GET', `/v1/sandboxes/${ctx.sbx}`],
  ['DELETE', `/v1/sandboxes/${ctx.sbx}`],
  ['GET', '/v1/snapshots'],
  ['GET', `/v1/sandboxes/${ctx.sbx}/endpoints/8080`],
  ['GET', `/sandboxes/${ctx.sbx}/port/8080/echo/x`],
  ['GET', `/sandboxes/${ctx.sbx}/proxy/8080/echo/x`],
  ['GET', `/v1/sandboxes/${ctx.sbx}/proxy/8080/echo/x`],
];

const call = (method, p, headers) => h.request(`${ctx.gw.httpUrl}${p}`, { method, headers, body: method === 'POST' ? Buffer.from('{}') : undefined });

test('no key: 401 MISSING_API_KEY on lifecycle and port routes', { timeout: 30000 }, env.wrap(async () => {
  for (const headers of [{}, { 'OPEN-SANDBOX-API-KEY': '' }, { Authorization: 'Bearer ' }, { Authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }]) {
    for (const [m, p] of routes()) {
      const r = await call(m, p, headers);
      assert.equal(r.status, 401, `${m} ${p} ${JSON.stringify(headers)}: ${r.status} ${r.text}`);
      assert.equal(r.json && r.json.code, 'MISSING_API_KEY', `${m} ${p}: ${r.text}`);
      assert.equal(typeof r.json.message, 'string');
    }
  }
  assert.ok((await T.allSandboxes(ctx.sims))[ctx.sbx], 'the sandbox survived the unauthenticated DELETE');
}));

test('unknown, expired and revoked keys: 401 INVALID_API_KEY, in both header forms, cached or not', { timeout: 30000 }, env.wrap(async () => {
  for (const name of ['unknown', 'expired', 'revoked']) {
    for (let round = 0; round < 2; round++) {
      for (const headers of [{ 'OPEN-SANDBOX-API-KEY': ctx.k[name] }, { Authorization: `Bearer ${ctx.k[name]}` }]) {
        for (const [m, p] of routes()) {
          const r = await call(m, p, headers);
          assert.equal(r.status, 401, `${name} key, ${m} ${p} ${Object.keys(headers)[0]}: ${r.status} ${r.text}`);
          assert.equal(r.json && r.json.code, 'INVALID_API_KEY', `${name} key ${m} ${p}: ${r.text}`);
        }
      }
    }
  }
  assert.ok((await T.allSandboxes(ctx.sims))[ctx.sbx], 'the sandbox survived the DELETE with a bad key');
}));

test('Authorization: Bearer works like OPEN-SANDBOX-API-KEY (lifecycle, create, port traffic), several keys per tenant', { timeout: 30000 }, env.wrap(async () => {
  for (const key of [ctx.k.valid, ctx.k.named]) {
    const headers = { Authorization: `Bearer ${key}` };
    const l = await call('GET', '/v1/sandboxes', headers);
    assert.equal(l.status, 200, l.text);
    assert.ok(l.json.items.some((x) => x.id === ctx.sbx));
    const g = await call('GET', `/v1/sandboxes/${ctx.sbx}`, headers);
    assert.equal(g.status, 200, g.text);
    for (const form of ['port', 'proxy', 'v1proxy']) {
      const e = await call('GET', h.portPath(ctx.sbx, 8080, '/echo/bearer', form), headers);
      assert.equal(e.status, 200, `${form}: ${e.text}`);
    }
    const c = await h.request(`${ctx.gw.httpUrl}/v1/sandboxes`, {
      method: 'POST', headers, json: { image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], timeout: 600, resourceLimits: { cpu: '100m', memory: '64Mi' } },
    });
    assert.equal(c.status, 202, c.text);
    assert.equal((await T.allSandboxes(ctx.sims))[c.json.id].sb.metadata[T.TAG], 'tenant-a');
    assert.equal((await call('DELETE', `/v1/sandboxes/${c.json.id}`, headers)).status, 204);
  }
  // tenant B's key opens B, not A
  const b = await call('GET', `/v1/sandboxes/${ctx.sbx}`, { Authorization: `Bearer ${ctx.k.b}` });
  assert.equal(b.status, 404, b.text);
}));

test('the Authorization scheme is case-insensitive (RFC 7235): "BEARER key" and "bearer key"', { timeout: 15000 }, env.wrap(async () => {
  for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
    const r = await call('GET', '/v1/sandboxes', { Authorization: `${scheme} ${ctx.k.valid}` });
    assert.equal(r.status, 200, `${scheme}: ${r.status} ${r.text}`);
  }
}));

test('a key that expires while in use (and cached) is refused from its expires_at on', { timeout: 30000 }, env.wrap(async () => {
  const headers = { 'OPEN-SANDBOX-API-KEY': ctx.k.soon };
  assert.ok(Date.now() < ctx.soonAt - 1000, 'test setup took too long to check the key before it expires');
  for (let i = 0; i < 3; i++) {
    const r = await call('GET', '/v1/sandboxes', headers);
    assert.equal(r.status, 200, r.text);
  }
  await h.sleep(Math.max(0, ctx.soonAt - Date.now()) + 1100);
  for (let i = 0; i < 4; i++) {
    const r = await call('GET', '/v1/sandboxes', i % 2 ? { Authorization: `Bearer ${ctx.k.soon}` } : headers);
    assert.equal(r.status, 401, `after expires_at: ${r.status} ${r.text}`);
    assert.equal(r.json.code, 'INVALID_API_KEY');
  }
}));

// Where in these headers (object and raw pairs) a tenant key appears.
function keyLeaks(where, headersObj, rawHeaders, keys) {
  const out = [];
  const pairs = Object.entries(headersObj || {}).concat(rawHeaders || []);
  for (const [name, value] of pairs) {
    for (const k of keys) if (String(value).includes(k)) out.push(`${where}: header ${name}: ${value}`);
  }
  return [...new Set(out)];
}

test('the tenant key never reaches a backend or a sandbox', { timeout: 60000 }, env.wrap(async () => {
  const keys = [ctx.k.valid, ctx.k.named];
  for (const s of ctx.sims) await s.clearRequests();
  const headerSets = [
    { 'OPEN-SANDBOX-API-KEY': ctx.k.valid },
    { Authorization: `Bearer ${ctx.k.valid}` },
    { Authorization: `Bearer ${ctx.k.named}` },
    { 'OPEN-SANDBOX-API-KEY': ctx.k.valid, Authorization: `Bearer ${ctx.k.valid}` },
    { 'OPEN-SANDBOX-API-KEY': ctx.k.named, Authorization: `Bearer ${ctx.k.valid}` },
  ];
  const echoes = [];
  for (const headers of headerSets) {
    const hn = Object.keys(headers).join('+');
    // lifecycle: create, get, patch, list, endpoints, diagnostics, snapshot, renew, delete
    const c = await h.request(`${ctx.gw.httpUrl}/v1/sandboxes`, {
      method: 'POST', headers, json: { image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], timeout: 600, resourceLimits: { cpu: '100m', memory: '64Mi' } },
    });
    assert.equal(c.status, 202, `${hn}: ${c.text}`);
    const id = c.json.id;
    const A = T.client(ctx.gw.httpUrl, null, headers);
    await A.waitState(id, 'Running');
    assert.equal((await A.patch(`/v1/sandboxes/${id}/metadata`, { k: 'v' })).status, 200);
    assert.equal((await A.get('/v1/sandboxes?state=Running')).status, 200);
    assert.equal((await A.get(`/v1/sandboxes/${id}/diagnostics/events?scope=lifecycle`)).status, 200);
    assert.ok((await A.post(`/v1/sandboxes/${id}/renew-expiration`, { expiresAt: new Date(Date.now() + 7200e3).toISOString() })).status < 300);
    // port traffic in every form, to the echo service and to execd
    for (const form of ['port', 'proxy', 'v1proxy']) {
      const e = await A.get(h.portPath(id, 8080, '/echo/k', form));
      assert.equal(e.status, 200, `${hn} ${form}: ${e.text}`);
      echoes.push([`${hn} ${form}`, e.json]);
      const p = await A.post(h.portPath(id, 8080, '/echo/post', form), { x: 1 });
      assert.equal(p.status, 200);
      echoes.push([`${hn} ${form} POST`, p.json]);
      const cmd = await A.post(h.portPath(id, 44772, '/command', form), { command: 'echo hi' });
      assert.equal(cmd.status, 200, `${hn} ${form} execd: ${cmd.status} ${cmd.text}`);
    }
    assert.equal((await A.del(`/v1/sandboxes/${id}`)).status, 204);
  }
  const leaks = [];
  for (const [where, e] of echoes) leaks.push(...keyLeaks(`sandbox echo service (${where})`, e.headers, e.rawHeaders, keys));
  let n = 0;
  for (const s of ctx.sims) {
    const log = await s.requests(null, 0);
    for (const e of log.items) {
      n++;
      leaks.push(...keyLeaks(`backend ${s.name} ${e.method} ${e.url}`, e.headers, null, keys));
      if (e.url.startsWith('/v1/') || e.url.startsWith('/sandboxes')) {
        assert.equal(e.headers['open-sandbox-api-key'], s.apiKey, `${s.name} ${e.method} ${e.url}: not the backend's own key`);
      }
    }
  }
  assert.deepEqual(leaks, [], `the tenant key was forwarded ${leaks.length} time(s):\n${leaks.join('\n')}`);
  assert.ok(n > 20, `the backends saw only ${n} requests`);
}));
