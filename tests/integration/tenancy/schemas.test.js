'use strict';
// The gateway's own response bodies follow the OpenSandbox lifecycle spec (tests/specs/sandbox-lifecycle.yml),
// checked with the validator the simulator tests use (tests/simulator/testkit.js, SpecValidator): lists the
// gateway merges across backends and filters by tenant, endpoints it rewrites to point at itself, and the
// errors it answers itself (unknown or foreign ids, missing key, unknown route, refused create).
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const T = require('../lib/tenancy');
const { loadSpecs } = require('../../simulator/testkit');

const env = h.env();
const ctx = {};
const spec = loadSpecs().lifecycle;

// asserts that r (an h.request result) is a valid answer of `method template` with the expected status
function valid(method, template, r, status) {
  assert.equal(r.status, status, `${method} ${template}: ${r.status} ${r.text.slice(0, 300)}`);
  assert.deepEqual(spec.check(method, template, { status: r.status, headers: r.headers, body: r.buf }), []);
}

// for answers on paths the spec does not have: the body is still an ErrorResponse
function validError(r, status) {
  assert.equal(r.status, status, r.text.slice(0, 300));
  assert.match(String(r.headers['content-type']), /^application\/json/);
  const v = spec.componentValidator('ErrorResponse');
  assert.ok(v(r.json), `not an ErrorResponse: ${spec.ajv.errorsText(v.errors)} in ${r.text.slice(0, 300)}`);
  assert.match(r.json.code, /^GATEWAY::/);
}

test.before(async () => {
  ctx.sims = [await env.sim({ name: 'schema-a' }), await env.sim({ name: 'schema-b' })];
  ctx.kA = T.newKey('a');
  ctx.kB = T.newKey('b');
  ctx.gw = await T.startGateway({
    backends: ctx.sims.map((s) => h.backend(s)),
    tenants: [
      { id: 'tenant-a', keys: [T.keyHash(ctx.kA)], policy: { allow_manual_cleanup: true, max_timeout: '1h' } },
      { id: 'tenant-b', keys: [T.keyHash(ctx.kB)], policy: { allow_manual_cleanup: true } },
    ],
  });
  env.gateways.push(ctx.gw);
  ctx.A = T.client(ctx.gw.httpUrl, ctx.kA);
  ctx.B = T.client(ctx.gw.httpUrl, ctx.kB);
  ctx.none = T.client(ctx.gw.httpUrl, null);
}, { timeout: 60000 });

test.after(() => env.cleanup());

test('merged lists (sandboxes, snapshots), filtered and paged, follow ListSandboxesResponse / ListSnapshotsResponse', { timeout: 60000 }, env.wrap(async () => {
  ctx.a1 = await ctx.A.create({ metadata: { team: 'x' } });
  ctx.a2 = await ctx.A.create({});
  ctx.b1 = await ctx.B.create({});
  await ctx.A.snapshot(ctx.a1.id, 'snap-a');
  const all = await ctx.A.get('/v1/sandboxes');
  valid('GET', '/sandboxes', all, 200);
  assert.deepEqual(all.json.items.map((s) => s.id).sort(), [ctx.a1.id, ctx.a2.id].sort());
  valid('GET', '/sandboxes', await ctx.A.get('/v1/sandboxes?pageSize=1&page=2'), 200);
  valid('GET', '/sandboxes', await ctx.A.get(`/v1/sandboxes?metadata=${encodeURIComponent('team=x')}&state=Running`), 200);
  valid('GET', '/sandboxes', await ctx.B.get('/v1/sandboxes?page=9'), 200);
  const snaps = await ctx.A.get('/v1/snapshots');
  valid('GET', '/snapshots', snaps, 200);
  assert.equal(snaps.json.items.length, 1);
  valid('GET', '/snapshots', await ctx.B.get('/v1/snapshots'), 200);
}));

test('a sandbox and its rewritten endpoint follow Sandbox / Endpoint', { timeout: 30000 }, env.wrap(async () => {
  valid('GET', '/sandboxes/{sandboxId}', await ctx.A.get(`/v1/sandboxes/${ctx.a1.id}`), 200);
  const ep = await ctx.A.get(`/v1/sandboxes/${ctx.a1.id}/endpoints/8080`);
  valid('GET', '/sandboxes/{sandboxId}/endpoints/{port}', ep, 200);
  assert.ok(ep.json.endpoint.startsWith(`127.0.0.1:${ctx.gw.ports.http}/`), `rewritten to the gateway: ${ep.json.endpoint}`);
}));

test('the gateway\'s own errors follow ErrorResponse and the statuses the spec declares', { timeout: 30000 }, env.wrap(async () => {
  // unknown id and another tenant's id: the same 404
  valid('GET', '/sandboxes/{sandboxId}', await ctx.A.get('/v1/sandboxes/no-such-sandbox'), 404);
  valid('GET', '/sandboxes/{sandboxId}', await ctx.A.get(`/v1/sandboxes/${ctx.b1.id}`), 404);
  valid('DELETE', '/sandboxes/{sandboxId}', await ctx.A.del(`/v1/sandboxes/${ctx.b1.id}`), 404);
  valid('GET', '/sandboxes/{sandboxId}/endpoints/{port}', await ctx.A.get(`/v1/sandboxes/${ctx.b1.id}/endpoints/8080`), 404);
  valid('GET', '/snapshots/{snapshotId}', await ctx.B.get('/v1/snapshots/no-such-snapshot'), 404);
  // no key, bad key
  valid('GET', '/sandboxes', await ctx.none.get('/v1/sandboxes'), 401);
  valid('GET', '/sandboxes', await T.client(ctx.gw.httpUrl, 'not-a-key').get('/v1/sandboxes'), 401);
  // a create over the tenant's max_timeout: refused by the gateway (403 TIMEOUT_TOO_LONG, a status the spec does
  // not list for POST /sandboxes: the body is still an ErrorResponse)
  const refused = await ctx.A.post('/v1/sandboxes', { image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], timeout: 7200, resourceLimits: { cpu: '500m', memory: '512Mi' } });
  assert.equal(refused.json.code, 'GATEWAY::TIMEOUT_TOO_LONG', refused.text);
  validError(refused, 403);
  // paths outside the spec: still ErrorResponse bodies
  validError(await ctx.A.get('/v1/no-such-route'), 404);
  validError(await ctx.A.get(`/sandboxes/${ctx.b1.id}/port/8080/echo/x`), 404);
}));
