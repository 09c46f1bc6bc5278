'use strict';
// Issue 6 item 5: stale caches must not send traffic to a sandbox that no longer exists. Two sandgate
// processes share one real redis-server; the simulator runs with --ttl-scale so that TTLs pass in
// seconds. After a sandbox is gone (deleted through the other gateway, expired by TTL, or deleted while
// the first gateway's subscription was cut), a new listener (the "impostor") takes its freed host port;
// gateway 1 must answer 404 to port traffic and lifecycle GET within the bound (1 s), and never hand a
// request to the impostor after that.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const env = h.env();
const ctx = {};
const guard = T.skippable(env, ctx);
const BOUND_MS = 1000;
const TTL_SCALE = 0.05; // a 60 s timeout expires after 3 s

function gwOpts(extra) {
  return Object.assign({
    backends: ctx.sims.map((s) => h.backend(s)),
    https: false,
    admin: false,
    workers: 1,
    tenants: [
      { id: 'tenant-a', keys: [T.keyHash(ctx.kA)], policy: { allow_manual_cleanup: true } },
      { id: 'tenant-b', keys: [T.keyHash(ctx.kB)], policy: { allow_manual_cleanup: true } },
    ],
    redis: { address: ctx.redis.address, prefix: ctx.prefix },
    lifecycle: { reconcile_interval: '1h' },
  }, extra || {});
}

test.before(async () => {
  try {
    ctx.redis = await T.startRedis({ persist: false });
  } catch (e) {
    ctx.skip = `cannot start redis-server: ${e.message}`;
    return;
  }
  ctx.sims = [await env.sim({ name: 'ce-a', args: ['--command-grace-ms', '0', '--ttl-scale', String(TTL_SCALE)] })];
  ctx.kA = T.newKey('a');
  ctx.kB = T.newKey('b');
  ctx.prefix = `sg-ce-${crypto.randomBytes(3).toString('hex')}:`;
  ctx.gw1 = await T.startGateway(gwOpts());
  ctx.gw2 = await T.startGateway(gwOpts());
  env.gateways.push(ctx.gw1, ctx.gw2);
  ctx.A1 = T.client(ctx.gw1.httpUrl, ctx.kA);
  ctx.A2 = T.client(ctx.gw2.httpUrl, ctx.kA);
}, { timeout: 60000 });

test.after(async () => {
  await env.cleanup();
  if (ctx.redis) await ctx.redis.kill();
});

async function hostPortOf(id) {
  const sb = (await T.simState(ctx.sims[0])).sandboxes.find((x) => x.id === id);
  assert.ok(sb && sb.hostPort, `no host port for ${id} in the simulator state`);
  return sb.hostPort;
}

// A listener on the sandbox's freed host port: what the issue saw (another tenant's app got A's upload).
async function impostorOn(port) {
  const imp = { hits: [] };
  imp.server = http.createServer((req, res) => {
    imp.hits.push({ at: Date.now(), method: req.method, url: req.url });
    req.resume();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ served_by: 'impostor' }));
  });
  // the simulator closes the sandbox listener when it deletes the sandbox: retry briefly until the port is free
  await h.waitFor(() => new Promise((resolve) => {
    imp.server.once('error', () => resolve(false));
    imp.server.listen(port, '127.0.0.1', () => resolve(true));
  }), { timeoutMs: 5000, intervalMs: 20, what: `listening on the freed host port ${port}` });
  imp.close = () => new Promise((resolve) => { imp.server.closeAllConnections(); imp.server.close(() => resolve()); });
  return imp;
}

// Sends port traffic (the upload) and a lifecycle GET through c until both answer 404, every 25 ms for at
// most 4 s. Resolves {stale: send time (relative to t0) of the last request that did not get 404, -1 if none;
// answers}. The bound holds when every request sent BOUND_MS or more after t0 got 404.
async function until404(c, id, t0) {
  const answers = [];
  let stale = -1;
  const deadline = Date.now() + 4000;
  while (Date.now() < deadline) {
    const sent = Date.now();
    const up = await c.post(`/sandboxes/${id}/port/44772/files/upload`, undefined, {
      headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: Buffer.from('--x--\r\n'),
    });
    const sentGet = Date.now();
    const g = await c.get(`/v1/sandboxes/${id}`);
    answers.push(`${sent - t0} ms: port ${up.status} ${up.text.slice(0, 60)} | GET ${g.status}`);
    if (up.status !== 404) stale = sent - t0;
    if (g.status !== 404) stale = sentGet - t0;
    if (up.status === 404 && g.status === 404) {
      assert.equal(up.json && up.json.code, 'GATEWAY::SANDBOX_NOT_FOUND', up.text);
      return { stale, answers };
    }
    await h.sleep(25);
  }
  return { stale: Infinity, answers };
}

// After the first 404: 20 more requests, all 404, none reaching the impostor.
async function stays404(c, id, imp) {
  const before = imp.hits.length;
  for (let i = 0; i < 20; i++) {
    const r = await c.get(`/sandboxes/${id}/port/44772/ping`);
    assert.equal(r.status, 404, `request ${i} after the first 404: ${r.status} ${r.text}`);
  }
  assert.equal(imp.hits.length, before, `the impostor got requests after the gateway answered 404: ${JSON.stringify(imp.hits.slice(before))}`);
}

// The listener on the freed port may only have been reached within the bound (the event is published when the
// store delete commits, which the delete's answer does not wait for).
function assertWithinBound(imp, t0, what) {
  const late = imp.hits.filter((x) => x.at - t0 >= BOUND_MS);
  assert.deepEqual(late, [], `requests reached the listener that took the port of ${what} ${BOUND_MS} ms or more after it was gone`);
}

async function warm(c, id) {
  const p = await c.get(`/sandboxes/${id}/port/44772/ping`);
  assert.equal(p.status, 200, `warm-up port traffic: ${p.status} ${p.text}`);
  const g = await c.get(`/v1/sandboxes/${id}`);
  assert.equal(g.status, 200, `warm-up GET: ${g.status} ${g.text}`);
}

test('deleted through gateway 2: gateway 1 answers 404 within 1 s, never the listener that took the port', { timeout: 60000 }, guard(async (t) => {
  const id = (await ctx.A1.create({ timeout: 3600 })).id;
  const port = await hostPortOf(id);
  await warm(ctx.A1, id);
  await warm(ctx.A1, id); // answered from gateway 1's caches now
  const d = await ctx.A2.del(`/v1/sandboxes/${id}`);
  assert.equal(d.status, 204, d.text);
  const t0 = Date.now();
  const imp = await impostorOn(port);
  try {
    const r = await until404(ctx.A1, id, t0);
    t.diagnostic(`gateway 1: last stale answer to a request sent ${r.stale} ms after the delete through gateway 2 returned (-1: none); impostor hits: ${imp.hits.length}`);
    assert.ok(r.stale < BOUND_MS, `gateway 1 still served the deleted sandbox to a request sent ${r.stale} ms after the delete:\n${r.answers.slice(-5).join('\n')}`);
    assertWithinBound(imp, t0, 'the deleted sandbox');
    await stays404(ctx.A1, id, imp);
  } finally {
    await imp.close();
  }
}));

test('expired by TTL: neither gateway reaches it through its caches', { timeout: 60000 }, guard(async (t) => {
  const created = await ctx.A1.create({ timeout: 60 }); // 3 s with --ttl-scale 0.05
  const id = created.id;
  const expiresAt = Date.parse(created.expiresAt);
  assert.ok(expiresAt > Date.now(), `expiresAt ${created.expiresAt} already passed`);
  const port = await hostPortOf(id);
  // keep both gateways' caches hot until just before expiry
  while (Date.now() < expiresAt - 300) {
    await warm(ctx.A1, id);
    await warm(ctx.A2, id);
    await h.sleep(100);
  }
  await h.waitFor(async () => !(await T.simState(ctx.sims[0])).sandboxes.some((x) => x.id === id),
    { timeoutMs: 5000, intervalMs: 20, what: `the simulator expiring ${id}` });
  const t0 = Date.now();
  const imp = await impostorOn(port);
  try {
    for (const [name, c] of [['gateway 1', ctx.A1], ['gateway 2', ctx.A2]]) {
      const r = await until404(c, id, t0);
      t.diagnostic(`${name}: last stale answer ${r.stale} ms after the simulator expired the sandbox (-1: none; now ${Date.now() - expiresAt} ms after expiresAt)`);
      assert.ok(r.stale < BOUND_MS, `${name} still served the expired sandbox:\n${r.answers.slice(-5).join('\n')}`);
      await stays404(c, id, imp);
    }
    assertWithinBound(imp, t0, 'the expired sandbox');
  } finally {
    await imp.close();
  }
}));

test('subscription cut when the delete happens: caches are trusted at most 1 s, then resubscribed', { timeout: 60000 }, guard(async (t) => {
  const id = (await ctx.A1.create({ timeout: 3600 })).id;
  const port = await hostPortOf(id);
  await warm(ctx.A1, id);
  await warm(ctx.A1, id);
  // every subscriber loses its connection, so the delete's event reaches nobody: only the trust rule is left
  await ctx.redis.cmd('CLIENT', 'KILL', 'TYPE', 'pubsub');
  const d = await ctx.A2.del(`/v1/sandboxes/${id}`);
  assert.equal(d.status, 204, d.text);
  const t0 = Date.now();
  const imp = await impostorOn(port);
  try {
    const r = await until404(ctx.A1, id, t0);
    t.diagnostic(`gateway 1 (event missed): last stale answer to a request sent ${r.stale} ms after the delete; impostor hits: ${imp.hits.length}`);
    assert.ok(r.stale < BOUND_MS, `gateway 1 trusted its caches for more than ${BOUND_MS} ms without a subscription:\n${r.answers.slice(-5).join('\n')}`);
    await stays404(ctx.A1, id, imp);
  } finally {
    await imp.close();
  }
  // resubscribed: a later delete is seen at once again
  const n = (await ctx.A1.create({ timeout: 3600 })).id;
  await h.waitFor(async () => (await ctx.redis.cmd('PUBSUB', 'NUMSUB', `${ctx.prefix}events`))[1] >= 2,
    { timeoutMs: 10000, intervalMs: 50, what: 'both gateways subscribed again' });
  await h.sleep(1200); // entries read now are vouched for by the new subscription only
  await warm(ctx.A1, n);
  await h.sleep(1200);
  await warm(ctx.A1, n);
  const np = await hostPortOf(n);
  assert.equal((await ctx.A2.del(`/v1/sandboxes/${n}`)).status, 204);
  const t1 = Date.now();
  const imp2 = await impostorOn(np);
  try {
    const r = await until404(ctx.A1, n, t1);
    t.diagnostic(`after resubscribing: last stale answer ${r.stale} ms after the delete (-1: none)`);
    assert.ok(r.stale < BOUND_MS, r.answers.slice(-5).join('\n'));
    assertWithinBound(imp2, t1, 'the deleted sandbox (after resubscribing)');
  } finally {
    await imp2.close();
  }
}));

test('an id adopted through gateway 2 is no longer "not found" on gateway 1 (negative cache invalidated)', { timeout: 60000 }, guard(async () => {
  // created behind the gateways' back, untagged: nobody's, so "not found" for A (remembered for negative_cache_ttl, 10 s)
  const id = await h.createSandbox(ctx.sims[0]);
  assert.equal((await ctx.A1.get(`/v1/sandboxes/${id}`)).status, 404);
  await ctx.sims[0].clearRequests();
  assert.equal((await ctx.A1.get(`/v1/sandboxes/${id}`)).status, 404);
  const probes = (await ctx.sims[0].requests(null, 0)).items.filter((e) => e.url.includes(id));
  assert.deepEqual(probes.map((e) => `${e.method} ${e.url}`), [], 'the second look-up was not answered from the negative cache');
  // tagged for A on the backend, then adopted into the store through gateway 2 (its own look-up)
  const p = await h.request(`${ctx.sims[0].base}/v1/sandboxes/${id}/metadata`, {
    method: 'PATCH', headers: ctx.sims[0].headers(), json: { [T.TAG]: 'tenant-a' },
  });
  assert.equal(p.status, 200, p.text);
  assert.equal((await ctx.A2.get(`/v1/sandboxes/${id}`)).status, 200, 'gateway 2 did not adopt the tagged sandbox');
  let last;
  await h.waitFor(async () => { last = await ctx.A1.get(`/v1/sandboxes/${id}`); return last.status === 200; },
    { timeoutMs: BOUND_MS, intervalMs: 25, what: `gateway 1 forgetting its "not found" (last ${last && last.status})` });
}));

test('both gateways exit cleanly', { timeout: 30000 }, guard(async () => {
  for (const g of [ctx.gw1, ctx.gw2]) {
    const r = await g.stop();
    assert.equal(r.code, 0, `exit ${JSON.stringify(r)}\n${g.stderrTail(3000)}`);
  }
}));
