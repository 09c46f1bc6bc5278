'use strict';
// Sandbox endpoints named by host name instead of an IP address (Kubernetes runtimes report
// service names; a Docker runtime may report its configured host name). The gateway resolves the
// name off the event loop and caches the answer with the endpoint. A name that does not resolve
// gives a clear 502 naming the host, and the gateway keeps serving.
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const env = h.env();
const ctx = {};

test.before(async () => {
  ctx.named = await env.sim({ name: 'ep-named', args: ['--sandbox-host', 'localhost'] });
  ctx.bogus = await env.sim({ name: 'ep-bogus', args: ['--sandbox-host', 'no-such-host.invalid'] });
  ctx.kN = T.newKey('named');
  ctx.kB = T.newKey('bogus');
  ctx.gw = await T.startGateway({
    backends: [h.backend(ctx.named, { labels: { kind: 'named' } }), h.backend(ctx.bogus, { labels: { kind: 'bogus' } })],
    tenants: [
      { id: 'named', keys: [T.keyHash(ctx.kN)], backend_labels: { kind: 'named' }, policy: { allow_manual_cleanup: true } },
      { id: 'bogus', keys: [T.keyHash(ctx.kB)], backend_labels: { kind: 'bogus' }, policy: { allow_manual_cleanup: true } },
    ],
  });
  env.gateways.push(ctx.gw);
  ctx.N = T.client(ctx.gw.httpUrl, ctx.kN);
  ctx.B = T.client(ctx.gw.httpUrl, ctx.kB);
}, { timeout: 60000 });

test.after(() => env.cleanup());

test('an endpoint named "localhost" is resolved and port traffic flows (all three route forms, repeated)', { timeout: 30000 }, env.wrap(async () => {
  const sb = await ctx.N.create({});
  // the backend really reports a name, not an address
  const raw = await h.request(`${ctx.named.url}/v1/sandboxes/${sb.id}/endpoints/8080`, { headers: { 'OPEN-SANDBOX-API-KEY': ctx.named.apiKey } });
  assert.equal(raw.status, 200, raw.text);
  assert.match(raw.json.endpoint, /^localhost:\d+\//);
  for (let i = 0; i < 3; i++) {
    for (const p of [`/sandboxes/${sb.id}/port/8080/echo/n${i}`, `/sandboxes/${sb.id}/proxy/8080/echo/n${i}`, `/v1/sandboxes/${sb.id}/proxy/8080/echo/n${i}`]) {
      const r = await ctx.N.get(p);
      assert.equal(r.status, 200, `${p}: ${r.text}`);
      assert.equal(r.json.method, 'GET');
      assert.match(r.json.path, new RegExp(`/echo/n${i}$`));
    }
  }
}));

test('an endpoint whose name does not resolve: 502 UPSTREAM_CONNECT_FAILED naming the host; the gateway keeps serving', { timeout: 30000 }, env.wrap(async () => {
  const sb = await ctx.B.create({});
  for (let i = 0; i < 2; i++) {
    const r = await ctx.B.get(`/sandboxes/${sb.id}/port/8080/echo/x`);
    assert.equal(r.status, 502, r.text);
    assert.ok(T.isJsonError(r), r.text);
    assert.equal(r.json.code, 'GATEWAY::UPSTREAM_CONNECT_FAILED');
    assert.match(r.json.message, /no-such-host\.invalid/);
  }
  assert.equal((await h.request(`${ctx.gw.httpUrl}/health`)).status, 200);
  const sbN = await ctx.N.create({});
  assert.equal((await ctx.N.get(`/sandboxes/${sbN.id}/port/8080/echo/still`)).status, 200);
}));
