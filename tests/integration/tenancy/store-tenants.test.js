'use strict';
// Tenants and keys that live only in Redis (docs/STORE.md: {p}key:{sha256 hex} hashes and
// {p}tenantdef:{id} JSON documents), written here with plain Redis commands the way an operator or
// a future admin API would. A stored tenant works like a config tenant: its key authenticates, its
// policy and backend_labels apply, it is isolated from config tenants both ways, and an edit of its
// document applies within redis.tenant_cache_ttl. Revoked/expired stored keys, a key naming an
// undefined tenant and an invalid document give clear errors; the config wins over the store.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const env = h.env();
const ctx = {};
const guard = T.skippable(env, ctx);
const ZONES = { 'st-a': 'a', 'st-b': 'b' };

const hex = (key) => crypto.createHash('sha256').update(key).digest('hex');
const putKey = (key, tenant, extra) => ctx.redis.cmd('HSET', `${ctx.prefix}key:${hex(key)}`, 'tenant', tenant,
  'expires_at_ms', String((extra && extra.expires_at_ms) || 0), 'revoked', (extra && extra.revoked) ? '1' : '0');
const putTenant = (id, doc) => ctx.redis.cmd('SET', `${ctx.prefix}tenantdef:${id}`, typeof doc === 'string' ? doc : JSON.stringify(doc));

test.before(async () => {
  if (!(await T.redisFor(ctx, { persist: true }))) return; // the Redis-down test restarts it
  ctx.sims = [await env.sim({ name: 'st-a' }), await env.sim({ name: 'st-b' })];
  ctx.prefix = `sg-st-${crypto.randomBytes(3).toString('hex')}:`;
  ctx.k = { A: T.newKey('a'), G: T.newKey('gamma'), revoked: T.newKey('rev'), expired: T.newKey('exp'), ghost: T.newKey('ghost'),
    broken: T.newKey('broken'), shadow: T.newKey('shadow') };
  await putTenant('gamma', { id: 'gamma', name: 'Gamma team', backend_labels: { zone: 'b' },
    policy: { allowed_images: ['python:*'], max_timeout: '1h', allow_manual_cleanup: false, max_cpu: '1', max_memory: '1Gi' } });
  await putTenant('broken', { name: 'Broken', policy: { max_timeout: 'soon' } });
  // a stored definition for a tenant the config defines: ignored, the config wins
  await putTenant('tenant-a', { policy: { allowed_images: ['nothing-matches'] } });
  await putKey(ctx.k.G, 'gamma');
  await putKey(ctx.k.revoked, 'gamma', { revoked: true });
  await putKey(ctx.k.expired, 'gamma', { expires_at_ms: Date.now() - 60000 });
  await putKey(ctx.k.ghost, 'ghost');
  await putKey(ctx.k.broken, 'broken');
  await putKey(ctx.k.shadow, 'tenant-a');
  ctx.gw = await T.startGateway({
    backends: ctx.sims.map((s) => h.backend(s, { labels: { zone: ZONES[s.name] } })),
    tenants: [{ id: 'tenant-a', keys: [T.keyHash(ctx.k.A)], policy: { allow_manual_cleanup: true } }],
    redis: { address: ctx.redis.address, prefix: ctx.prefix, tenant_cache_ttl: '1s' },
    lifecycle: { reconcile_interval: '1h' },
  });
  env.gateways.push(ctx.gw);
  ctx.A = T.client(ctx.gw.httpUrl, ctx.k.A);
  ctx.G = T.client(ctx.gw.httpUrl, ctx.k.G);
}, { timeout: 60000 });

test.after(async () => {
  await env.cleanup();
  if (ctx.redis) await ctx.redis.kill();
});

const shape = (r, id, as) => ({ status: r.status, body: r.buf.toString('latin1').split(id).join(as) });

test('a tenant defined only in Redis: its stored key works, its backend_labels place, it is isolated from config tenants', { timeout: 60000 }, guard(async () => {
  const g = await ctx.G.create({ image: { uri: 'python:3.11' }, timeout: 600, resourceLimits: { cpu: '500m', memory: '512Mi' } });
  const a = await ctx.A.create({});
  // placed by the stored backend_labels: every gamma sandbox is on zone b
  for (let i = 0; i < 3; i++) await ctx.G.create({ timeout: 600, resourceLimits: { cpu: '500m', memory: '512Mi' } }, false);
  const onB = (await T.simState(ctx.sims[1])).sandboxes.filter((s) => s.metadata && s.metadata[T.TAG] === 'gamma').length;
  const onA = (await T.simState(ctx.sims[0])).sandboxes.filter((s) => s.metadata && s.metadata[T.TAG] === 'gamma').length;
  assert.equal(onA, 0, 'a gamma sandbox landed on zone a');
  assert.equal(onB, 4);
  // tagged with the stored tenant's id
  const got = await ctx.G.get(`/v1/sandboxes/${g.id}`);
  assert.equal(got.status, 200, got.text);
  assert.equal(got.json.metadata[T.TAG], 'gamma');
  // lists: each sees only its own
  const gIds = (await ctx.G.listAll()).map((s) => s.id);
  const aIds = (await ctx.A.listAll()).map((s) => s.id);
  assert.ok(gIds.includes(g.id) && !gIds.includes(a.id), JSON.stringify(gIds));
  assert.ok(aIds.includes(a.id) && !aIds.includes(g.id), JSON.stringify(aIds));
  // "not yours" is byte-identical to "does not exist", both ways
  const m = crypto.randomUUID();
  for (const [c, id] of [[ctx.A, g.id], [ctx.G, a.id]]) {
    const x = await c.get(`/v1/sandboxes/${id}`);
    const y = await c.get(`/v1/sandboxes/${m}`);
    assert.deepEqual(shape(x, id, m), shape(y, m, m));
    assert.equal(x.status, 404);
    const d = await c.del(`/v1/sandboxes/${id}`);
    assert.equal(d.status, 404);
  }
}));

test('the stored policy applies, and an edit of the stored document applies within tenant_cache_ttl', { timeout: 60000 }, guard(async () => {
  const base = { timeout: 600, resourceLimits: { cpu: '500m', memory: '512Mi' } };
  const img = await ctx.G.post('/v1/sandboxes', { ...base, image: { uri: 'ubuntu:22.04' }, entrypoint: ['/bin/sh'] });
  assert.equal(img.status, 403, img.text);
  assert.equal(img.json.code, 'GATEWAY::IMAGE_NOT_ALLOWED');
  assert.match(img.json.message, /allowed_images/);
  const long = await ctx.G.post('/v1/sandboxes', { ...base, image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], timeout: 7200 });
  assert.equal(long.status, 403, long.text);
  assert.equal(long.json.code, 'GATEWAY::TIMEOUT_TOO_LONG');
  const cpu = await ctx.G.post('/v1/sandboxes', { ...base, image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], resourceLimits: { cpu: '2', memory: '512Mi' } });
  assert.equal(cpu.status, 403, cpu.text);

  await putTenant('gamma', { id: 'gamma', name: 'Gamma team', backend_labels: { zone: 'b' },
    policy: { allowed_images: ['python:*', 'ubuntu:*'], max_timeout: 3600, allow_manual_cleanup: false, max_cpu: '1', max_memory: '1Gi' } });
  let last;
  await h.waitFor(async () => {
    last = await ctx.G.post('/v1/sandboxes', { ...base, image: { uri: 'ubuntu:22.04' }, entrypoint: ['/bin/sh'] });
    return last.status === 202;
  }, { timeoutMs: 8000, what: `the edited policy to apply (last: ${last && last.status} ${last && last.text})` });
}));

test('stored keys: revoked and expired are 401; a key naming an undefined tenant is 401; an invalid document is 503', { timeout: 30000 }, guard(async () => {
  for (const key of [ctx.k.revoked, ctx.k.expired, ctx.k.ghost, T.newKey('nowhere')]) {
    const r = await T.client(ctx.gw.httpUrl, key).get('/v1/sandboxes');
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.code, 'INVALID_API_KEY');
  }
  const b = await T.client(ctx.gw.httpUrl, ctx.k.broken).get('/v1/sandboxes');
  assert.equal(b.status, 503, b.text);
  assert.equal(b.json.code, 'GATEWAY::TENANT_UNAVAILABLE');
  assert.doesNotMatch(b.json.message, /max_timeout/, 'the tenant is not shown the operator-side detail');
  await h.waitFor(() => /tenant 'broken' in the state store is invalid: policy\.max_timeout/.test(ctx.gw.stderr()),
    { timeoutMs: 5000, what: 'the invalid document logged with the reason' });
  // fixed in the store: usable without a restart
  await putTenant('broken', { name: 'Fixed' });
  await h.waitFor(async () => (await T.client(ctx.gw.httpUrl, ctx.k.broken).get('/v1/sandboxes')).status === 200,
    { timeoutMs: 8000, what: 'the repaired tenant to work' });
}));

test('the config wins: a stored document for a config tenant is ignored', { timeout: 30000 }, guard(async () => {
  // tenant-a's stored document would allow no image; the config one allows any
  const viaStoredKey = T.client(ctx.gw.httpUrl, ctx.k.shadow);
  const r = await viaStoredKey.create({ image: { uri: 'python:3.11' } }, false);
  assert.ok(r.id);
  const mine = (await ctx.A.listAll()).map((s) => s.id);
  assert.ok(mine.includes(r.id), 'a stored key of tenant-a acts as tenant-a');
}));

// Redis MONITOR on its own connection: resolves {stop() -> lines seen}.
function monitorRedis(port) {
  const net = require('node:net');
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    sock.on('error', reject);
    sock.on('connect', () => sock.write('*1\r\n$7\r\nMONITOR\r\n'));
    sock.on('data', (c) => {
      buf += c.toString('latin1');
      if (buf.startsWith('+OK\r\n')) resolve({ stop() { sock.destroy(); return buf.split('\r\n'); } });
    });
  });
}

test('hot entries are refreshed ahead by one request, not looked up by every connection when they expire', { timeout: 60000 }, guard(async () => {
  const g = await ctx.G.create({ timeout: 600, resourceLimits: { cpu: '500m', memory: '512Mi' } });
  const mon = await monitorRedis(ctx.redis.port);
  const until = Date.now() + 5000;
  let n = 0;
  const worker = async () => {
    while (Date.now() < until) {
      const r = await ctx.G.get(`/v1/sandboxes/${g.id}`);
      assert.equal(r.status, 200, r.text);
      n++;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  const lines = mon.stop();
  const keyLookups = lines.filter((l) => l.includes(`key:${hex(ctx.k.G)}`)).length;
  const tenantLookups = lines.filter((l) => l.includes('tenantdef:gamma')).length;
  // 5 s of 16 busy connections: key-auth entries live 2 s and tenant entries 1 s (this suite's settings), so a
  // handful of refreshes each; without refresh-ahead every expiry sent up to 16 identical lookups
  assert.ok(n > 100, `only ${n} requests in 5 s`);
  assert.ok(keyLookups <= 8, `${keyLookups} key lookups for ${n} requests`);
  assert.ok(tenantLookups <= 12, `${tenantLookups} tenant lookups for ${n} requests`);
}));

test('Redis down: once the caches expire, a stored tenant gets 503 STORE_UNAVAILABLE (never a 401); it recovers when Redis is back', { timeout: 60000 }, guard(async () => {
  const g = await ctx.G.create({ timeout: 600, resourceLimits: { cpu: '500m', memory: '512Mi' } });
  await ctx.redis.kill();
  try {
    // key (2 s positive TTL), tenant (1 s) and owner caches all expire: the first uncached look-up needs Redis
    await new Promise((r) => setTimeout(r, 2500));
    const r = await ctx.G.get(`/v1/sandboxes/${g.id}`);
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.code, 'GATEWAY::STORE_UNAVAILABLE', r.text);
  } finally {
    ctx.redis = await ctx.redis.restart();
  }
  await h.waitFor(async () => (await ctx.G.get(`/v1/sandboxes/${g.id}`)).status === 200,
    { timeoutMs: 15000, what: 'recovery after Redis came back' });
}));
