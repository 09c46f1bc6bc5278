'use strict';
// No ghost records after a Redis stall (issue 6, item 10). A real redis-server is stopped (SIGSTOP)
// for 2 s while 40 creates run. Creates whose record write got no answer are deleted again on the
// backend (503 GATEWAY::STORE_UNAVAILABLE to the client); their record writes still sit in Redis's
// socket buffers and run when Redis resumes. The gateway purges those records afterwards, so once
// things settle every sandbox record in Redis names a sandbox the backend has. Reconciliation is
// off (1h) so that only the compensation path can clean up.
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
  if (ctx.redis && ctx.redis.alive()) {
    try { ctx.redis.proc.kill('SIGCONT'); } catch (_) { /* gone */ }
  }
  await env.cleanup();
  if (ctx.redis) await ctx.redis.kill();
});

test('Redis stopped for 2 s during 40 creates: afterwards no record names a sandbox the backend does not have', { timeout: 90000 }, env.wrap(async (t) => {
  if (ctx.skip) { t.skip(ctx.skip); return; }
  const sim = await env.sim({ name: 'stall' });
  const kA = T.newKey('a');
  const prefix = `sg-stall-${crypto.randomBytes(3).toString('hex')}:`;
  const gw = await T.startGateway({
    backends: [h.backend(sim)],
    workers: 2,
    tenants: [{ id: 'tenant-a', keys: [T.keyHash(kA)], policy: { allow_manual_cleanup: true } }],
    redis: { address: ctx.redis.address, prefix, connect_timeout: '500ms', command_timeout: '300ms' },
    lifecycle: { reconcile_interval: '1h' },
  });
  env.gateways.push(gw);
  const A = T.client(gw.httpUrl, kA);
  const body = { image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], timeout: 600, resourceLimits: { cpu: '100m', memory: '64Mi' } };
  assert.equal((await A.post('/v1/sandboxes', body)).status, 202, 'a create works before the stall');

  // 40 creates over ~3 s, 4 at a time; Redis is stopped from 0.4 s to 2.4 s
  const results = [];
  let next = 0;
  const worker = async () => {
    while (next < 40) {
      next++;
      const r = await A.post('/v1/sandboxes', body, { timeoutMs: 15000 });
      results.push(r);
      await h.sleep(250);
    }
  };
  const stall = (async () => {
    await h.sleep(400);
    ctx.redis.proc.kill('SIGSTOP');
    await h.sleep(2000);
    ctx.redis.proc.kill('SIGCONT');
  })();
  await Promise.all([worker(), worker(), worker(), worker(), stall]);
  const statuses = {};
  for (const r of results) statuses[r.status] = (statuses[r.status] || 0) + 1;
  t.diagnostic(`create statuses: ${JSON.stringify(statuses)}`);
  assert.equal(results.length, 40);
  for (const r of results) assert.ok(r.status === 202 || r.status === 503, `unexpected create answer ${r.status} ${r.text}`);
  const compensated = results.filter((r) => r.status === 503 && r.json && r.json.code === 'GATEWAY::STORE_UNAVAILABLE');
  assert.ok(compensated.length > 0, 'the stall made no create fail: the test did not exercise compensation');

  // Redis has run the queued writes by now; give the purges two passes (1 s apart) and the backend deletes time
  const ghosts = async () => {
    const live = new Set((await T.simState(sim)).sandboxes.filter((s) => s.state !== 'Terminated').map((s) => s.id));
    const keys = await ctx.redis.cmd('KEYS', `${prefix}sbx:*`);
    const all = await ctx.redis.cmd('SMEMBERS', `${prefix}idx:sbx:all`);
    const tenantSet = await ctx.redis.cmd('SMEMBERS', `${prefix}tenant:tenant-a:sbx`);
    return {
      records: keys.map((k) => k.slice(`${prefix}sbx:`.length)).filter((id) => !live.has(id)),
      indexed: all.filter((id) => !live.has(id)),
      tenantIndexed: tenantSet.filter((id) => !live.has(id)),
      live: live.size,
      keys: keys.length,
    };
  };
  let last;
  try {
    await h.waitFor(async () => {
      last = await ghosts();
      return last.records.length === 0 && last.indexed.length === 0 && last.tenantIndexed.length === 0;
    }, { timeoutMs: 8000, intervalMs: 500, what: 'no record for a sandbox the backend does not have' });
  } catch (e) {
    throw new Error(`${e.message}: ${JSON.stringify(last)}`);
  }
  // and it stays so (a late write does not come back), while every created sandbox keeps its record
  await h.sleep(2500);
  last = await ghosts();
  assert.deepEqual(last.records, [], `ghost records: ${JSON.stringify(last)}`);
  const created = results.filter((r) => r.status === 202).map((r) => r.json.id);
  for (const id of created) {
    const g = await A.get(`/v1/sandboxes/${id}`);
    assert.equal(g.status, 200, `created ${id} must stay usable: ${g.status} ${g.text}`);
  }
  for (const r of compensated) assert.ok(!r.text.includes('"id"'), r.text);
  t.diagnostic(`after the stall: ${last.keys} records, ${last.live} sandboxes on the backend, ${compensated.length} creates compensated`);
  await gw.stop();
}));
