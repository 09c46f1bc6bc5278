'use strict';
// Mapping rebuild: sandboxes created through a first gateway (memory store) are tagged on the
// backends; that gateway is stopped and a fresh one (empty memory store) starts in front of the
// same simulators. Every tenant sees exactly its own sandboxes again (GET, list, port traffic,
// delete), a foreign sandbox is still the missing-sandbox 404, before and after the first
// reconciliation.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const env = h.env();
const ctx = { own: { 'tenant-a': [], 'tenant-b': [] } };

function gatewayOpts(reconcile) {
  return {
    backends: ctx.sims.map((s) => h.backend(s)),
    tenants: [
      { id: 'tenant-a', keys: [T.keyHash(ctx.kA)], policy: { allow_manual_cleanup: true } },
      { id: 'tenant-b', keys: [T.keyHash(ctx.kB)], policy: { allow_manual_cleanup: true } },
    ],
    lifecycle: { reconcile_interval: reconcile },
  };
}

test.before(async () => {
  ctx.sims = [];
  for (const n of ['rb-a', 'rb-b', 'rb-c']) ctx.sims.push(await env.sim({ name: n, args: ['--snapshot-delay-ms', '50'] }));
  ctx.kA = T.newKey('a');
  ctx.kB = T.newKey('b');
  const gw1 = await T.startGateway(gatewayOpts('1h'));
  env.gateways.push(gw1);
  const A = T.client(gw1.httpUrl, ctx.kA);
  const B = T.client(gw1.httpUrl, ctx.kB);
  for (let i = 0; i < 3; i++) {
    ctx.own['tenant-a'].push((await A.create({ metadata: { n: String(i) } })).id);
    ctx.own['tenant-b'].push((await B.create({ metadata: { n: String(i) } })).id);
  }
  ctx.snapA = (await A.snapshot(ctx.own['tenant-a'][0])).id;
  ctx.untagged = await h.createSandbox(ctx.sims[1]);
  const z = await h.request(`${ctx.sims[2].base}/v1/sandboxes`, {
    method: 'POST', headers: ctx.sims[2].headers(),
    json: { image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], timeout: 600, resourceLimits: { cpu: '100m', memory: '64Mi' }, metadata: { [T.TAG]: 'tenant-z' } },
  });
  ctx.unknownTenant = z.json.id;
  await gw1.stop();
  // the state the rebuild must reproduce is only on the backends now
  const all = await T.allSandboxes(ctx.sims);
  for (const t of ['tenant-a', 'tenant-b']) for (const id of ctx.own[t]) assert.equal(all[id].sb.metadata[T.TAG], t);
  assert.equal(new Set(Object.values(all).map((x) => x.sim)).size, 3, 'sandboxes spread over the three backends');
  ctx.gw = await T.startGateway(gatewayOpts('1h'));
  env.gateways.push(ctx.gw);
  ctx.A = T.client(ctx.gw.httpUrl, ctx.kA);
  ctx.B = T.client(ctx.gw.httpUrl, ctx.kB);
}, { timeout: 60000 });

test.after(() => env.cleanup());

const shape = (r, id, as) => ({ status: r.status, contentType: r.headers['content-type'], body: r.buf.toString('latin1').split(id).join(as) });

async function checkEveryTenant(what) {
  const clients = { 'tenant-a': ctx.A, 'tenant-b': ctx.B };
  const other = { 'tenant-a': 'tenant-b', 'tenant-b': 'tenant-a' };
  for (const t of ['tenant-a', 'tenant-b']) {
    const c = clients[t];
    const foreign = clients[other[t]];
    // the foreign tenant asks first for one of them (so the gateway's first look-up is the foreign one)
    const first = ctx.own[t][0];
    const m = crypto.randomUUID();
    const rf = await foreign.get(`/v1/sandboxes/${first}`);
    const rm = await foreign.get(`/v1/sandboxes/${m}`);
    assert.deepEqual(shape(rf, first, m), shape(rm, m, m), `${what}: foreign GET before the owner's differs from a missing sandbox`);
    for (const id of ctx.own[t]) {
      const g = await c.get(`/v1/sandboxes/${id}`);
      assert.equal(g.status, 200, `${what}: ${t} GET own ${id}: ${g.status} ${g.text}`);
      const e = await c.get(`/sandboxes/${id}/port/8080/echo/rebuilt`);
      assert.equal(e.status, 200, `${what}: ${t} port traffic to own ${id}: ${e.status} ${e.text}`);
      assert.equal(e.json.path, '/echo/rebuilt');
      // and the other tenant still gets the missing-sandbox answer, on every route form
      for (const p of [`/v1/sandboxes/${id}`, `/v1/sandboxes/${id}/endpoints/8080`, `/sandboxes/${id}/port/8080/echo/x`, `/v1/sandboxes/${id}/diagnostics/logs?scope=all`]) {
        const mm = crypto.randomUUID();
        const a = await foreign.get(p);
        const b = await foreign.get(p.split(id).join(mm));
        assert.deepEqual(shape(a, id, mm), shape(b, mm, mm), `${what}: ${other[t]} on ${p}`);
        assert.equal(a.status, 404);
      }
    }
    const list = await c.listAll('');
    assert.deepEqual(list.map((x) => x.id).sort(), [...ctx.own[t]].sort(), `${what}: ${t}'s list`);
    for (const id of [ctx.untagged, ctx.unknownTenant]) {
      const r = await c.get(`/v1/sandboxes/${id}`);
      assert.equal(r.status, 404, `${what}: ${t} sees a sandbox that is not its own: ${r.text}`);
    }
  }
}

test('right after a restart on an empty store: every tenant sees exactly its own sandboxes', { timeout: 60000 }, env.wrap(async () => {
  await checkEveryTenant('before reconciliation');
}));

test('after the first reconciliation: still exactly its own', { timeout: 60000 }, env.wrap(async () => {
  await h.sleep(2500);
  await checkEveryTenant('after reconciliation');
}));

test('snapshots of a tenant\'s sandboxes are its own again after the rebuild (list, GET, restore), not the other tenant\'s', { timeout: 60000 }, env.wrap(async () => {
  const list = await ctx.A.get('/v1/snapshots');
  assert.equal(list.status, 200, list.text);
  const listed = list.json.items.map((s) => s.id);
  const g = await ctx.A.get(`/v1/snapshots/${ctx.snapA}`);
  const restore = await ctx.A.post('/v1/sandboxes', { snapshotId: ctx.snapA, timeout: 600, resourceLimits: { cpu: '100m', memory: '64Mi' } });
  const b = await ctx.B.get(`/v1/snapshots/${ctx.snapA}`);
  assert.equal(b.status, 404, b.text);
  assert.ok(!(await ctx.B.get('/v1/snapshots')).text.includes(ctx.snapA));
  assert.deepEqual(
    { listed: listed.includes(ctx.snapA), get: g.status, restore: restore.status },
    { listed: true, get: 200, restore: 202 },
    `A's snapshot after the rebuild: list ${list.text}; GET ${g.status} ${g.text}; restore ${restore.status} ${restore.text}`,
  );
}));

test('a tenant deletes its own rebuilt sandbox; it is then gone for everyone', { timeout: 30000 }, env.wrap(async () => {
  const id = ctx.own['tenant-b'][2];
  const no = await ctx.A.del(`/v1/sandboxes/${id}`);
  assert.equal(no.status, 404, no.text);
  assert.ok((await T.allSandboxes(ctx.sims))[id], 'the other tenant\'s DELETE removed it');
  const d = await ctx.B.del(`/v1/sandboxes/${id}`);
  assert.ok(d.status === 204 || d.status === 200, `${d.status} ${d.text}`);
  await h.waitFor(async () => !(await T.allSandboxes(ctx.sims))[id], { timeoutMs: 5000, what: 'gone on the backend' });
  assert.equal((await ctx.B.get(`/v1/sandboxes/${id}`)).status, 404);
  assert.ok(!(await ctx.B.listAll('')).some((x) => x.id === id));
}));
