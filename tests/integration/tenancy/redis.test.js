'use strict';
// The Redis store: two sandgate processes sharing one real redis-server (AOF, fsync always, so a
// Redis restart keeps the data). A sandbox created through one gateway is usable through the
// other; a gateway restart keeps everything; Redis killed mid-run gives a clear 503
// GATEWAY::STORE_UNAVAILABLE where the store is needed (create, first look-up of an id) while
// cached look-ups keep working; Redis restarted gives full recovery with no lost mapping.
// Skipped, with the reason, while a gateway with a `redis:` section cannot record and resolve a
// sandbox (probe in lib/tenancy.js).
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const env = h.env();
const ctx = {};
const guard = T.skippable(env, ctx);

function gwOpts(workers) {
  return {
    backends: ctx.sims.map((s) => h.backend(s)),
    workers,
    tenants: [
      { id: 'tenant-a', keys: [T.keyHash(ctx.kA)], policy: { allow_manual_cleanup: true } },
      { id: 'tenant-b', keys: [T.keyHash(ctx.kB)], policy: { allow_manual_cleanup: true } },
    ],
    redis: { address: ctx.redis.address, prefix: ctx.prefix, connect_timeout: '500ms', command_timeout: '300ms' },
    lifecycle: { reconcile_interval: '1h' },
  };
}

test.before(async () => {
  if (!(await T.redisFor(ctx, { persist: true }))) return;
  // the Redis store is part of the product: a gateway that cannot use it fails the suite
  const reason = await T.probeRedisStore(ctx.redis);
  if (reason) throw new Error(`the Redis store does not work: ${reason}`);
  ctx.sims = [await env.sim({ name: 'rd-a', args: ['--command-grace-ms', '50', '--snapshot-delay-ms', '50'] }),
    await env.sim({ name: 'rd-b', args: ['--command-grace-ms', '50', '--snapshot-delay-ms', '50'] })];
  ctx.kA = T.newKey('a');
  ctx.kB = T.newKey('b');
  ctx.prefix = `sg-it-${crypto.randomBytes(3).toString('hex')}:`;
  // gw1: one worker, so that "cached" means cached for every request it gets
  ctx.gw1 = await T.startGateway(gwOpts(1));
  ctx.gw2 = await T.startGateway(gwOpts(2));
  env.gateways.push(ctx.gw1, ctx.gw2);
  ctx.A1 = T.client(ctx.gw1.httpUrl, ctx.kA);
  ctx.A2 = T.client(ctx.gw2.httpUrl, ctx.kA);
  ctx.B1 = T.client(ctx.gw1.httpUrl, ctx.kB);
  ctx.B2 = T.client(ctx.gw2.httpUrl, ctx.kB);
}, { timeout: 60000 });

test.after(async () => {
  await env.cleanup();
  if (ctx.redis) await ctx.redis.kill();
});

const shape = (r, id, as) => ({ status: r.status, contentType: r.headers['content-type'], body: r.buf.toString('latin1').split(id).join(as) });
async function assertMissingLike(c, p, id, what) {
  const m = crypto.randomUUID();
  const a = await c.get(p(id));
  const b = await c.get(p(m));
  assert.deepEqual(shape(a, id, m), shape(b, m, m), what);
  assert.equal(a.status, 404, `${what}: ${a.text}`);
}
async function clearLogs() { for (const s of ctx.sims) await s.clearRequests(); }
// Simulators other than the owner that were asked about id (an adoption probe).
async function probedBy(id, owner) {
  const out = [];
  for (const s of ctx.sims) {
    if (s.name === owner) continue;
    for (const e of (await s.requests(null, 0)).items) if (e.url.includes(id)) out.push(`${s.name} ${e.method} ${e.url}`);
  }
  return out;
}
async function ownerOf(id) {
  const all = await T.allSandboxes(ctx.sims);
  return all[id] ? all[id].sim : null;
}
async function exec(c, id, text) {
  const r = await c.post(`/sandboxes/${id}/port/44772/command`, { command: `echo ${text}` });
  assert.equal(r.status, 200, `exec: ${r.status} ${r.text}`);
  assert.ok(r.text.includes(text), `exec output: ${r.text}`);
}

test('a sandbox created through one gateway is usable through the other (GET, exec, snapshot, delete)', { timeout: 60000 }, guard(async () => {
  const s1 = (await ctx.A1.create({})).id;
  const owner = await ownerOf(s1);
  await clearLogs();
  const g = await ctx.A2.get(`/v1/sandboxes/${s1}`);
  assert.equal(g.status, 200, g.text);
  assert.deepEqual(await probedBy(s1, owner), [], 'the second gateway had to probe the backends: it did not find the mapping in Redis');
  await exec(ctx.A2, s1, 'hi-from-gw2');
  await assertMissingLike(ctx.B2, (id) => `/v1/sandboxes/${id}`, s1, 'B through gw2');
  await assertMissingLike(ctx.B1, (id) => `/sandboxes/${id}/port/8080/echo/x`, s1, 'B through gw1, port route');
  // snapshots are only known through the store: created through gw1, used through gw2
  const snap = await ctx.A1.snapshot(s1);
  const gs = await ctx.A2.get(`/v1/snapshots/${snap.id}`);
  assert.equal(gs.status, 200, `snapshot through gw2: ${gs.text}`);
  assert.ok((await ctx.A2.get('/v1/snapshots')).json.items.some((x) => x.id === snap.id));
  assert.equal((await ctx.B2.get(`/v1/snapshots/${snap.id}`)).status, 404);
  const restored = await ctx.A2.post('/v1/sandboxes', { snapshotId: snap.id, timeout: 600, resourceLimits: { cpu: '100m', memory: '64Mi' } });
  assert.equal(restored.status, 202, restored.text);
  assert.equal(await ownerOf(restored.json.id), owner, 'restore not on the snapshot\'s backend');
  // lists agree
  const l1 = (await ctx.A1.listAll('')).map((x) => x.id);
  const l2 = (await ctx.A2.listAll('')).map((x) => x.id);
  assert.deepEqual(l1, l2);
  assert.ok(l1.includes(s1) && l1.includes(restored.json.id));
  // delete through gw2; gone through gw1 too (even though gw1 looked it up before)
  assert.equal((await ctx.A1.get(`/v1/sandboxes/${s1}`)).status, 200);
  const d = await ctx.A2.del(`/v1/sandboxes/${s1}`);
  assert.equal(d.status, 204, d.text);
  await assertMissingLike(ctx.A1, (id) => `/v1/sandboxes/${id}`, s1, 'A through gw1 after the delete through gw2');
  ctx.keep = { sandbox: restored.json.id, snapshot: snap.id };
}));

test('a gateway restart keeps everything (sandboxes and snapshots, from Redis, no probing)', { timeout: 60000 }, guard(async () => {
  const s2 = (await ctx.A2.create({})).id;
  const sb = (await ctx.B2.create({})).id;
  const ids = [ctx.keep.sandbox, s2];
  ctx.gw1 = await ctx.gw1.restart();
  env.gateways.push(ctx.gw1);
  ctx.A1 = T.client(ctx.gw1.httpUrl, ctx.kA);
  ctx.B1 = T.client(ctx.gw1.httpUrl, ctx.kB);
  await clearLogs();
  for (const id of ids) {
    const g = await ctx.A1.get(`/v1/sandboxes/${id}`);
    assert.equal(g.status, 200, `${id} after restart: ${g.text}`);
    assert.deepEqual(await probedBy(id, await ownerOf(id)), [], 'the restarted gateway had to probe the backends');
    await exec(ctx.A1, id, 'after-restart');
    await assertMissingLike(ctx.B1, (x) => `/v1/sandboxes/${x}`, id, 'B after restart');
  }
  assert.equal((await ctx.A1.get(`/v1/snapshots/${ctx.keep.snapshot}`)).status, 200, 'snapshot lost by the restart');
  assert.equal((await ctx.B1.get(`/v1/sandboxes/${sb}`)).status, 200);
  await assertMissingLike(ctx.A1, (x) => `/v1/sandboxes/${x}`, sb, 'A on B\'s sandbox after restart');
  ctx.keep.s2 = s2;
  ctx.keep.sb = sb;
}));

test('Redis killed: 503 STORE_UNAVAILABLE where the store is needed, cached look-ups keep working', { timeout: 60000 }, guard(async () => {
  // s3: looked up through gw1 (cached there, endpoint too); s4: created through gw2, never seen by gw1
  const s3 = (await ctx.A1.create({})).id;
  assert.equal((await ctx.A1.get(`/v1/sandboxes/${s3}`)).status, 200);
  assert.equal((await ctx.A1.get(`/sandboxes/${s3}/port/8080/echo/warm`)).status, 200);
  const s4 = (await ctx.A2.create({})).id;
  const keysBefore = await ctx.redis.cmd('KEYS', `${ctx.prefix}*`);
  const simIdsBefore = Object.keys(await T.allSandboxes(ctx.sims)).sort();
  await ctx.redis.kill();
  await h.sleep(200);

  const timed = async (what, fn) => {
    const t0 = Date.now();
    const r = await fn();
    assert.ok(Date.now() - t0 < 3000, `${what} took ${Date.now() - t0} ms with Redis down`);
    return r;
  };
  const unavailable = (r, what) => {
    assert.equal(r.status, 503, `${what}: ${r.status} ${r.text}`);
    assert.equal(r.json && r.json.code, 'GATEWAY::STORE_UNAVAILABLE', `${what}: ${r.text}`);
  };
  // needs the store
  unavailable(await timed('create', () => ctx.A1.post('/v1/sandboxes', { image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], timeout: 600, resourceLimits: { cpu: '100m', memory: '64Mi' } })), 'create');
  unavailable(await timed('first look-up', () => ctx.A1.get(`/v1/sandboxes/${s4}`)), 'first look-up of s4 through gw1');
  unavailable(await timed('first port look-up', () => ctx.A1.get(`/sandboxes/${s4}/port/8080/echo/x`)), 'first port look-up of s4');
  unavailable(await timed('unknown id', () => ctx.A1.get(`/v1/sandboxes/${crypto.randomUUID()}`)), 'unknown id');
  // cached: keeps working
  const g = await timed('cached GET', () => ctx.A1.get(`/v1/sandboxes/${s3}`));
  assert.equal(g.status, 200, `cached GET with Redis down: ${g.text}`);
  const e = await timed('cached port', () => ctx.A1.get(`/sandboxes/${s3}/port/8080/echo/cached`));
  assert.equal(e.status, 200, `cached port traffic with Redis down: ${e.text}`);
  const ep = await ctx.A1.get(`/v1/sandboxes/${s3}/endpoints/44772`);
  assert.equal(ep.status, 200, ep.text);
  // a cached record of A does not answer B: B is told what an unknown id gets, or the answer would tell the two apart
  unavailable(await ctx.B1.get(`/v1/sandboxes/${s3}`), 'B on A\'s cached sandbox');
  const l = await timed('list', () => ctx.A1.get('/v1/sandboxes'));
  assert.equal(l.status, 200, `list with Redis down: ${l.text}`);
  assert.equal((await h.request(`${ctx.gw1.httpUrl}/health`)).status, 200);
  // the create that could not be recorded left nothing behind on the backends
  await h.waitFor(async () => JSON.stringify(Object.keys(await T.allSandboxes(ctx.sims)).sort()) === JSON.stringify(simIdsBefore),
    { timeoutMs: 8000, what: 'the unrecorded sandbox deleted again on its backend' });
  ctx.keep.s3 = s3;
  ctx.keep.s4 = s4;
  ctx.keysBefore = keysBefore;
}));

test('Redis restarted: full recovery, no lost mappings', { timeout: 60000 }, guard(async () => {
  ctx.redis = await ctx.redis.restart();
  const keysAfter = await ctx.redis.cmd('KEYS', `${ctx.prefix}*`);
  assert.deepEqual([...keysAfter].sort(), [...ctx.keysBefore].sort(), 'Redis lost keys across its restart (AOF)');
  // the gateways reconnect (bounded backoff)
  let last;
  await h.waitFor(async () => {
    last = await ctx.A1.get(`/v1/sandboxes/${ctx.keep.s4}`);
    return last.status === 200;
  }, { timeoutMs: 15000, intervalMs: 250, what: `gw1 resolving s4 again (last ${last && last.status} ${last && last.text})` });
  await clearLogs();
  const mine = [ctx.keep.sandbox, ctx.keep.s2, ctx.keep.s3, ctx.keep.s4];
  for (const c of [ctx.A1, ctx.A2]) {
    for (const id of mine) {
      const g = await c.get(`/v1/sandboxes/${id}`);
      assert.equal(g.status, 200, `${id}: ${g.text}`);
      await exec(c, id, 'recovered');
    }
    assert.equal((await c.get(`/v1/snapshots/${ctx.keep.snapshot}`)).status, 200);
  }
  for (const id of mine) assert.deepEqual(await probedBy(id, await ownerOf(id)), [], `${id} was resolved by probing the backends, not from Redis`);
  // (after the check above: another tenant's look-up of a known id probes the backends as an unknown id's does)
  for (const [c, b] of [[ctx.A1, ctx.B1], [ctx.A2, ctx.B2]]) {
    for (const id of mine) await assertMissingLike(b, (x) => `/v1/sandboxes/${x}`, id, `B after recovery (${c.base})`);
  }
  assert.equal((await ctx.B1.get(`/v1/sandboxes/${ctx.keep.sb}`)).status, 200);
  // and writes work again through both
  const n = (await ctx.A1.create({})).id;
  assert.equal((await ctx.A2.get(`/v1/sandboxes/${n}`)).status, 200);
  assert.equal((await ctx.A2.del(`/v1/sandboxes/${n}`)).status, 204);
}));
