'use strict';
// Snapshot ownership survives the loss of the store (issue 6, item 6). Tenant A takes a snapshot,
// deletes its source sandbox, and the real redis-server restarts empty: A's snapshot must still be
// A's (GET, list, restore), because the backend keeps the gateway's tenant tag in the snapshot's
// name (gateway/tenancy/snapshot_tag.h); tenants see only the name they gave. Tenant B cannot claim it, not
// by asking first, and not by naming its own snapshot like the tag.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const env = h.env();
const ctx = {};

test.before(async () => {
  await T.redisFor(ctx, { persist: false });
}, { timeout: 30000 });

test.after(async () => {
  await env.cleanup();
  if (ctx.redis) await ctx.redis.kill();
});

const shape = (r, id, as) => ({ status: r.status, contentType: r.headers['content-type'], body: r.buf.toString('latin1').split(id).join(as) });

test('a snapshot whose source sandbox is gone stays its tenant\'s after Redis restarts empty; no other tenant can claim it', { timeout: 90000 }, env.wrap(async (t) => {
  if (ctx.skip) { t.skip(ctx.skip); return; }
  const sim = await env.sim({ name: 'snap-rb', args: ['--snapshot-delay-ms', '50'] });
  const kA = T.newKey('a');
  const kB = T.newKey('b');
  const prefix = `sg-snap-${crypto.randomBytes(3).toString('hex')}:`;
  const gw = await T.startGateway({
    backends: [h.backend(sim)],
    tenants: [
      { id: 'tenant-a', keys: [T.keyHash(kA)], policy: { allow_manual_cleanup: true } },
      { id: 'tenant-b', keys: [T.keyHash(kB)], policy: { allow_manual_cleanup: true } },
    ],
    redis: { address: ctx.redis.address, prefix, connect_timeout: '500ms', command_timeout: '300ms' },
    lifecycle: { reconcile_interval: '1h' },
  });
  env.gateways.push(gw);
  const A = T.client(gw.httpUrl, kA);
  const B = T.client(gw.httpUrl, kB);
  const restoreBody = (sn) => ({ snapshotId: sn, timeout: 600, resourceLimits: { cpu: '100m', memory: '64Mi' } });

  // A: a named and an unnamed snapshot, then the source sandbox is deleted
  const srcA = (await A.create()).id;
  const sn = await A.snapshot(srcA, 'mine');
  const unnamed = await A.snapshot(srcA);
  assert.equal(sn.name, 'mine', `A sees the name it gave, not the tag: ${JSON.stringify(sn)}`);
  assert.equal(unnamed.name, undefined, `an unnamed snapshot shows no name: ${JSON.stringify(unnamed)}`);
  // B: a snapshot whose name imitates A's tag
  const srcB = (await B.create()).id;
  const forgedName = `${T.TAG}=tenant-a;forged`;
  const forged = await B.snapshot(srcB, forgedName);
  assert.equal(forged.name, forgedName, 'B sees exactly the name it gave');
  for (const [c, id] of [[A, srcA], [B, srcB]]) {
    const d = await c.del(`/v1/sandboxes/${id}`);
    assert.ok(d.status === 204 || d.status === 200, `${d.status} ${d.text}`);
  }
  await h.waitFor(async () => (await T.simState(sim)).sandboxes.length === 0, { timeoutMs: 5000, what: 'source sandboxes gone' });
  // what the backend keeps: the gateway's tag first, whatever the tenant asked for after it
  const onBackend = Object.fromEntries((await T.simState(sim)).snapshots.map((s) => [s.id, s.name]));
  assert.equal(onBackend[sn.id], `${T.TAG}=tenant-a;mine`);
  assert.equal(onBackend[forged.id], `${T.TAG}=tenant-b;${forgedName}`);

  // the store is lost
  await ctx.redis.kill();
  ctx.redis = await ctx.redis.restart();
  assert.deepEqual(await ctx.redis.cmd('KEYS', `${prefix}snap:*`), [], 'Redis restarted empty');
  await h.waitFor(async () => (await A.get('/v1/snapshots')).status === 200, { timeoutMs: 10000, what: 'the gateway back on Redis' });

  // B asks first, on every snapshot route: the answer is the missing-snapshot one, and nothing is adopted for B
  for (const p of [(id) => `/v1/snapshots/${id}`]) {
    const m = crypto.randomUUID();
    const a = await B.get(p(sn.id));
    const b = await B.get(p(m));
    assert.deepEqual(shape(a, sn.id, m), shape(b, m, m), 'B GET of A\'s snapshot differs from a missing one');
    assert.equal(a.status, 404);
  }
  const bRestore = await B.post('/v1/sandboxes', restoreBody(sn.id));
  assert.equal(bRestore.status, 404, `B restoring A's snapshot: ${bRestore.status} ${bRestore.text}`);
  const bDel = await B.del(`/v1/snapshots/${sn.id}`);
  assert.equal(bDel.status, 404, `B deleting A's snapshot: ${bDel.status} ${bDel.text}`);
  const bList = await B.get('/v1/snapshots');
  assert.equal(bList.status, 200);
  assert.deepEqual(bList.json.items.map((s) => s.id), [forged.id], `B's list: ${bList.text}`);
  assert.equal(bList.json.items[0].name, forgedName);

  // A: list, GET, restore
  const aList = await A.get('/v1/snapshots');
  assert.equal(aList.status, 200, aList.text);
  assert.deepEqual(aList.json.items.map((s) => s.id).sort(), [sn.id, unnamed.id].sort(), `A's list after the loss: ${aList.text}`);
  assert.equal(aList.json.items.find((s) => s.id === sn.id).name, 'mine');
  const g = await A.get(`/v1/snapshots/${sn.id}`);
  assert.equal(g.status, 200, `A GET its snapshot after the loss: ${g.status} ${g.text}`);
  assert.equal(g.json.name, 'mine');
  assert.equal(g.json.status.state, 'Ready');
  const restored = await A.post('/v1/sandboxes', restoreBody(sn.id));
  assert.equal(restored.status, 202, `A restores from its snapshot after the loss: ${restored.status} ${restored.text}`);
  assert.equal(await ctx.redis.cmd('HGET', `${prefix}snap:${sn.id}`, 'tenant'), 'tenant-a', 'adopted into the store for A');
  // the forged name gives A nothing
  const aForged = await A.get(`/v1/snapshots/${forged.id}`);
  assert.equal(aForged.status, 404, `A GET B's snapshot named like A's tag: ${aForged.text}`);
  const bOwn = await B.get(`/v1/snapshots/${forged.id}`);
  assert.equal(bOwn.status, 200, bOwn.text);
  assert.equal(bOwn.json.name, forgedName);
  // A deletes its snapshot; it is then gone for A
  const aDel = await A.del(`/v1/snapshots/${unnamed.id}`);
  assert.ok(aDel.status === 204 || aDel.status === 200, `${aDel.status} ${aDel.text}`);
  assert.equal((await A.get(`/v1/snapshots/${unnamed.id}`)).status, 404);
  await gw.stop();
}));
