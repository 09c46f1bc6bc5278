'use strict';
// Issue 10, section 4: renew on access. Port traffic through the gateway extends a sandbox that opted in (create
// extension access.renew.extend.seconds, or the tenant's policy.renew_on_access), at most once per
// ports.renew_interval across gateways sharing the store, never past the tenant's max_timeout, through the backend's
// renew-expiration API; a backend with renew_intent also gets OSEP-0009 intents in its own Redis. Real time, kept
// short: the simulator's --ttl-scale 0.05 turns the 60 s minimum timeout into 3 s, and the interval is 1 s.
// Two gateways share one redis-server (the store); a second redis-server is the backend's own (intents).
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const env = h.env();
const ctx = {};
const INTENT_KEY = 'opensandbox:renew:intent';

test.before(async () => {
  if (!(await T.redisFor(ctx))) return;
  ctx.intentRedis = await T.startRedis();
  ctx.sim = await env.sim({ name: 'renew', args: ['--ready-delay-ms', '0', '--ttl-scale', '0.05'] });
  ctx.keys = {};
  const tenants = [];
  const tenant = (id, policy) => {
    ctx.keys[id] = T.newKey(id);
    tenants.push({ id, keys: [T.keyHash(ctx.keys[id])], policy, admission: { extension_keys: ['access.renew.extend.seconds', 'other'] } });
  };
  tenant('short', { renew_on_access: '3s' }); // (a): 3 s sandboxes kept alive by 3 s renews
  tenant('busy', { renew_on_access: '20s' }); // (b): always due, so the interval alone bounds the renews
  tenant('cap', { max_timeout: 120 }); // (c): opted in by the extension (300 s), capped at 120 s
  tenant('plain', { allow_manual_cleanup: true }); // (d): no policy
  tenant('manual', { renew_on_access: '20s', allow_manual_cleanup: true }); // (d): policy, but no expiry
  ctx.opts = {
    backends: [h.backend(ctx.sim, { renew_intent: { redis: ctx.intentRedis.address, key: INTENT_KEY, max_len: 3 } })],
    tenants,
    https: false,
    redis: { address: ctx.redis.address, prefix: 'sg-renew:' },
    portsConf: { renew_interval: '1s' },
  };
  ctx.gw1 = await T.startGateway(ctx.opts);
  env.gateways.push(ctx.gw1);
  ctx.gw2 = await T.startGateway(ctx.opts);
  env.gateways.push(ctx.gw2);
  ctx.c1 = (tenant) => T.client(ctx.gw1.httpUrl, ctx.keys[tenant]);
  ctx.c2 = (tenant) => T.client(ctx.gw2.httpUrl, ctx.keys[tenant]);
}, { timeout: 60000 });

test.after(async () => {
  await env.cleanup();
  if (ctx.redis) await ctx.redis.stop();
  if (ctx.intentRedis) await ctx.intentRedis.stop();
});

const run = T.skippable(env, ctx);

// the simulator's view of a sandbox (undefined once it is gone)
async function simSandbox(id) {
  return (await T.simState(ctx.sim)).sandboxes.find((s) => s.id === id);
}

const pull = (gw, tenant, id, rest) => h.request(`${gw.httpUrl}${h.portPath(id, 8080, rest || '/echo/pull')}`,
  { headers: { 'OPEN-SANDBOX-API-KEY': ctx.keys[tenant] }, timeoutMs: 5000 });

// GETs through the gateways (round robin) every stepMs for ms; resolves the statuses
async function pullFor(gws, tenant, id, ms, stepMs) {
  const statuses = [];
  const end = Date.now() + ms;
  for (let i = 0; Date.now() < end; i++) {
    statuses.push((await pull(gws[i % gws.length], tenant, id)).status);
    await h.sleep(stepMs || 100);
  }
  return statuses;
}

async function renewMetric(gw, result) {
  return h.metricValue(await h.metrics(gw), 'sandgate_renew_on_access_total', { result }) || 0;
}

test('(a) a 3 s sandbox stays alive while a client pulls from a port through the gateway, and expires once it stops', { timeout: 60000 }, run(async (t) => {
  const sb = await ctx.c1('short').create({ timeout: 60 }); // 3 s at --ttl-scale 0.05
  const created = Date.parse(sb.expiresAt);
  const statuses = await pullFor([ctx.gw1], 'short', sb.id, 8000, 100);
  const stopped = Date.now();
  assert.ok(statuses.length > 30, `pulled ${statuses.length} times`);
  assert.deepEqual([...new Set(statuses)], [200], `every pull answered 200 for 8 s (a 3 s sandbox): ${statuses.join(',')}`);
  const alive = await simSandbox(sb.id);
  assert.ok(alive, 'the sandbox outlived its 3 s timeout');
  assert.ok(Date.parse(alive.expiresAt) > created + 4000, `expiry moved: ${alive.expiresAt} vs ${sb.expiresAt}`);
  assert.ok(alive.renewals >= 5 && alive.renewCalls <= 10, `renewals ${alive.renewals}, calls ${alive.renewCalls} in 8 s at 1 s`);
  // the gateway's own record follows (what GET answers is the backend's; the record is the gateway's view)
  const viaGw = await ctx.c1('short').get(`/v1/sandboxes/${sb.id}`);
  assert.equal(viaGw.status, 200);
  // traffic stops: gone within 3 s (+ the simulator's 100 ms sweep), not renewed again
  await h.waitFor(async () => (await simSandbox(sb.id)) === undefined, { timeoutMs: 6000, what: `sandbox ${sb.id} expired after the traffic stopped` });
  const goneAfter = Date.now() - stopped;
  t.diagnostic(`${statuses.length} pulls over 8 s, ${alive.renewals} renewals; expired ${goneAfter} ms after the last pull`);
  assert.ok(goneAfter <= 4500, `expired ${goneAfter} ms after the last pull`);
  assert.equal((await pull(ctx.gw1, 'short', sb.id)).status, 404);
}));

test('(b) at most one renew per interval per sandbox, counted across two gateways sharing Redis', { timeout: 60000 }, run(async (t) => {
  const before = { g1: await renewMetric(ctx.gw1, 'renewed'), g2: await renewMetric(ctx.gw2, 'renewed') };
  const skippedBefore = (await renewMetric(ctx.gw1, 'skipped_interval')) + (await renewMetric(ctx.gw2, 'skipped_interval'));
  const sb = await ctx.c1('busy').create({ timeout: 60 });
  const t0 = Date.now();
  // both gateways, alternating, 20 requests a second for 6 s: each is "due" (extend 20 s, interval 1 s)
  const statuses = await pullFor([ctx.gw1, ctx.gw2], 'busy', sb.id, 6000, 50);
  const elapsed = Date.now() - t0;
  assert.deepEqual([...new Set(statuses)], [200]);
  await h.sleep(300); // the last renew's answer
  const s = await simSandbox(sb.id);
  const bound = Math.floor(elapsed / 1000) + 1;
  t.diagnostic(`${statuses.length} requests over ${elapsed} ms through 2 gateways: ${s.renewCalls} renew calls (bound ${bound})`);
  assert.ok(s.renewCalls <= bound, `${s.renewCalls} renew calls in ${elapsed} ms at one per 1 s (bound ${bound})`);
  assert.ok(s.renewCalls >= bound - 3, `${s.renewCalls} renew calls in ${elapsed} ms: renews kept coming`);
  assert.equal(s.renewals, s.renewCalls, 'every renew the gateways sent extended the sandbox');
  // the gateways counted what the backend saw, and the rest of the requests were held back by the interval
  const renewed = (await renewMetric(ctx.gw1, 'renewed')) - before.g1 + (await renewMetric(ctx.gw2, 'renewed')) - before.g2;
  assert.equal(renewed, s.renewals);
  // which gateway wins an interval is a race: one may win them all (each learns the claim's remaining time and
  // waits exactly as long), so only the sum is asserted
  const skipped = (await renewMetric(ctx.gw1, 'skipped_interval')) + (await renewMetric(ctx.gw2, 'skipped_interval')) - skippedBefore;
  assert.ok(skipped > statuses.length / 2, `${skipped} of ${statuses.length} requests skipped by the interval`);
  assert.ok(Date.parse(s.expiresAt) > Date.now() + 15000, `expiry ~20 s ahead: ${s.expiresAt}`);
  // the store holds the claim, with the gateway that took it as the value
  const holder = await ctx.redis.cmd('GET', `sg-renew:renew:${sb.id}`);
  assert.ok(holder === null || /:\d+$/.test(holder), `claim value ${holder}`);
  await ctx.c1('busy').del(`/v1/sandboxes/${sb.id}`);
}));

test('(c) never beyond the tenant\'s max_timeout; the create extension is kept in the record (both gateways renew it)', { timeout: 60000 }, run(async () => {
  const sb = await ctx.c1('cap').create({ timeout: 60, extensions: { 'access.renew.extend.seconds': '300' } });
  const statuses = await pullFor([ctx.gw1, ctx.gw2], 'cap', sb.id, 2500, 100);
  assert.deepEqual([...new Set(statuses)], [200]);
  await h.sleep(300);
  const s = await simSandbox(sb.id);
  assert.ok(s.renewals >= 2, `renewals ${s.renewals}`);
  const ahead = Date.parse(s.expiresAt) - Date.now();
  assert.ok(ahead > 115000 && ahead <= 120000, `expiresAt ${s.expiresAt} is ${ahead} ms ahead: capped at max_timeout 120 s, not 300 s`);
  // the gateway's record: a renew through the lifecycle API beyond the cap is still refused (its check is unchanged)
  const far = new Date(Date.now() + 300000).toISOString();
  const r = await ctx.c2('cap').post(`/v1/sandboxes/${sb.id}/renew-expiration`, { expiresAt: far });
  assert.equal(r.status, 403);
  assert.equal(r.json.code, 'GATEWAY::TIMEOUT_TOO_LONG');
  // the record keeps the extension: the Redis hash of the sandbox
  assert.equal(await ctx.redis.cmd('HGET', `sg-renew:sbx:${sb.id}`, 'renew_extend_s'), '300');
  await ctx.c1('cap').del(`/v1/sandboxes/${sb.id}`);
}));

test('(d) sandboxes without the extension and without the policy, or without an expiry, are never renewed', { timeout: 60000 }, run(async () => {
  const plain = await ctx.c1('plain').create({ timeout: 60 });
  const opted = await ctx.c1('plain').create({ timeout: 60, extensions: { 'access.renew.extend.seconds': '300' } });
  const bad = await ctx.c1('plain').create({ timeout: 60, extensions: { other: 'x' } });
  const manual = await ctx.c1('manual').create({ timeout: null });
  const t0 = Date.now();
  const pulls = [];
  while (Date.now() - t0 < 2500) {
    pulls.push(pull(ctx.gw1, 'plain', plain.id), pull(ctx.gw2, 'plain', opted.id), pull(ctx.gw1, 'plain', bad.id),
      pull(ctx.gw2, 'manual', manual.id));
    await h.sleep(100);
  }
  await Promise.all(pulls);
  await h.sleep(300);
  const st = Object.fromEntries((await T.simState(ctx.sim)).sandboxes.map((s) => [s.id, s]));
  assert.ok(st[opted.id].renewals >= 1, `the opted-in sandbox of the same tenant was renewed (${st[opted.id].renewals})`);
  for (const [name, sb] of [['no extension, no policy', plain], ['another extension', bad], ['no expiry', manual]]) {
    assert.equal(st[sb.id] ? st[sb.id].renewCalls : 0, 0, `${name}: never renewed`);
  }
  assert.equal(st[manual.id].expiresAt, undefined);
  // the 3 s ones expire while pulled (never renewed); the opted-in one is alive
  await h.waitFor(async () => (await simSandbox(plain.id)) === undefined, { timeoutMs: 5000, what: 'the plain sandbox expired' });
  assert.ok(await simSandbox(opted.id));
  for (const [tenant, sb] of [['plain', opted], ['manual', manual]]) await ctx.c1(tenant).del(`/v1/sandboxes/${sb.id}`);
}));

test('(e) a backend with renew_intent gets OSEP-0009 intents in its Redis (LPUSH, trimmed to max_len)', { timeout: 60000 }, run(async () => {
  await ctx.intentRedis.cmd('DEL', INTENT_KEY);
  const sb = await ctx.c1('busy').create({ timeout: 60 });
  const t0 = Date.now();
  const statuses = [];
  while (Date.now() - t0 < 4500) {
    statuses.push((await pull(ctx.gw1, 'busy', sb.id, '/echo/intent?q=1')).status);
    await h.sleep(100);
  }
  assert.deepEqual([...new Set(statuses)], [200]);
  await h.sleep(300);
  const s = await simSandbox(sb.id);
  assert.ok(s.renewals >= 4, `renewals ${s.renewals}`);
  const items = await ctx.intentRedis.cmd('LRANGE', INTENT_KEY, 0, -1);
  assert.equal(items.length, 3, `trimmed to max_len 3 after ${s.renewals} intents: ${JSON.stringify(items)}`);
  const intents = items.map((i) => JSON.parse(i));
  for (const it of intents) {
    assert.deepEqual(Object.keys(it).sort(), ['observed_at', 'port', 'request_uri', 'sandbox_id']);
    assert.equal(it.sandbox_id, sb.id);
    assert.equal(it.port, 8080);
    assert.equal(it.request_uri, '/echo/intent?q=1');
    assert.match(it.observed_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const at = Date.parse(it.observed_at);
    assert.ok(at >= t0 - 1000 && at <= Date.now(), `observed_at ${it.observed_at}`);
  }
  // LPUSH: the newest first
  assert.ok(Date.parse(intents[0].observed_at) > Date.parse(intents[2].observed_at));
  await ctx.c1('busy').del(`/v1/sandboxes/${sb.id}`);
}));

test('(f) Redis down: port traffic still flows (intents\' Redis: renews go on; store Redis: no renew, counted failed)', { timeout: 90000 }, run(async () => {
  const sb = await ctx.c1('busy').create({ timeout: 60 });
  assert.deepEqual([...new Set(await pullFor([ctx.gw1], 'busy', sb.id, 1200, 100))], [200]);
  // the backend's Redis goes away: intents are lost, requests and renews are not
  await ctx.intentRedis.kill();
  const calls0 = (await simSandbox(sb.id)).renewals;
  const statuses = await pullFor([ctx.gw1], 'busy', sb.id, 3000, 100);
  assert.deepEqual([...new Set(statuses)], [200], 'intents\' Redis down: every pull answered 200');
  await h.sleep(300);
  assert.ok((await simSandbox(sb.id)).renewals >= calls0 + 2, 'renews went on without the intents\' Redis');
  // the store's Redis goes away: the gateway serves the caller's sandbox from its cache; no renew can be claimed
  const failed0 = await renewMetric(ctx.gw1, 'failed');
  const renewals1 = (await simSandbox(sb.id)).renewals;
  await ctx.redis.kill();
  try {
    const down = await pullFor([ctx.gw1], 'busy', sb.id, 3000, 100);
    assert.deepEqual([...new Set(down)], [200], `store down: every pull answered 200: ${down.join(',')}`);
    assert.ok((await renewMetric(ctx.gw1, 'failed')) > failed0, 'the renews that could not be claimed are counted failed');
    assert.equal((await simSandbox(sb.id)).renewals, renewals1, 'no renew without the claim');
  } finally {
    ctx.redis = await ctx.redis.restart();
    ctx.intentRedis = await ctx.intentRedis.restart();
  }
  // both back: renews resume (the store reconnects by itself, the intents' connection on its next use)
  await ctx.intentRedis.cmd('DEL', INTENT_KEY);
  await h.waitFor(async () => {
    await pull(ctx.gw1, 'busy', sb.id);
    return (await ctx.intentRedis.cmd('LLEN', INTENT_KEY)) > 0;
  }, { timeoutMs: 15000, what: 'intents published again once Redis is back' });
}));

test('(g) a renew in flight at SIGTERM completes during the drain; both gateways exit 0 (no leak under ASan)', { timeout: 60000 }, run(async () => {
  // (f) restarted the store's Redis: a worker thread's reservation connection may still be in its reconnect backoff
  // (100 ms doubling to 5 s), which answers a create 503 until it is back
  let sb;
  await h.waitFor(async () => {
    try {
      sb = await ctx.c1('busy').create({ timeout: 60 });
      return true;
    } catch (e) {
      if (/\b503\b/.test(e.message)) return false;
      throw e;
    }
  }, { timeoutMs: 10000, intervalMs: 200, what: 'creates past the store reconnect backoff' });
  assert.equal((await pull(ctx.gw2, 'busy', sb.id)).status, 200); // gw2 has an intents connection open too
  await h.sleep(1100);
  await T.simFaults([ctx.sim], { responseLatencyMs: 1500 }); // the renew's answer (and the endpoint's) come late
  const pending = pull(ctx.gw1, 'busy', sb.id);
  await h.sleep(400);
  const t0 = Date.now();
  await Promise.all([ctx.gw1.stop(), ctx.gw2.stop()]); // asserts exit code 0
  assert.ok(Date.now() - t0 >= 700, 'the drain waited for the request and the renew in flight');
  assert.equal((await pending).status, 200);
  await T.resetFaults([ctx.sim]);
  const s = await simSandbox(sb.id);
  assert.equal(s.renewCalls, 2, 'one renew per gateway\'s access, the second one in flight at SIGTERM');
  assert.equal(s.renewals, 2);
}));
