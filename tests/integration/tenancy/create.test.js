'use strict';
// Create under tenancy: policy refusals (message naming the rule and the value), the tenant tag
// (added by the gateway, never set or changed by the client, at create or by PATCH), placement
// (least loaded, backend_labels pinning, restore on the snapshot's backend) and backend failures
// (clear error, nothing recorded).
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const env = h.env();
const ctx = {};
const LABELS = { 'cr-a': 'docker', 'cr-b': 'gvisor', 'cr-c': 'kata' };
const BASE = { image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], timeout: 600, resourceLimits: { cpu: '500m', memory: '512Mi' } };
const body = (over) => Object.assign({}, BASE, over || {});

test.before(async () => {
  ctx.sims = [];
  for (const n of Object.keys(LABELS)) ctx.sims.push(await env.sim({ name: n, args: ['--snapshot-delay-ms', '50'] }));
  ctx.keys = {};
  for (const t of ['policy', 'free', 'gvisor-only', 'sandboxed', 'nowhere']) ctx.keys[t] = T.newKey(t);
  // Three sandboxes of tenant "free" already on cr-a (tagged, as the gateway tags them): cr-a is
  // the most loaded backend once the gateway's first reconciliation counted them.
  ctx.preloaded = [];
  for (let i = 0; i < 3; i++) {
    const r = await h.request(`${ctx.sims[0].base}/v1/sandboxes`, { method: 'POST', headers: ctx.sims[0].headers(), json: body({ metadata: { [T.TAG]: 'free' } }) });
    assert.equal(r.status, 202, r.text);
    ctx.preloaded.push(r.json.id);
  }
  ctx.gw = await T.startGateway({
    backends: ctx.sims.map((s) => h.backend(s, { labels: { runtime: LABELS[s.name] } })),
    tenants: [
      {
        id: 'policy', keys: [T.keyHash(ctx.keys.policy)],
        policy: { allowed_images: ['python:*', 'docker.io/library/*'], max_timeout: '1h', allow_manual_cleanup: false, max_cpu: '2', max_memory: '4Gi' },
      },
      { id: 'free', keys: [T.keyHash(ctx.keys.free)], policy: { allow_manual_cleanup: true } },
      { id: 'gvisor-only', keys: [T.keyHash(ctx.keys['gvisor-only'])], backend_labels: { runtime: ['gvisor'] } },
      { id: 'sandboxed', keys: [T.keyHash(ctx.keys.sandboxed)], backend_labels: { runtime: ['gvisor', 'kata'] } },
      { id: 'nowhere', keys: [T.keyHash(ctx.keys.nowhere)], backend_labels: { runtime: ['firecracker'] } },
    ],
    lifecycle: { reconcile_interval: '1h' },
    health_check: { interval: '300ms', timeout: '200ms', healthy_threshold: 1, unhealthy_threshold: 1 },
  });
  env.gateways.push(ctx.gw);
  ctx.c = {};
  for (const t of Object.keys(ctx.keys)) ctx.c[t] = T.client(ctx.gw.httpUrl, ctx.keys[t]);
  // the first reconciliation runs 2 s after start: it counts (and adopts) the preloaded sandboxes
  await h.sleep(2600);
}, { timeout: 60000 });

test.after(() => env.cleanup());

async function seqs() {
  const out = {};
  for (const s of ctx.sims) out[s.name] = (await s.requests('/__none__')).lastSeq;
  return out;
}
async function createsSince(since) {
  const seen = [];
  for (const s of ctx.sims) {
    for (const e of (await s.requests('/v1/sandboxes', since[s.name])).items) if (e.method === 'POST' && e.url.split('?')[0] === '/v1/sandboxes') seen.push(`${s.name} ${e.status}`);
  }
  return seen;
}
// live (not Terminated/Failed) sandboxes carrying any tenant tag, per simulator
async function liveCounts() {
  const out = {};
  for (const s of ctx.sims) {
    out[s.name] = (await T.simState(s)).sandboxes.filter((sb) => sb.metadata[T.TAG] && !['Terminated', 'Failed'].includes(sb.state)).length;
  }
  return out;
}
async function whereIs(id, sims) {
  const all = await T.allSandboxes(sims || ctx.sims);
  return all[id] ? all[id].sim : null;
}

test('policy refusals: 403 with the rule and the value named, nothing sent to a backend', { timeout: 30000 }, env.wrap(async () => {
  const P = ctx.c.policy;
  const cases = [
    [{ image: { uri: 'ubuntu:22.04' } }, 'GATEWAY::IMAGE_NOT_ALLOWED', [/allowed_images/, /ubuntu:22\.04/]],
    [{ image: { uri: 'pythonx:3' } }, 'GATEWAY::IMAGE_NOT_ALLOWED', [/allowed_images/, /pythonx:3/]],
    [{ image: { uri: 'docker.io/evil/python:3' } }, 'GATEWAY::IMAGE_NOT_ALLOWED', [/allowed_images/, /docker\.io\/evil\/python:3/]],
    [{ timeout: 3601 }, 'GATEWAY::TIMEOUT_TOO_LONG', [/max_timeout/, /3601/]],
    [{ timeout: 86400 * 365 }, 'GATEWAY::TIMEOUT_TOO_LONG', [/max_timeout/, /31536000/]],
    [{ timeout: undefined }, 'GATEWAY::MANUAL_CLEANUP_NOT_ALLOWED', [/allow_manual_cleanup/]],
    [{ timeout: null }, 'GATEWAY::MANUAL_CLEANUP_NOT_ALLOWED', [/allow_manual_cleanup/]],
    [{ resourceLimits: { cpu: '2500m', memory: '1Gi' } }, 'GATEWAY::CPU_LIMIT_EXCEEDED', [/max_cpu/, /2500m/]],
    [{ resourceLimits: { cpu: '3', memory: '1Gi' } }, 'GATEWAY::CPU_LIMIT_EXCEEDED', [/max_cpu/, /3000m|\b3\b/]],
    [{ resourceLimits: { cpu: '1', memory: '5Gi' } }, 'GATEWAY::MEMORY_LIMIT_EXCEEDED', [/max_memory/, /5Gi|5120Mi/]],
    [{ resourceLimits: { cpu: '1', memory: '4097Mi' } }, 'GATEWAY::MEMORY_LIMIT_EXCEEDED', [/max_memory/, /4097Mi/]],
  ];
  const since = await seqs();
  const before = Object.keys(await T.allSandboxes(ctx.sims)).length;
  for (const [over, code, patterns] of cases) {
    const b = body(over);
    if ('timeout' in over && over.timeout === undefined) delete b.timeout;
    const r = await P.post('/v1/sandboxes', b);
    assert.equal(r.status, 403, `${JSON.stringify(over)}: ${r.status} ${r.text}`);
    assert.ok(T.isJsonError(r), r.text);
    assert.equal(r.json.code, code, JSON.stringify(over));
    for (const p of patterns) assert.match(r.json.message, p, `${JSON.stringify(over)}: message ${r.json.message}`);
  }
  assert.deepEqual(await createsSince(since), [], 'a refused create reached a backend');
  assert.equal(Object.keys(await T.allSandboxes(ctx.sims)).length, before);
  assert.deepEqual((await P.get('/v1/sandboxes')).json.items, []);
}));

test('policy boundaries are allowed (max values, every allowed image pattern)', { timeout: 30000 }, env.wrap(async () => {
  const P = ctx.c.policy;
  const ok = [
    { timeout: 3600 },
    { image: { uri: 'docker.io/library/node:20' } },
    { resourceLimits: { cpu: '2', memory: '4Gi' } },
    { resourceLimits: { cpu: '2000m', memory: '4096Mi' } },
  ];
  for (const over of ok) {
    const r = await P.post('/v1/sandboxes', body(over));
    assert.equal(r.status, 202, `${JSON.stringify(over)}: ${r.text}`);
    const d = await P.del(`/v1/sandboxes/${r.json.id}`);
    assert.ok(d.status === 204 || d.status === 200, d.text);
  }
}));

test('the gateway tags the sandbox with the tenant; the client cannot set the tag at create', { timeout: 30000 }, env.wrap(async () => {
  const F = ctx.c.free;
  const withMd = await F.create({ metadata: { team: 'x', 'app.kubernetes.io/name': 'web' } });
  const without = await F.create({});
  const nullMd = await F.create({ metadata: null });
  const all = await T.allSandboxes(ctx.sims);
  assert.deepEqual(all[withMd.id].sb.metadata, { team: 'x', 'app.kubernetes.io/name': 'web', [T.TAG]: 'free' });
  assert.deepEqual(all[without.id].sb.metadata, { [T.TAG]: 'free' });
  assert.deepEqual(all[nullMd.id].sb.metadata, { [T.TAG]: 'free' });

  const since = await seqs();
  const count = Object.keys(all).length;
  const attempts = [
    JSON.stringify(body({ metadata: { [T.TAG]: 'free' } })),
    JSON.stringify(body({ metadata: { [T.TAG]: 'policy' } })),
    JSON.stringify(body({ metadata: { team: 'x', [T.TAG]: '' } })),
    JSON.stringify(body({ metadata: { [T.TAG]: null } })),
    JSON.stringify(body({ metadata: { PLACEHOLDER: 'policy' } })).replace('PLACEHOLDER', 'sandgate.io\\u002ftenant'),
    JSON.stringify(body({ metadata: { PLACEHOLDER: 'policy' } })).replace('PLACEHOLDER', 'sandgate.io\\/tenant'),
    JSON.stringify(body({ metadata: { PLACEHOLDER: 'policy' } })).replace('PLACEHOLDER', '\\u0073andgate.io/tenant'),
  ];
  for (const raw of attempts) {
    const r = await F.post('/v1/sandboxes', undefined, { body: Buffer.from(raw), headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 403, `${raw}: ${r.status} ${r.text}`);
    assert.equal(r.json.code, 'GATEWAY::RESERVED_METADATA', raw);
    assert.match(r.json.message, /sandgate\.io\/tenant/);
  }
  assert.deepEqual(await createsSince(since), []);
  assert.equal(Object.keys(await T.allSandboxes(ctx.sims)).length, count);
  ctx.tagged = withMd.id;
}));

test('PATCH metadata cannot set, change or remove the tag; other keys patch normally', { timeout: 30000 }, env.wrap(async () => {
  const F = ctx.c.free;
  const id = ctx.tagged;
  const meta = async () => (await T.allSandboxes(ctx.sims))[id].sb.metadata;
  const before = await meta();
  const attempts = [
    JSON.stringify({ [T.TAG]: 'policy' }),
    JSON.stringify({ [T.TAG]: null }),
    JSON.stringify({ [T.TAG]: 'free' }),
    JSON.stringify({ team: 'y', [T.TAG]: 'policy' }),
    '{"sandgate.io\\u002ftenant":"policy"}',
    '{"sandgate.io\\/tenant":null}',
  ];
  for (const raw of attempts) {
    const r = await F.patch(`/v1/sandboxes/${id}/metadata`, undefined, { body: Buffer.from(raw), headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 403, `${raw}: ${r.status} ${r.text}`);
    assert.equal(r.json.code, 'GATEWAY::RESERVED_METADATA', raw);
    assert.deepEqual(await meta(), before, `${raw} changed the metadata`);
  }
  const ok = await F.patch(`/v1/sandboxes/${id}/metadata`, { team: 'y', 'app.kubernetes.io/name': null });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(await meta(), { team: 'y', [T.TAG]: 'free' });
  const noop = await F.patch(`/v1/sandboxes/${id}/metadata`, {});
  assert.equal(noop.status, 200, noop.text);
  assert.equal((await F.get(`/v1/sandboxes/${id}`)).status, 200);
  assert.ok((await F.listAll(`metadata=${encodeURIComponent('team=y')}`)).some((x) => x.id === id));
}));

test('placement: each create goes to a least-loaded backend (the preloaded one is avoided)', { timeout: 60000 }, env.wrap(async () => {
  const F = ctx.c.free;
  const placed = [];
  for (let i = 0; i < 6; i++) {
    const counts = await liveCounts();
    const min = Math.min(...Object.values(counts));
    const r = await F.create({}, false);
    const where = await whereIs(r.id);
    placed.push(where);
    assert.equal(counts[where], min, `create ${i} went to ${where} although the live counts were ${JSON.stringify(counts)}`);
  }
  assert.ok(!placed.slice(0, 2).includes('cr-a'), `the most loaded backend got one of the first creates: ${placed}`);
  const counts = await liveCounts();
  assert.ok(Math.max(...Object.values(counts)) - Math.min(...Object.values(counts)) <= 1, `unbalanced: ${JSON.stringify(counts)}`);
}));

test('placement: backend_labels pin a tenant to matching backends; no match is 503 NO_CAPACITY', { timeout: 60000 }, env.wrap(async () => {
  for (let i = 0; i < 4; i++) {
    const r = await ctx.c['gvisor-only'].create({}, false);
    assert.equal(await whereIs(r.id), 'cr-b', 'gvisor-only tenant placed off its label');
  }
  const seen = new Set();
  for (let i = 0; i < 6; i++) {
    const r = await ctx.c.sandboxed.create({}, false);
    const w = await whereIs(r.id);
    assert.ok(w === 'cr-b' || w === 'cr-c', `sandboxed tenant placed on ${w}`);
    seen.add(w);
  }
  assert.equal(seen.size, 2, 'the pinned tenant only ever got one of its two backends');
  const since = await seqs();
  const r = await ctx.c.nowhere.post('/v1/sandboxes', body());
  assert.equal(r.status, 503, r.text);
  assert.equal(r.json.code, 'GATEWAY::NO_CAPACITY');
  assert.deepEqual(await createsSince(since), []);
  assert.deepEqual((await ctx.c.nowhere.get('/v1/sandboxes')).json.items, []);
}));

test('create from a snapshot goes to the backend holding the snapshot, even the most loaded one', { timeout: 60000 }, env.wrap(async () => {
  const F = ctx.c.free;
  // a preloaded (adopted) sandbox on cr-a, the most loaded backend
  const src = ctx.preloaded[0];
  assert.equal((await F.get(`/v1/sandboxes/${src}`)).status, 200, 'the preloaded tagged sandbox is the tenant\'s');
  const snap = await F.snapshot(src, 'restore-me');
  for (let i = 0; i < 3; i++) {
    const counts = await liveCounts();
    const r = await F.post('/v1/sandboxes', { snapshotId: snap.id, timeout: 600, resourceLimits: { cpu: '100m', memory: '64Mi' } });
    assert.equal(r.status, 202, r.text);
    assert.equal(await whereIs(r.json.id), 'cr-a', `restore ${i} not on the snapshot's backend (counts ${JSON.stringify(counts)})`);
    const sb = (await T.allSandboxes(ctx.sims))[r.json.id].sb;
    assert.equal(sb.snapshotId, snap.id);
    assert.equal(sb.metadata[T.TAG], 'free', 'a restored sandbox is tagged too');
    assert.equal((await F.get(`/v1/sandboxes/${r.json.id}`)).status, 200);
  }
  // a snapshot on cr-b, restored: on cr-b
  const onB = await ctx.c['gvisor-only'].create({});
  const snapB = await ctx.c['gvisor-only'].snapshot(onB.id);
  const r = await ctx.c['gvisor-only'].post('/v1/sandboxes', { snapshotId: snapB.id, timeout: 600, resourceLimits: { cpu: '100m', memory: '64Mi' } });
  assert.equal(r.status, 202, r.text);
  assert.equal(await whereIs(r.json.id), 'cr-b');
}));

async function assertNothingRecorded(tenantClient, beforeIds, beforeSimIds, what) {
  // backends that answered 5xx may be marked down for a moment: compare full lists only
  await h.waitFor(async () => (await tenantClient.get('/v1/sandboxes')).headers['x-sandgate-unavailable-backends'] === undefined,
    { timeoutMs: 10000, what: `${what}: every backend up again` });
  const after = (await tenantClient.listAll('')).map((x) => x.id).sort();
  assert.deepEqual(after, beforeIds, `${what}: the tenant's list changed`);
  const simIds = Object.keys(await T.allSandboxes(ctx.sims)).sort();
  assert.deepEqual(simIds, beforeSimIds, `${what}: a sandbox exists on a backend`);
}

test('backend failure on create (errorRate 1, connection reset, listener down): clear error, nothing recorded', { timeout: 90000 }, env.wrap(async () => {
  const F = ctx.c.free;
  const beforeIds = (await F.listAll('')).map((x) => x.id).sort();
  const beforeSimIds = Object.keys(await T.allSandboxes(ctx.sims)).sort();

  await T.simFaults(ctx.sims, { errorRate: 1, errorStatus: 500 });
  try {
    const r = await F.post('/v1/sandboxes', body());
    assert.ok(r.status >= 500, `errorRate 1: ${r.status} ${r.text}`);
    assert.ok(T.isJsonError(r), `errorRate 1: not a JSON error: ${r.text}`);
  } finally { await T.resetFaults(ctx.sims); }
  await assertNothingRecorded(F, beforeIds, beforeSimIds, 'errorRate 1');

  await T.simFaults(ctx.sims, { resetRate: 1 });
  try {
    const r = await F.post('/v1/sandboxes', body());
    assert.ok(r.status === 502 || r.status === 503, `resetRate 1: ${r.status} ${r.text}`);
    assert.ok(T.isJsonError(r), r.text);
    assert.match(r.json.code, /^GATEWAY::/);
  } finally { await T.resetFaults(ctx.sims); }
  await assertNothingRecorded(F, beforeIds, beforeSimIds, 'resetRate 1');

  for (const s of ctx.sims) await h.request(`${s.base}/_sim/down`, { method: 'POST', json: { ms: 2500 } });
  await h.sleep(100);
  const r = await F.post('/v1/sandboxes', body());
  assert.ok(r.status === 502 || r.status === 503, `all backends down: ${r.status} ${r.text}`);
  assert.ok(T.isJsonError(r), r.text);
  assert.match(r.json.code, /^GATEWAY::/);
  for (const s of ctx.sims) await h.waitFor(async () => { try { return (await h.request(`${s.base}/health`, { timeoutMs: 500 })).status === 200; } catch (_) { return false; } }, { timeoutMs: 10000, what: `${s.name} back` });
  await h.waitFor(async () => (await F.get('/v1/sandboxes')).headers['x-sandgate-unavailable-backends'] === undefined, { timeoutMs: 10000, what: 'backends up again' });
  await assertNothingRecorded(F, beforeIds, beforeSimIds, 'all backends down');
  // the gateway still serves
  assert.equal((await h.request(`${ctx.gw.httpUrl}/health`)).status, 200);
}));

test('a backend marked down gets no creates; the others take them', { timeout: 60000 }, env.wrap(async () => {
  const F = ctx.c.free;
  const c = ctx.sims[2];
  await h.request(`${c.base}/_sim/down`, { method: 'POST', json: { ms: 5000 } });
  await h.waitFor(async () => (await h.backendState(ctx.gw, 'cr-c')) === 'down', { timeoutMs: 4000, what: 'cr-c marked down' });
  for (let i = 0; i < 4; i++) {
    const r = await F.post('/v1/sandboxes', body());
    assert.equal(r.status, 202, `create ${i} with one backend down: ${r.status} ${r.text}`);
    const w = await whereIs(r.json.id, ctx.sims.slice(0, 2));
    assert.ok(w === 'cr-a' || w === 'cr-b', `placed on ${w}`);
  }
  await h.waitFor(async () => (await h.backendState(ctx.gw, 'cr-c')) === 'up', { timeoutMs: 15000, what: 'cr-c back up' });
}));

test('a create that times out at the backend: clear 5xx JSON error, and no sandbox of that create shows up later', { timeout: 60000 }, env.wrap(async () => {
  // Own backend and gateway: the backend answers after the gateway's upstream_io_timeout, but it
  // does create the sandbox (it was asked to). The client was told the create failed.
  const slow = await env.sim({ name: 'cr-slow' });
  const key = T.newKey('slow');
  const gw = await T.startGateway({
    backends: [h.backend(slow)],
    tenants: [{ id: 'slow', keys: [T.keyHash(key)], policy: { allow_manual_cleanup: true } }],
    limits: { upstream_io_timeout: '1s' },
    lifecycle: { reconcile_interval: '1s' },
  });
  env.gateways.push(gw);
  const S = T.client(gw.httpUrl, key);
  await slow.faults({ latencyMs: 1800 });
  let r;
  try {
    r = await S.post('/v1/sandboxes', body(), { timeoutMs: 15000 });
  } finally {
    await slow.faults({ latencyMs: null });
  }
  assert.ok(r.status >= 500, `${r.status} ${r.text}`);
  assert.ok(T.isJsonError(r), r.text);
  assert.match(r.json.code, /^GATEWAY::/);
  // wait for the backend to finish the create it was sent, and for a reconciliation round
  await h.sleep(3500);
  const list = await S.get('/v1/sandboxes');
  const onBackend = (await T.simState(slow)).sandboxes.filter((sb) => sb.metadata[T.TAG] === 'slow' && sb.state !== 'Terminated');
  assert.deepEqual({ listed: list.json.items.map((x) => x.id), onBackend: onBackend.map((x) => `${x.id} ${x.state}`) }, { listed: [], onBackend: [] },
    `the create answered ${r.status} ${r.json.code} left a live sandbox that the tenant sees and that counts for it`);
}));
