'use strict';
// Tenant quotas (issue 9, part 1): live sandboxes, total cpu/memory, snapshots, renew within
// max_timeout. Exact under concurrency (two gateways sharing one redis-server race 50 creates for a
// quota of 10: exactly 10 live on the backends, 40 answered 429 QUOTA_EXCEEDED; the memory store
// holds the same for one gateway), self-healing (TTL expiry, deletes behind the gateway's back,
// Failed sandboxes), a gateway SIGKILLed mid-create (its reservations expire after the lease and
// usage equals what the backends really hold), and Redis killed and restarted (fail closed by
// default, fail open per tenant, reads keep working, no drift after recovery).
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const env = h.env();
const ctx = {};
const BODY = { image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], timeout: 600, resourceLimits: { cpu: '100m', memory: '64Mi' } };
const body = (over) => Object.assign({}, BODY, over || {});

test.before(async () => {
  await T.redisFor(ctx, { persist: true });
}, { timeout: 30000 });

test.after(async () => {
  await env.cleanup();
  if (ctx.redis) await ctx.redis.kill();
});

const run = T.skippable(env, ctx);

// Sandboxes of tenant on the simulators that are not Terminated.
async function liveOn(sims, tenant) {
  const all = await T.allSandboxes(sims);
  return Object.values(all).filter((e) => e.sb.state !== 'Terminated' && e.sb.metadata && e.sb.metadata[T.TAG] === tenant).map((e) => e.sb);
}

function tally(results) {
  const out = {};
  for (const r of results) {
    const k = `${r.status} ${r.json && r.json.code ? r.json.code : ''}`.trim();
    out[k] = (out[k] || 0) + 1;
  }
  return out;
}

function assertQuotaRefusal(r, re) {
  assert.equal(r.status, 429, `${r.status} ${r.text}`);
  assert.equal(r.json.code, 'QUOTA_EXCEEDED');
  assert.match(r.json.message, re);
}

// Deletes every live sandbox of tenant through the gateway client c; waits until the backends agree.
async function deleteAll(c, sims, tenant) {
  for (const sb of await liveOn(sims, tenant)) {
    const d = await c.del(`/v1/sandboxes/${sb.id}`);
    assert.ok(d.status === 204 || d.status === 200 || d.status === 404, `delete ${d.status} ${d.text}`);
  }
  await h.waitFor(async () => (await liveOn(sims, tenant)).length === 0, { timeoutMs: 5000, what: 'all sandboxes deleted' });
}

// 50 concurrent creates spread over the clients, for a quota of 10, `rounds` times.
async function race(clients, sims, tenant, rounds) {
  for (let round = 0; round < rounds; round++) {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => clients[i % clients.length].post('/v1/sandboxes', body(), { timeoutMs: 20000 })));
    const ok = results.filter((r) => r.status === 202);
    const refused = results.filter((r) => r.status === 429);
    const live = await liveOn(sims, tenant);
    assert.equal(ok.length, 10, `round ${round}: ${JSON.stringify(tally(results))}`);
    assert.equal(refused.length, 40, `round ${round}: ${JSON.stringify(tally(results))}`);
    assert.equal(live.length, 10, `round ${round}: ${live.length} live on the backends`);
    for (const r of refused) assertQuotaRefusal(r, /live sandboxes: 1?[0-9] of 10/);
    await deleteAll(clients[0], sims, tenant);
  }
}

test('memory store: 50 concurrent creates for a quota of 10 make exactly 10, 40 get 429 QUOTA_EXCEEDED (20 rounds)', { timeout: 120000 }, run(async () => {
  const sims = [await env.sim({ name: 'qm-a' }), await env.sim({ name: 'qm-b' })];
  const key = T.newKey('race');
  const gw = await T.startGateway({
    backends: sims.map((s) => h.backend(s)), workers: 2, https: false,
    tenants: [{ id: 'racer', keys: [T.keyHash(key)], policy: { max_sandboxes: 10 } }],
    lifecycle: { reconcile_interval: '1h' },
  });
  env.gateways.push(gw);
  await race([T.client(gw.httpUrl, key)], sims, 'racer', 20);
}));

test('redis: two gateways race 50 creates for a quota of 10: exactly 10 live, 40 refused, 20 rounds', { timeout: 240000 }, run(async () => {
  const sims = [await env.sim({ name: 'qr-a' }), await env.sim({ name: 'qr-b' })];
  const key = T.newKey('race');
  const prefix = `sg-q-${crypto.randomBytes(3).toString('hex')}:`;
  const opts = {
    backends: sims.map((s) => h.backend(s)), workers: 2, https: false,
    tenants: [{ id: 'racer', keys: [T.keyHash(key)], policy: { max_sandboxes: 10 } }],
    redis: { address: ctx.redis.address, prefix },
    lifecycle: { reconcile_interval: '1h' },
  };
  const g1 = await T.startGateway(opts);
  env.gateways.push(g1);
  const g2 = await T.startGateway(opts);
  env.gateways.push(g2);
  await race([T.client(g1.httpUrl, key), T.client(g2.httpUrl, key)], sims, 'racer', 20);
  // the ledger holds nothing after the deletes (no reservation left behind, no live member)
  const members = await ctx.redis.cmd('ZRANGE', `${prefix}quota:{racer}`, '0', '-1');
  assert.deepEqual(members.filter((m) => m.startsWith('s:')), []);
}));

for (const kind of ['memory', 'redis']) {
  test(`${kind}: cpu, memory and snapshot quotas name the limit and the usage; no Retry-After; freed by deletes`, { timeout: 60000 }, run(async () => {
    const sim = await env.sim({ name: `qc-${kind}`, args: ['--snapshot-delay-ms', '50'] });
    const key = T.newKey('cpu');
    const gw = await T.startGateway({
      backends: [h.backend(sim)], workers: 1, https: false,
      tenants: [{ id: 'team-b', keys: [T.keyHash(key)], policy: { max_sandboxes: 10, max_total_cpu: '2', max_total_memory: '3Gi', max_snapshots: 1 } }],
      redis: kind === 'redis' ? { address: ctx.redis.address, prefix: `sg-qc-${crypto.randomBytes(3).toString('hex')}:` } : undefined,
      lifecycle: { reconcile_interval: '1h' },
    });
    env.gateways.push(gw);
    const c = T.client(gw.httpUrl, key);
    const one = body({ resourceLimits: { cpu: '1', memory: '1Gi' } });
    const nolimit = await c.post('/v1/sandboxes', body({ resourceLimits: { memory: '1Gi' } }));
    assert.equal(nolimit.status, 400, `a create without resourceLimits.cpu under a total cpu quota: ${nolimit.status} ${nolimit.text}`);
    assert.match(nolimit.json.message, /resourceLimits.cpu is required/);
    const a = await c.post('/v1/sandboxes', one);
    assert.equal(a.status, 202, a.text);
    const mem = await c.post('/v1/sandboxes', body({ resourceLimits: { cpu: '500m', memory: '2560Mi' } }));
    assertQuotaRefusal(mem, /total memory: 1024Mi of 3072Mi in use, 2560Mi requested/);
    assert.equal(mem.headers['retry-after'], undefined, 'waiting does not help: no Retry-After');
    assert.equal((await c.post('/v1/sandboxes', one)).status, 202);
    const over = await c.post('/v1/sandboxes', body({ resourceLimits: { cpu: '100m', memory: '64Mi' } }));
    assertQuotaRefusal(over, /total cpu: 2 of 2 in use, 100m requested/);
    assert.equal(over.headers['retry-after'], undefined, 'waiting does not help: no Retry-After');
    // a delete frees its share at once
    assert.equal((await c.del(`/v1/sandboxes/${a.json.id}`)).status, 204);
    assert.equal((await c.post('/v1/sandboxes', one)).status, 202, 'a delete gave its cpu back');
    // snapshots: one allowed, the second refused until the first is deleted
    const sid = (await liveOn([sim], 'team-b'))[0].id;
    await c.waitState(sid, 'Running');
    const s1 = await c.post(`/v1/sandboxes/${sid}/snapshots`, { name: 'first' });
    assert.ok(s1.status === 200 || s1.status === 201 || s1.status === 202, `${s1.status} ${s1.text}`);
    const s2 = await c.post(`/v1/sandboxes/${sid}/snapshots`, { name: 'second' });
    assertQuotaRefusal(s2, /snapshots: 1 of 1/);
    await h.waitFor(async () => (await c.get(`/v1/snapshots/${s1.json.id}`)).json.status?.state === 'Ready', { timeoutMs: 5000, what: 'snapshot ready' });
    assert.equal((await c.del(`/v1/snapshots/${s1.json.id}`)).status, 204);
    const s3 = await c.post(`/v1/sandboxes/${sid}/snapshots`, { name: 'third' });
    assert.ok(s3.status >= 200 && s3.status < 300, `after the delete: ${s3.status} ${s3.text}`);
    // /metrics: refusals by tenant and limit; usage per tenant and per backend follows the records (2 live
    // sandboxes of 1 cpu and 1Gi, 1 snapshot), then goes back to 0 when they are gone
    const T_ = { tenant: 'team-b' }, B_ = { backend: sim.name };
    let m = await h.metrics(gw);
    assert.equal(h.metricValue(m, 'sandgate_quota_refusals_total', { tenant: 'team-b', reason: 'memory' }), 1);
    assert.equal(h.metricValue(m, 'sandgate_quota_refusals_total', { tenant: 'team-b', reason: 'cpu' }), 1);
    assert.equal(h.metricValue(m, 'sandgate_quota_refusals_total', { tenant: 'team-b', reason: 'snapshots' }), 1);
    assert.equal(h.metricValue(m, 'sandgate_refusals_total', { tenant: 'team-b', reason: 'QUOTA_EXCEEDED' }), 3);
    const usage = (text) => [h.metricValue(text, 'sandgate_tenant_live_sandboxes', T_), h.metricValue(text, 'sandgate_tenant_live_cpu_millicores', T_),
      h.metricValue(text, 'sandgate_tenant_live_memory_bytes', T_), h.metricValue(text, 'sandgate_tenant_snapshots', T_),
      h.metricValue(text, 'sandgate_backend_live_sandboxes', B_), h.metricValue(text, 'sandgate_backend_live_cpu_millicores', B_),
      h.metricValue(text, 'sandgate_backend_live_memory_bytes', B_)].join(' ');
    const want = `2 2000 ${2 * 1024 * 1024 * 1024} 1 2 2000 ${2 * 1024 * 1024 * 1024}`;
    await h.waitFor(async () => usage(m = await h.metrics(gw)) === want, { timeoutMs: 12000, what: `usage gauges ${want} (last: ${usage(m)})` });
    await c.del(`/v1/snapshots/${s3.json.id}`);
    await deleteAll(c, [sim], 'team-b');
    await h.waitFor(async () => usage(m = await h.metrics(gw)) === '0 0 0 0 0 0 0', { timeoutMs: 12000, what: `usage gauges back to 0 (last: ${usage(m)})` });
  }));
}

test('renew-expiration cannot pass max_timeout from now, not even by a fraction of a second', { timeout: 30000 }, run(async () => {
  const sim = await env.sim({ name: 'q-renew' });
  const key = T.newKey('renew');
  const gw = await T.startGateway({
    backends: [h.backend(sim)], workers: 1, https: false,
    tenants: [{ id: 'renewer', keys: [T.keyHash(key)], policy: { max_timeout: '10m' } }],
    lifecycle: { reconcile_interval: '1h' },
  });
  env.gateways.push(gw);
  const c = T.client(gw.httpUrl, key);
  const cr = await c.post('/v1/sandboxes', body({ timeout: 300 }));
  assert.equal(cr.status, 202, cr.text);
  const at = (ms) => new Date(Date.now() + ms).toISOString();
  const over = await c.post(`/v1/sandboxes/${cr.json.id}/renew-expiration`, { expiresAt: at(600 * 1000 + 700) });
  assert.equal(over.status, 403, `600.7 s ahead for a max_timeout of 600 s: ${over.status} ${over.text}`);
  assert.equal(over.json.code, 'GATEWAY::TIMEOUT_TOO_LONG');
  const far = await c.post(`/v1/sandboxes/${cr.json.id}/renew-expiration`, { expiresAt: at(3600 * 1000) });
  assert.equal(far.status, 403);
  const ok = await c.post(`/v1/sandboxes/${cr.json.id}/renew-expiration`, { expiresAt: at(590 * 1000) });
  assert.equal(ok.status, 200, ok.text);
  const sb = (await T.simState(sim)).sandboxes.find((s) => s.id === cr.json.id);
  assert.ok(Date.parse(sb.expiresAt) <= Date.now() + 600 * 1000, `backend expiry ${sb.expiresAt} within max_timeout`);
}));

for (const kind of ['memory', 'redis']) {
  test(`${kind}: TTL expiry, deletes behind the gateway's back and Failed sandboxes stop counting within one reconciliation`, { timeout: 60000 }, run(async () => {
    // ttl-scale 0.02: a timeout of 60 s lasts 1.2 s on the simulator (and its expiresAt says so)
    const sim = await env.sim({ name: `qh-${kind}`, args: ['--ttl-scale', '0.02'] });
    const key = T.newKey('heal');
    const gw = await T.startGateway({
      backends: [h.backend(sim)], workers: 2, https: false,
      tenants: [{ id: 'healer', keys: [T.keyHash(key)], policy: { max_sandboxes: 3, allow_manual_cleanup: true } }],
      redis: kind === 'redis' ? { address: ctx.redis.address, prefix: `sg-qh-${crypto.randomBytes(3).toString('hex')}:` } : undefined,
      lifecycle: { reconcile_interval: '1s' },
      health_check: { interval: '300ms', timeout: '200ms', healthy_threshold: 1, unhealthy_threshold: 1 },
    });
    env.gateways.push(gw);
    const c = T.client(gw.httpUrl, key);
    // TTL: three sandboxes that expire in 1.2 s
    for (let i = 0; i < 3; i++) assert.equal((await c.post('/v1/sandboxes', body({ timeout: 60 }))).status, 202);
    assertQuotaRefusal(await c.post('/v1/sandboxes', body({ timeout: null })), /live sandboxes: 3 of 3/);
    await h.waitFor(async () => (await liveOn([sim], 'healer')).length === 0, { timeoutMs: 5000, what: 'TTL expiry on the simulator' });
    const kept = [];
    for (let i = 0; i < 3; i++) {
      const r = await c.post('/v1/sandboxes', body({ timeout: null }));
      assert.equal(r.status, 202, `after the TTL expiry, create ${i}: ${r.status} ${r.text}`);
      kept.push(r.json.id);
    }
    assertQuotaRefusal(await c.post('/v1/sandboxes', body({ timeout: null })), /live sandboxes: 3 of 3/);
    // deleted directly on the backend, and one Failed: both stop counting after a reconciliation round
    await h.sleep(5200); // created more than 5 s before a round, so that round may call them vanished
    const del = await h.request(`${sim.base}/v1/sandboxes/${kept[0]}`, { method: 'DELETE', headers: sim.headers() });
    assert.equal(del.status, 204, del.text);
    const failed = await h.request(`${sim.base}/_sim/sandboxes/${kept[1]}/state`, { method: 'POST', json: { state: 'Failed', reason: 'oom', message: 'killed' } });
    assert.equal(failed.status, 200, failed.text);
    const t0 = Date.now();
    await h.waitFor(async () => {
      const a = await c.post('/v1/sandboxes', body({ timeout: null }));
      if (a.status === 202) kept.push(a.json.id);
      return kept.length === 5;
    }, { timeoutMs: 6000, intervalMs: 200, what: 'two creates admitted again' });
    const took = Date.now() - t0;
    assertQuotaRefusal(await c.post('/v1/sandboxes', body({ timeout: null })), /live sandboxes: 3 of 3/);
    assert.ok(took < 3500, `freed after ${took} ms; one reconciliation interval is 1 s`);
  }));
}

test('redis: a gateway SIGKILLed during creates: after the lease, usage equals the sandboxes live on the backend', { timeout: 90000 }, run(async () => {
  const sim = await env.sim({ name: 'q-kill' });
  const key = T.newKey('kill');
  const prefix = `sg-qk-${crypto.randomBytes(3).toString('hex')}:`;
  const opts = {
    backends: [h.backend(sim)], workers: 2, https: false,
    tenants: [{ id: 'victim', keys: [T.keyHash(key)], policy: { max_sandboxes: 6 } }],
    redis: { address: ctx.redis.address, prefix },
    lifecycle: { reconcile_interval: '1s', quota_lease: '4s' },
  };
  const a = await T.startGateway(opts);
  env.gateways.push(a);
  const b = await T.startGateway(opts);
  env.gateways.push(b);
  const A = T.client(a.httpUrl, key);
  const B = T.client(b.httpUrl, key);
  assert.equal((await B.post('/v1/sandboxes', body())).status, 202);
  // creates answered slowly by the backend (they take effect at once, the answer waits 3 s): A dies
  // while 4 of them wait for their answer, after the backend made the sandboxes and before any record
  await T.simFaults([sim], { responseLatencyMs: 3000 });
  const inflight = Array.from({ length: 4 }, () => A.post('/v1/sandboxes', body(), { timeoutMs: 10000 }).catch((e) => ({ status: 0, error: e })));
  await h.waitFor(async () => (await liveOn([sim], 'victim')).length === 5, { timeoutMs: 5000, what: 'the in-flight creates made on the backend' });
  const z = await ctx.redis.cmd('ZRANGE', `${prefix}quota:{victim}`, '0', '-1');
  assert.equal(z.filter((m) => m.startsWith('r:')).length, 4, `4 reservations in flight: ${JSON.stringify(z)}`);
  await a.kill();
  await Promise.all(inflight);
  await T.simFaults([sim], { responseLatencyMs: 0 });
  // the reservations of the dead gateway keep counting until the lease ends (a reconciliation adopting
  // the 4 sandboxes meanwhile counts them twice for a moment: never less than what is live)
  const early = [];
  for (let i = 0; i < 3; i++) early.push(await B.post('/v1/sandboxes', body()));
  assert.ok(early.filter((r) => r.status === 202).length <= 1, `at most one more fits: ${JSON.stringify(tally(early))}`);
  for (const r of early.filter((x) => x.status !== 202)) assertQuotaRefusal(r, /live sandboxes: [6-9] of 6/);
  assert.ok((await liveOn([sim], 'victim')).length <= 6);
  // after the lease (4 s from the reservations) and a reconciliation round the ledger names exactly
  // the live sandboxes: filling up the quota makes exactly 6 live
  await h.sleep(5000);
  for (let i = 0; i < 3; i++) await B.post('/v1/sandboxes', body());
  assertQuotaRefusal(await B.post('/v1/sandboxes', body()), /live sandboxes: 6 of 6/);
  const live = (await liveOn([sim], 'victim')).map((s) => s.id).sort();
  assert.equal(live.length, 6);
  const members = await ctx.redis.cmd('ZRANGE', `${prefix}quota:{victim}`, '0', '-1');
  assert.deepEqual(members.filter((m) => m.startsWith('s:')).map((m) => m.slice(2)).sort(), live);
  assert.deepEqual(members.filter((m) => m.startsWith('r:')), [], 'expired reservations were pruned');
  // deleting two gives exactly two creates back
  for (const id of live.slice(0, 2)) assert.equal((await B.del(`/v1/sandboxes/${id}`)).status, 204);
  assert.equal((await B.post('/v1/sandboxes', body())).status, 202);
  assert.equal((await B.post('/v1/sandboxes', body())).status, 202);
  assertQuotaRefusal(await B.post('/v1/sandboxes', body()), /live sandboxes: 6 of 6/);
  assert.equal((await liveOn([sim], 'victim')).length, 6);
}));

test('redis killed and restarted: quota operations fail closed (or open per tenant), reads work, no drift after recovery', { timeout: 90000 }, run(async () => {
  const sim = await env.sim({ name: 'q-down', args: ['--snapshot-delay-ms', '50'] });
  const kc = T.newKey('closed');
  const ko = T.newKey('open');
  const prefix = `sg-qd-${crypto.randomBytes(3).toString('hex')}:`;
  const gw = await T.startGateway({
    backends: [h.backend(sim)], workers: 2, https: false,
    tenants: [
      { id: 'closed', keys: [T.keyHash(kc)], policy: { max_sandboxes: 4, max_snapshots: 5 } },
      { id: 'open', keys: [T.keyHash(ko)], policy: { max_sandboxes: 4, max_snapshots: 5, quota_fail_open: true } },
    ],
    redis: { address: ctx.redis.address, prefix, connect_timeout: '300ms', command_timeout: '300ms' },
    lifecycle: { reconcile_interval: '1s' },
  });
  env.gateways.push(gw);
  const C = T.client(gw.httpUrl, kc);
  const O = T.client(gw.httpUrl, ko);
  const c1 = await C.post('/v1/sandboxes', body());
  const o1 = await O.post('/v1/sandboxes', body());
  assert.equal(c1.status, 202);
  assert.equal(o1.status, 202);
  await ctx.redis.kill();
  await h.sleep(300);
  // fail closed: a create and a snapshot of tenant "closed" get 503 STORE_UNAVAILABLE
  const cc = await C.post('/v1/sandboxes', body());
  assert.equal(cc.status, 503, cc.text);
  assert.equal(cc.json.code, 'GATEWAY::STORE_UNAVAILABLE');
  const cs = await C.post(`/v1/sandboxes/${c1.json.id}/snapshots`, { name: 'down' });
  assert.equal(cs.status, 503, cs.text);
  assert.equal(cs.json.code, 'GATEWAY::STORE_UNAVAILABLE');
  // fail open: the snapshot of tenant "open" goes through (a create still needs its record written: 503)
  const os = await O.post(`/v1/sandboxes/${o1.json.id}/snapshots`, { name: 'down' });
  assert.ok(os.status >= 200 && os.status < 300, `fail-open snapshot: ${os.status} ${os.text}`);
  // reads keep working (the owner cache)
  assert.equal((await C.get(`/v1/sandboxes/${c1.json.id}`)).status, 200);
  assert.equal((await O.get(`/v1/sandboxes/${o1.json.id}`)).status, 200);
  // Redis comes back (same data): the gateway recovers by itself and the ledger has not drifted
  ctx.redis = await ctx.redis.restart();
  await h.waitFor(async () => (await C.post('/v1/sandboxes', body())).status === 202, { timeoutMs: 15000, intervalMs: 300, what: 'a create after Redis is back' });
  for (let i = 0; i < 6; i++) await C.post('/v1/sandboxes', body());
  assertQuotaRefusal(await C.post('/v1/sandboxes', body()), /live sandboxes: 4 of 4/);
  assert.equal((await liveOn([sim], 'closed')).length, 4, 'exactly the quota is live after recovery');
  const members = await ctx.redis.cmd('ZRANGE', `${prefix}quota:{closed}`, '0', '-1');
  assert.deepEqual(members.filter((m) => m.startsWith('s:')).map((m) => m.slice(2)).sort(), (await liveOn([sim], 'closed')).map((s) => s.id).sort());
}));

test('redis: a sandbox deleted while a reconciliation round is listing the backends is not adopted back (no ghost in the ledger)', { timeout: 60000 }, run(async () => {
  const simA = await env.sim({ name: 'q-ghost-a' });
  const simB = await env.sim({ name: 'q-ghost-b' });
  const key = T.newKey('ghost');
  const prefix = `sg-qg-${crypto.randomBytes(3).toString('hex')}:`;
  const gw = await T.startGateway({
    backends: [h.backend(simA), h.backend(simB)], workers: 1, https: false,
    tenants: [{ id: 'ghost', keys: [T.keyHash(key)], policy: { max_sandboxes: 1 } }],
    redis: { address: ctx.redis.address, prefix },
    lifecycle: { reconcile_interval: '1s' },
  });
  env.gateways.push(gw);
  const c = T.client(gw.httpUrl, key);
  for (let round = 0; round < 3; round++) {
    await T.resetFaults([simA, simB]);
    const s = await c.post('/v1/sandboxes', body());
    assert.equal(s.status, 202, s.text);
    await c.waitState(s.json.id, 'Running');
    // the other backend answers its listing 2 s late: each round lists the sandbox's backend at once, then waits
    const onA = (await liveOn([simA], 'ghost')).some((x) => x.id === s.json.id);
    const [home, slow] = onA ? [simA, simB] : [simB, simA];
    await T.simFaults([slow], { responseLatencyMs: 2000 });
    // wait until a round that started after the fault has listed the sandbox's backend: it now waits 2 s for the other
    const since = (await h.request(`${home.base}/_sim/requests?since=0`)).json.lastSeq;
    await h.waitFor(async () => (await h.request(`${home.base}/_sim/requests?since=${since}&pathPrefix=/v1/sandboxes?page=`)).json.items.length > 0,
      { timeoutMs: 8000, intervalMs: 20, what: 'a reconciliation round listing the backend' });
    assert.equal((await c.del(`/v1/sandboxes/${s.json.id}`)).status, 204);
    await h.sleep(3500); // that round ends (and would adopt what its listing saw), the next one starts
    const members = await ctx.redis.cmd('ZRANGE', `${prefix}quota:{ghost}`, '0', '-1');
    assert.deepEqual(members.filter((m) => m.startsWith('s:')), [], `round ${round}: the deleted sandbox counts again`);
    assert.equal(await ctx.redis.cmd('EXISTS', `${prefix}sbx:${s.json.id}`), 0, `round ${round}: its record came back`);
  }
  await T.resetFaults([simA, simB]);
}));
