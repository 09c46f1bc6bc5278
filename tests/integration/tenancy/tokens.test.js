'use strict';
// Issue 7: port access tokens (Endpoint.headers → X-Sandgate-Token). The negative matrix on every port route form
// and a WebSocket upgrade (no credential, a token for sandbox X on Y, for another port, tenant B's token on A's
// sandbox, tampered, unknown key id, after delete, after its secret was removed by a reload), rotation through
// SIGHUP, two gateways sharing a real Redis accepting each other's tokens, the header never reaching the sandbox,
// and `sandgate -t` refusing a short secret.
const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const YAML = require('yaml');
const fs = require('node:fs');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const env = h.env();
const ctx = {};
const K1 = 'k1-secret-0123456789abcdef0123456789abcdef';
const K2 = 'k2-secret-fedcba9876543210fedcba9876543210';
const FORMS = ['port', 'proxy', 'v1proxy'];
const INVALID = '{"code":"INVALID_API_KEY","message":"Invalid access token."}';

test.before(async () => {
  ctx.sim = await env.sim({ name: 'tok-neg', args: ['--ready-delay-ms', '0'] });
  ctx.kA = T.newKey('a');
  ctx.kB = T.newKey('b');
  ctx.tenants = [{ id: 'ta', keys: [T.keyHash(ctx.kA)] }, { id: 'tb', keys: [T.keyHash(ctx.kB)] }];
  ctx.gw = await T.startGateway({ backends: [h.backend(ctx.sim)], tenants: ctx.tenants, port_tokens: { secrets: [{ id: 'k1', secret: K1 }] } });
  env.gateways.push(ctx.gw);
  ctx.a = T.client(ctx.gw.httpUrl, ctx.kA);
  ctx.b = T.client(ctx.gw.httpUrl, ctx.kB);
}, { timeout: 60000 });

test.after(async () => { await env.cleanup(); if (ctx.redis) await ctx.redis.stop(); });

async function tokenFor(c, id, port, query) {
  const r = await c.get(`/v1/sandboxes/${id}/endpoints/${port}${query || ''}`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.json.headers), ['X-Sandgate-Token']);
  return r.json.headers['X-Sandgate-Token'];
}

const viaToken = (base, id, port, token, rest, form) => h.request(`${base}${h.portPath(id, port, rest || '/echo/t', form)}`,
  { headers: token === null ? {} : { 'X-Sandgate-Token': token } });

function wsStatus(base, id, token) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}${h.portPath(id, 8080, '/ws')}`, { headers: token ? { 'X-Sandgate-Token': token } : {} });
    ws.on('unexpected-response', (req, res) => { let b = ''; res.on('data', (c) => { b += c; }); res.on('end', () => resolve({ status: res.statusCode, body: b })); });
    ws.on('open', () => ws.send('hi'));
    ws.on('message', (m) => { ws.close(); resolve({ status: 101, body: String(m) }); });
    ws.on('error', (e) => resolve({ status: -1, body: e.message }));
  });
}

test('negative matrix: every failure is 401 with one byte-identical body, on every port form and a WebSocket', { timeout: 60000 }, env.wrap(async () => {
  const x = (await ctx.a.create()).id;
  const y = (await ctx.a.create()).id;
  const bsb = (await ctx.b.create()).id;
  const tx = await tokenFor(ctx.a, x, 8080);
  const tb = await tokenFor(ctx.b, bsb, 8080);
  assert.match(tx, /^sgt1\.k1\.[A-Za-z0-9_-]+\.8080\.[A-Za-z0-9_-]{43}$/);

  // the token works on every form and on a WebSocket, and never reaches the sandbox
  for (const form of FORMS) {
    const r = await viaToken(ctx.gw.httpUrl, x, 8080, tx, '/echo/ok', form);
    assert.equal(r.status, 200, `${form}: ${r.text}`);
    assert.ok(!Object.keys(r.json.headers).some((k) => /sandgate-token|open-sandbox-api-key/i.test(k)), JSON.stringify(r.json.headers));
  }
  assert.deepEqual(await wsStatus(ctx.gw.httpUrl, x, tx), { status: 101, body: 'hi' });
  // key and token together: the key authenticates, neither is forwarded
  const both = await h.request(`${ctx.gw.httpUrl}${h.portPath(x, 8080, '/echo/both')}`, { headers: { 'OPEN-SANDBOX-API-KEY': ctx.kA, 'X-Sandgate-Token': tx } });
  assert.equal(both.status, 200);
  assert.ok(!Object.keys(both.json.headers).some((k) => /sandgate-token|open-sandbox-api-key/i.test(k)));
  // a sandbox service's own Authorization passes through next to a token
  const auth = await h.request(`${ctx.gw.httpUrl}${h.portPath(x, 8080, '/echo/auth')}`, { headers: { Authorization: 'Bearer app-level', 'X-Sandgate-Token': tx } });
  assert.equal(auth.status, 200, auth.text);
  assert.equal(auth.json.headers.authorization, 'Bearer app-level');

  const parts = tx.split('.');
  const mac = parts[4];
  const cases = {
    'token for X on Y': [y, 8080, tx],
    'token for port 8080 on 44772': [x, 44772, tx],
    "tenant B's token on A's sandbox": [x, 8080, tb],
    "B's token, tenant field rewritten to A": [bsb, 8080, tb.split('.').map((p, i) => (i === 2 ? parts[2] : p)).join('.')],
    'tampered MAC': [x, 8080, [...parts.slice(0, 4), (mac[0] === 'A' ? 'B' : 'A') + mac.slice(1)].join('.')],
    'truncated': [x, 8080, tx.slice(0, -1)],
    'unknown key id': [x, 8080, ['sgt1', 'k9', ...parts.slice(2)].join('.')],
    'garbage': [x, 8080, 'not-a-token'],
  };
  for (const [what, [id, port, tok]] of Object.entries(cases)) {
    for (const form of FORMS) {
      const r = await viaToken(ctx.gw.httpUrl, id, port, tok, '/echo/bad', form);
      assert.equal(r.status, 401, `${what} (${form}): ${r.status} ${r.text}`);
      assert.equal(r.text, INVALID, `${what} (${form})`);
    }
  }
  const wsBad = await wsStatus(ctx.gw.httpUrl, y, tx);
  assert.deepEqual(wsBad, { status: 401, body: INVALID });
  // no credential at all: key-auth's answer, as before
  const none = await viaToken(ctx.gw.httpUrl, x, 8080, null);
  assert.equal(none.status, 401);
  assert.equal(none.json.code, 'MISSING_API_KEY');
  assert.equal((await wsStatus(ctx.gw.httpUrl, x, null)).status, 401);
  // a token is no credential for the lifecycle API
  const lc = await h.request(`${ctx.gw.httpUrl}/v1/sandboxes/${x}`, { headers: { 'X-Sandgate-Token': tx } });
  assert.equal(lc.status, 401);
  assert.equal(lc.json.code, 'MISSING_API_KEY');
  // the use_server_proxy form of the endpoint answer carries a token too
  const sp = await ctx.a.get(`/v1/sandboxes/${x}/endpoints/8080?use_server_proxy=true`);
  assert.match(sp.json.endpoint, new RegExp(`/v1/sandboxes/${x}/proxy/8080$`));
  assert.equal((await viaToken(ctx.gw.httpUrl, x, 8080, sp.json.headers['X-Sandgate-Token'], '/echo/sp', 'v1proxy')).status, 200);

  // after delete: the owner check refuses it like the key (404), on every form
  const keyAnswer = await h.request(`${ctx.gw.httpUrl}${h.portPath(y, 8080, '/echo/z')}`, { headers: { 'OPEN-SANDBOX-API-KEY': ctx.kA } });
  assert.equal(keyAnswer.status, 200);
  const ty = await tokenFor(ctx.a, y, 8080);
  assert.equal((await ctx.a.del(`/v1/sandboxes/${y}`)).status, 204);
  for (const form of FORMS) {
    const r = await viaToken(ctx.gw.httpUrl, y, 8080, ty, '/echo/gone', form);
    assert.equal(r.status, 404, `${form}: ${r.text}`);
    assert.deepEqual(r.json, T.sandboxNotFound(y));
  }
  assert.ok(!ctx.gw.stderr().includes(tx) && !ctx.gw.stderr().includes(K1), 'a token or the secret was logged');
}));

test('rotation by SIGHUP: an old-secret token works while its secret is listed, fails once removed', { timeout: 60000 }, env.wrap(async () => {
  const id = (await ctx.a.create()).id;
  const t1 = await tokenFor(ctx.a, id, 8080);
  assert.match(t1, /^sgt1\.k1\./);
  const conf = YAML.parse(fs.readFileSync(ctx.gw.configFile, 'utf8'));
  conf.port_tokens = { secrets: [{ id: 'k2', secret: K2 }, { id: 'k1', secret: K1 }] };
  assert.match(await ctx.gw.reload(conf), /reloaded/);
  const t2 = await tokenFor(ctx.a, id, 8080);
  assert.match(t2, /^sgt1\.k2\./, 'the first secret signs');
  assert.equal((await viaToken(ctx.gw.httpUrl, id, 8080, t1)).status, 200, 'old token during the overlap');
  assert.equal((await viaToken(ctx.gw.httpUrl, id, 8080, t2)).status, 200);
  conf.port_tokens = { secrets: [{ id: 'k2', secret: K2 }] };
  assert.match(await ctx.gw.reload(conf), /reloaded/);
  const old = await viaToken(ctx.gw.httpUrl, id, 8080, t1);
  assert.equal(old.status, 401);
  assert.equal(old.text, INVALID);
  assert.equal((await viaToken(ctx.gw.httpUrl, id, 8080, t2)).status, 200);
  // a secret shorter than 32 bytes: `sandgate -t` refuses it with file:line, and a reload keeps the running config
  conf.port_tokens = { secrets: [{ id: 'k3', secret: 'short' }] };
  const file = h.writeConfig(conf);
  const chk = h.checkConfig(file);
  assert.notEqual(chk.code, 0);
  assert.match(chk.stderr + chk.stdout, /:\d+: port token secret 'k3' must be at least 32 bytes long/);
  assert.ok(!(chk.stderr + chk.stdout).includes('short'.repeat(1) + '\n'), 'the secret is not echoed');
  assert.match(await ctx.gw.reload(conf), /reload of .* failed/);
  assert.equal((await viaToken(ctx.gw.httpUrl, id, 8080, t2)).status, 200);
}));

test('two gateways sharing a real Redis (no configured secret) accept each other\'s tokens', { timeout: 60000 }, env.wrap(async (t) => {
  const store = await T.storeFor('redis');
  if (store.skip) { t.skip(store.skip); return; }
  ctx.redis = store.redis;
  const opts = { backends: [h.backend(ctx.sim)], tenants: ctx.tenants, redis: store.conf };
  const g1 = await T.startGateway(opts);
  env.gateways.push(g1);
  const g2 = await T.startGateway(opts);
  env.gateways.push(g2);
  const c1 = T.client(g1.httpUrl, ctx.kA);
  const id = (await c1.create()).id;
  const tok = await tokenFor(c1, id, 8080);
  const tok2 = await tokenFor(T.client(g2.httpUrl, ctx.kA), id, 8080);
  assert.equal(tok, tok2, 'both gateways sign with the one secret kept in Redis');
  for (const g of [g1, g2]) assert.equal((await viaToken(g.httpUrl, id, 8080, tok)).status, 200);
  const stored = await store.redis.cmd('GET', `${store.conf.prefix}port_token_secret`);
  assert.match(stored, /^s[0-9a-f]{8}:[A-Za-z0-9_-]{43}$/);
  const secret = stored.split(':')[1];
  for (const g of [g1, g2]) {
    assert.match(g.stderr(), /port tokens: using the secret shared through Redis/);
    assert.ok(!g.stderr().includes(secret), 'the shared secret was logged');
  }
  // a gateway restarted on the same store still accepts the token minted before
  const g1b = await g1.restart();
  env.gateways.push(g1b);
  assert.equal((await viaToken(g1b.httpUrl, id, 8080, tok)).status, 200);
  // a gateway on memory (generated secret) does not
  const lone = await T.startGateway({ backends: [h.backend(ctx.sim)], tenants: ctx.tenants });
  env.gateways.push(lone);
  assert.match(lone.stderr(), /tokens will not survive a restart/);
  const r = await viaToken(lone.httpUrl, id, 8080, tok);
  assert.equal(r.status, 401);
  assert.equal(r.text, INVALID);
}));
