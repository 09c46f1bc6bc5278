'use strict';
// Lifecycle + diagnostics API of the simulator, every response validated against the OpenAPI specs.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { startSimulator, loadSpecs, httpCall, waitFor } = require('../simulator/testkit');

const specs = loadSpecs();
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
let sim;

function spec(name) { return name === 'diagnostic' ? specs.diagnostic : specs.lifecycle; }

// Calls the simulator and validates the response against `template` of the lifecycle spec.
async function api(method, url, template, opts = {}) {
  const headers = opts.noAuth ? (opts.headers || {}) : sim.headers(opts.headers);
  const r = await httpCall(sim.base + url, Object.assign({}, opts, { method, headers }));
  if (template) {
    const errs = spec(opts.spec).check(method, template, r);
    assert.deepEqual(errs, [], `${method} ${url}: ${errs.join('; ')}`);
  }
  return r;
}

const baseReq = (extra) => Object.assign({
  image: { uri: 'python:3.11' },
  entrypoint: ['tail', '-f', '/dev/null'],
  resourceLimits: { cpu: '500m', memory: '512Mi' },
}, extra || {});

async function create(extra) {
  const r = await api('POST', '/v1/sandboxes', '/sandboxes', { json: baseReq(extra) });
  assert.equal(r.status, 202, r.body);
  return r.json;
}

async function waitState(id, state) {
  return waitFor(async () => {
    const r = await api('GET', `/v1/sandboxes/${id}`, '/sandboxes/{sandboxId}');
    return r.json.status.state === state ? r.json : null;
  }, { what: `${id} ${state}` });
}

async function execd(id) {
  const r = await api('GET', `/v1/sandboxes/${id}/endpoints/44772`, '/sandboxes/{sandboxId}/endpoints/{port}');
  return `http://${r.json.endpoint}`;
}

test.before(async () => {
  sim = await startSimulator(['--ready-delay-ms', '150', '--transition-delay-ms', '80', '--snapshot-delay-ms', '150',
    '--ttl-scale', '0.02', '--command-grace-ms', '0'], { name: 'lc1' });
});
test.after(async () => { if (sim) await sim.stop(); });

test('listening line and /health', { timeout: 10000 }, async () => {
  assert.match(sim.listeningLine, /^\{"event":"listening","name":"lc1","port":\d+\}$/);
  const r = await httpCall(sim.base + '/health');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { status: 'healthy' });
});

test('authentication errors', { timeout: 10000 }, async () => {
  let r = await api('GET', '/v1/sandboxes', '/sandboxes', { noAuth: true });
  assert.equal(r.status, 401);
  assert.equal(r.json.code, 'MISSING_API_KEY');
  r = await api('GET', '/v1/sandboxes', '/sandboxes', { noAuth: true, headers: { 'OPEN-SANDBOX-API-KEY': 'nope' } });
  assert.equal(r.status, 401);
  assert.equal(r.json.code, 'INVALID_API_KEY');
  r = await api('POST', '/v1/sandboxes', '/sandboxes', { noAuth: true, json: baseReq() });
  assert.equal(r.status, 401);
  r = await api('GET', '/v1/snapshots/x', '/snapshots/{snapshotId}', { noAuth: true });
  assert.equal(r.status, 401);
  assert.ok(r.headers.get('x-request-id'));
  r = await api('GET', '/v1/sandboxes', '/sandboxes', { headers: { 'X-Request-ID': 'req-123' } });
  assert.equal(r.headers.get('x-request-id'), 'req-123');
});

test('create validation errors are 400 ErrorResponse', { timeout: 15000 }, async () => {
  const bad = [
    { image: { uri: 'x' }, snapshotId: 's', entrypoint: ['a'], resourceLimits: {} },
    { entrypoint: ['a'], resourceLimits: {} },
    { image: { uri: 'x' }, resourceLimits: {} },
    { image: { uri: 'x' }, entrypoint: ['a'] },
    baseReq({ entrypoint: [] }),
    baseReq({ timeout: 59 }),
    baseReq({ timeout: 'x' }),
    baseReq({ timeout: 60.5 }),
    baseReq({ metadata: { 'opensandbox.io/x': 'y' } }),
    baseReq({ metadata: { team: 'bad value!' } }),
    baseReq({ metadata: { team: 1 } }),
    baseReq({ platform: { os: 'plan9', arch: 'amd64' } }),
    baseReq({ platform: { os: 'linux' } }),
    baseReq({ networkPolicy: { defaultAction: 'maybe' } }),
    baseReq({ networkPolicy: { egress: [{ action: 'allow' }] } }),
    baseReq({ credentialProxy: { enabled: true } }),
    baseReq({ volumes: [{ name: 'v', mountPath: '/m', host: { path: '/a' }, pvc: { claimName: 'c' } }] }),
    baseReq({ volumes: [{ name: 'Bad_Name', mountPath: '/m', host: { path: '/a' } }] }),
    baseReq({ secureAccess: true }),
    baseReq({ extensions: { poolRef: 'pool-a' } }),
    baseReq({ extensions: { 'access.renew.extend.seconds': '10' } }),
    baseReq({ image: { uri: 'x', extra: 1 } }),
    baseReq({ resourceLimits: { cpu: 1 } }),
    [1, 2],
  ];
  for (const body of bad) {
    const r = await api('POST', '/v1/sandboxes', '/sandboxes', { json: body });
    assert.equal(r.status, 400, `expected 400 for ${JSON.stringify(body)}: ${r.body}`);
  }
  const r = await api('POST', '/v1/sandboxes', '/sandboxes', { body: '{not json', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400);
});

test('create, get, list with filters and pagination', { timeout: 20000 }, async () => {
  const created = await create({ metadata: { project: 'apollo', note: 'Demo' }, timeout: null, env: { A: '1' },
    platform: { os: 'linux', arch: 'amd64' }, resourceRequests: { cpu: '1' }, extensions: {} });
  assert.match(created.id, UUID_RE);
  assert.equal(created.status.state, 'Pending');
  assert.equal(created.expiresAt, undefined, 'manual cleanup has no expiresAt');
  assert.deepEqual(created.entrypoint, ['tail', '-f', '/dev/null']);
  assert.deepEqual(created.platform, { os: 'linux', arch: 'amd64' });
  assert.equal(created.image, undefined, 'create response has no image');
  const running = await waitState(created.id, 'Running');
  assert.deepEqual(running.image, { uri: 'python:3.11' });
  assert.deepEqual(running.metadata, { project: 'apollo', note: 'Demo' });

  const others = [];
  for (let i = 0; i < 4; i++) others.push(await create({ metadata: { project: i % 2 ? 'apollo' : 'gemini', idx: String(i) }, timeout: 3600 }));
  const withTimeout = others[0];
  const diff = Date.parse(withTimeout.expiresAt) - Date.parse(withTimeout.createdAt);
  assert.equal(diff, 3600 * 1000 * 0.02, 'expiresAt = createdAt + timeout * ttl-scale');

  const state = (await httpCall(sim.base + '/_sim/state')).json;
  const all = state.sandboxes.filter((s) => [created.id, ...others.map((o) => o.id)].includes(s.id));
  assert.equal(all.length, 5);

  let r = await api('GET', '/v1/sandboxes?metadata=' + encodeURIComponent('project=apollo'), '/sandboxes');
  const apolloIds = r.json.items.map((s) => s.id).sort();
  assert.deepEqual(apolloIds, [created.id, others[1].id, others[3].id].sort());
  r = await api('GET', '/v1/sandboxes?metadata=' + encodeURIComponent('project=apollo&idx=3'), '/sandboxes');
  assert.deepEqual(r.json.items.map((s) => s.id), [others[3].id]);
  r = await api('GET', '/v1/sandboxes?metadata=project%3Dapollo%26note%3DDemo', '/sandboxes');
  assert.deepEqual(r.json.items.map((s) => s.id), [created.id]);

  r = await api('GET', '/v1/sandboxes?state=Running&state=Paused', '/sandboxes');
  assert.ok(r.json.items.every((s) => ['Running', 'Paused'].includes(s.status.state)));
  r = await api('GET', '/v1/sandboxes?state=Pending', '/sandboxes');
  assert.ok(r.json.items.every((s) => s.status.state === 'Pending'));

  // Pagination over everything (newest first).
  const total = (await api('GET', '/v1/sandboxes?pageSize=200', '/sandboxes')).json.items;
  r = await api('GET', '/v1/sandboxes?page=1&pageSize=2', '/sandboxes');
  assert.deepEqual(r.json.pagination, { page: 1, pageSize: 2, totalItems: total.length, totalPages: Math.ceil(total.length / 2), hasNextPage: true });
  assert.deepEqual(r.json.items.map((s) => s.id), total.slice(0, 2).map((s) => s.id));
  const last = Math.ceil(total.length / 2);
  r = await api('GET', `/v1/sandboxes?page=${last}&pageSize=2`, '/sandboxes');
  assert.equal(r.json.pagination.hasNextPage, false);
  r = await api('GET', `/v1/sandboxes?page=${last + 5}&pageSize=2`, '/sandboxes');
  assert.deepEqual(r.json.items, []);
  r = await api('GET', '/v1/sandboxes?metadata=' + encodeURIComponent('project=none'), '/sandboxes');
  assert.deepEqual(r.json.pagination, { page: 1, pageSize: 20, totalItems: 0, totalPages: 0, hasNextPage: false });
  for (const q of ['page=0', 'pageSize=0', 'pageSize=201', 'page=abc', 'metadata=broken']) {
    r = await api('GET', `/v1/sandboxes?${q}`, '/sandboxes');
    assert.equal(r.status, 400, q);
  }
  // The real server also mounts every route without the /v1 prefix.
  r = await api('GET', `/sandboxes/${created.id}`, '/sandboxes/{sandboxId}');
  assert.equal(r.status, 200);
  r = await api('GET', '/v1/sandboxes/does-not-exist', '/sandboxes/{sandboxId}');
  assert.equal(r.status, 404);
  assert.equal(r.json.code, 'DOCKER::SANDBOX_NOT_FOUND');
  r = await api('GET', '/v1/nothing-here', null);
  assert.equal(r.status, 404);
  assert.equal(typeof r.json.code, 'string');
});

test('PATCH metadata uses JSON Merge Patch', { timeout: 10000 }, async () => {
  const sb = await create({ metadata: { a: '1', b: '2' } });
  const url = `/v1/sandboxes/${sb.id}/metadata`;
  const t = '/sandboxes/{sandboxId}/metadata';
  let r = await api('PATCH', url, t, { json: { b: 'two', c: '3', a: null, missing: null } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.metadata, { b: 'two', c: '3' });
  r = await api('PATCH', url, t, { json: {} });
  assert.deepEqual(r.json.metadata, { b: 'two', c: '3' });
  for (const body of [{ 'opensandbox.io/x': 'y' }, { a: 5 }, { a: 'not valid!' }, ['x']]) {
    r = await api('PATCH', url, t, { json: body });
    assert.equal(r.status, 400, JSON.stringify(body));
  }
  r = await api('PATCH', '/v1/sandboxes/nope/metadata', t, { json: { a: 'b' } });
  assert.equal(r.status, 404);
  r = await api('GET', `/v1/sandboxes/${sb.id}`, '/sandboxes/{sandboxId}');
  assert.deepEqual(r.json.metadata, { b: 'two', c: '3' });
});

test('pause / resume state machine', { timeout: 15000 }, async () => {
  const sb = await create();
  let r = await api('POST', `/v1/sandboxes/${sb.id}/pause`, '/sandboxes/{sandboxId}/pause');
  assert.equal(r.status, 409, 'cannot pause a Pending sandbox');
  assert.equal(r.json.code, 'DOCKER::SANDBOX_NOT_RUNNING');
  await waitState(sb.id, 'Running');
  const base = await execd(sb.id);
  r = await api('POST', `/v1/sandboxes/${sb.id}/pause`, '/sandboxes/{sandboxId}/pause');
  assert.equal(r.status, 202);
  assert.equal(r.body, '');
  r = await api('GET', `/v1/sandboxes/${sb.id}`, '/sandboxes/{sandboxId}');
  assert.equal(r.json.status.state, 'Pausing');
  await waitState(sb.id, 'Paused');
  r = await httpCall(base + '/ping');
  assert.equal(r.status, 503);
  assert.equal(r.json.code, 'SANDBOX_NOT_RUNNING');
  r = await api('POST', `/v1/sandboxes/${sb.id}/pause`, '/sandboxes/{sandboxId}/pause');
  assert.equal(r.status, 409);
  r = await api('POST', `/v1/sandboxes/${sb.id}/resume`, '/sandboxes/{sandboxId}/resume');
  assert.equal(r.status, 202);
  r = await api('GET', `/v1/sandboxes/${sb.id}`, '/sandboxes/{sandboxId}');
  assert.equal(r.json.status.state, 'Resuming');
  await waitState(sb.id, 'Running');
  r = await api('POST', `/v1/sandboxes/${sb.id}/resume`, '/sandboxes/{sandboxId}/resume');
  assert.equal(r.status, 409);
  assert.equal(r.json.code, 'DOCKER::SANDBOX_NOT_PAUSED');
  assert.equal((await httpCall(base + '/ping')).status, 200);
  for (const op of ['pause', 'resume']) {
    r = await api('POST', `/v1/sandboxes/nope/${op}`, `/sandboxes/{sandboxId}/${op}`);
    assert.equal(r.status, 404);
  }
});

test('renew-expiration', { timeout: 10000 }, async () => {
  const sb = await create({ timeout: 3600 });
  const manual = await create({ timeout: null });
  const url = `/v1/sandboxes/${sb.id}/renew-expiration`;
  const t = '/sandboxes/{sandboxId}/renew-expiration';
  const later = new Date(Date.parse(sb.expiresAt) + 3600e3).toISOString();
  let r = await api('POST', url, t, { json: { expiresAt: later } });
  assert.equal(r.status, 200);
  assert.equal(Date.parse(r.json.expiresAt), Date.parse(later));
  assert.deepEqual(Object.keys(r.json), ['expiresAt']);
  r = await api('GET', `/v1/sandboxes/${sb.id}`, '/sandboxes/{sandboxId}');
  assert.equal(Date.parse(r.json.expiresAt), Date.parse(later));
  r = await api('POST', url, t, { json: { expiresAt: new Date(Date.now() - 1000).toISOString() } });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'DOCKER::INVALID_EXPIRATION');
  r = await api('POST', url, t, { json: { expiresAt: new Date(Date.parse(later) - 1000).toISOString() } });
  assert.equal(r.status, 400, 'must be after the current expiresAt');
  for (const body of [{}, { expiresAt: 'tomorrow' }, { expiresAt: later, extra: 1 }]) {
    r = await api('POST', url, t, { json: body });
    assert.equal(r.status, 400, JSON.stringify(body));
  }
  r = await api('POST', `/v1/sandboxes/${manual.id}/renew-expiration`, t, { json: { expiresAt: later } });
  assert.equal(r.status, 409);
  r = await api('POST', '/v1/sandboxes/nope/renew-expiration', t, { json: { expiresAt: later } });
  assert.equal(r.status, 404);
});

test('TTL expiry removes the sandbox and its processes', { timeout: 15000 }, async () => {
  const sb = await create({ timeout: 60 }); // 60 s * ttl-scale 0.02 = 1.2 s
  await waitState(sb.id, 'Running');
  const base = await execd(sb.id);
  const bg = await httpCall(base + '/command', { method: 'POST', json: { command: 'sleep 30', background: true } });
  assert.equal(bg.status, 200);
  const state = (await httpCall(sim.base + '/_sim/state')).json.sandboxes.find((s) => s.id === sb.id);
  assert.ok(fs.existsSync(state.rootDir));
  await waitFor(async () => (await api('GET', `/v1/sandboxes/${sb.id}`, '/sandboxes/{sandboxId}')).status === 404, { what: 'expiry', timeoutMs: 5000 });
  const r = await api('GET', '/v1/sandboxes?pageSize=200', '/sandboxes');
  assert.ok(!r.json.items.some((s) => s.id === sb.id));
  assert.ok(!fs.existsSync(state.dir), 'sandbox directory removed');
  await assert.rejects(httpCall(base + '/ping'), 'sandbox listener closed');
});

test('endpoints', { timeout: 10000 }, async () => {
  const sb = await create();
  const t = '/sandboxes/{sandboxId}/endpoints/{port}';
  let r = await api('GET', `/v1/sandboxes/${sb.id}/endpoints/44772`, t);
  assert.equal(r.status, 200);
  assert.match(r.json.endpoint, /^127\.0\.0\.1:\d+\/proxy\/44772$/);
  assert.equal(r.json.headers, undefined);
  const hostPort = r.json.endpoint.split(':')[1].split('/')[0];
  r = await api('GET', `/v1/sandboxes/${sb.id}/endpoints/8080`, t);
  assert.equal(r.json.endpoint, `127.0.0.1:${hostPort}/proxy/8080`);
  r = await api('GET', `/v1/sandboxes/${sb.id}/endpoints/8080?use_server_proxy=true`, t);
  assert.equal(r.json.endpoint, `127.0.0.1:${sim.port}/v1/sandboxes/${sb.id}/proxy/8080`);
  r = await api('GET', `/v1/sandboxes/${sb.id}/endpoints/8080?use_server_proxy=false`, t);
  assert.equal(r.json.endpoint, `127.0.0.1:${hostPort}/proxy/8080`);
  for (const q of ['0', '65536', 'abc', '8080?use_server_proxy=maybe', '8080?expires=123', '8080?use_server_proxy=true&expires=1', '8080?expires=-1']) {
    r = await api('GET', `/v1/sandboxes/${sb.id}/endpoints/${q}`, t);
    assert.equal(r.status, 400, q);
  }
  r = await api('GET', '/v1/sandboxes/nope/endpoints/8080', t);
  assert.equal(r.status, 404);
});

test('snapshots: create, list, get, restore, delete', { timeout: 20000 }, async () => {
  const src = await create({ metadata: { role: 'src' } });
  let r = await api('POST', `/v1/sandboxes/${src.id}/snapshots`, '/sandboxes/{sandboxId}/snapshots', { json: {} });
  assert.equal(r.status, 409, 'source must be Running');
  assert.equal(r.json.code, 'SNAPSHOT::INVALID_SOURCE_STATE');
  await waitState(src.id, 'Running');
  const base = await execd(src.id);
  const up = new FormData();
  up.append('metadata', new Blob([JSON.stringify({ path: '/data/keep.txt' })], { type: 'application/json' }), 'metadata');
  up.append('file', new Blob(['snapshot me']), 'keep.txt');
  assert.equal((await httpCall(base + '/files/upload', { method: 'POST', body: up })).status, 200);

  for (const body of [{ name: '' }, { other: 1 }]) {
    r = await api('POST', `/v1/sandboxes/${src.id}/snapshots`, '/sandboxes/{sandboxId}/snapshots', { json: body });
    assert.equal(r.status, 400, JSON.stringify(body));
  }
  r = await api('POST', `/v1/sandboxes/${src.id}/snapshots`, '/sandboxes/{sandboxId}/snapshots', { json: { name: 'checkpoint-1' } });
  assert.equal(r.status, 202);
  const snap = r.json;
  assert.equal(snap.status.state, 'Creating');
  assert.equal(snap.sandboxId, src.id);
  assert.equal(snap.name, 'checkpoint-1');
  assert.equal(r.headers.get('location'), `/v1/snapshots/${snap.id}`);
  r = await api('DELETE', `/v1/snapshots/${snap.id}`, '/snapshots/{snapshotId}');
  assert.equal(r.status, 409, 'cannot delete while Creating');
  r = await api('POST', '/v1/sandboxes', '/sandboxes', { json: { snapshotId: snap.id, resourceLimits: { cpu: '1' } } });
  assert.equal(r.status, 409, 'snapshot not ready');
  // Unnamed snapshot via an empty body.
  r = await api('POST', `/v1/sandboxes/${src.id}/snapshots`, '/sandboxes/{sandboxId}/snapshots');
  assert.equal(r.status, 202);
  const snap2 = r.json;
  assert.equal(snap2.name, undefined);

  await waitFor(async () => (await api('GET', `/v1/snapshots/${snap.id}`, '/snapshots/{snapshotId}')).json.status.state === 'Ready', { what: 'snapshot ready' });
  r = await api('GET', `/v1/snapshots?sandboxId=${src.id}`, '/snapshots');
  assert.deepEqual(r.json.items.map((s) => s.id).sort(), [snap.id, snap2.id].sort());
  assert.equal(r.json.pagination.totalItems, 2);
  r = await api('GET', `/v1/snapshots?sandboxId=${src.id}&pageSize=1&page=2`, '/snapshots');
  assert.equal(r.json.items.length, 1);
  assert.equal(r.json.pagination.hasNextPage, false);
  r = await api('GET', '/v1/snapshots?state=Ready&state=Failed', '/snapshots');
  assert.ok(r.json.items.every((s) => ['Ready', 'Failed'].includes(s.status.state)));
  r = await api('GET', '/v1/snapshots?pageSize=0', '/snapshots');
  assert.equal(r.status, 400);

  // Restore: entrypoint defaults to tail -f /dev/null and the files come along.
  r = await api('POST', '/v1/sandboxes', '/sandboxes', { json: { snapshotId: snap.id, resourceLimits: { cpu: '1' }, timeout: 600 } });
  assert.equal(r.status, 202, r.body);
  const restored = r.json;
  assert.deepEqual(restored.entrypoint, ['tail', '-f', '/dev/null']);
  const info = await waitState(restored.id, 'Running');
  assert.equal(info.snapshotId, snap.id);
  assert.equal(info.image, undefined);
  const rbase = await execd(restored.id);
  r = await httpCall(rbase + '/files/download?path=/data/keep.txt');
  assert.equal(r.body, 'snapshot me');
  r = await api('POST', '/v1/sandboxes', '/sandboxes', { json: { snapshotId: 'nope', resourceLimits: {} } });
  assert.equal(r.status, 400, 'unknown snapshot (spec declares no 404 on create)');
  assert.equal(r.json.code, 'SNAPSHOT::NOT_FOUND');

  r = await api('DELETE', `/v1/snapshots/${snap.id}`, '/snapshots/{snapshotId}');
  assert.equal(r.status, 204);
  assert.equal(r.body, '');
  r = await api('GET', `/v1/snapshots/${snap.id}`, '/snapshots/{snapshotId}');
  assert.equal(r.status, 404);
  assert.equal(r.json.code, 'SNAPSHOT::NOT_FOUND');
  r = await api('DELETE', `/v1/snapshots/${snap.id}`, '/snapshots/{snapshotId}');
  assert.equal(r.status, 404);
  r = await api('POST', '/v1/sandboxes/nope/snapshots', '/sandboxes/{sandboxId}/snapshots', { json: {} });
  assert.equal(r.status, 404);
  const st = (await httpCall(sim.base + '/_sim/state')).json.sandboxes.find((s) => s.id === src.id);
  assert.deepEqual(st.snapshotIds, [snap.id, snap2.id]);
});

test('diagnostics logs and events', { timeout: 10000 }, async () => {
  const sb = await create();
  await waitState(sb.id, 'Running');
  const d = (kind) => `/sandboxes/{sandboxId}/diagnostics/${kind}`;
  let r = await api('GET', `/v1/sandboxes/${sb.id}/diagnostics/events?scope=lifecycle`, d('events'), { spec: 'diagnostic' });
  assert.equal(r.status, 200);
  assert.equal(r.json.kind, 'events');
  assert.equal(r.json.delivery, 'inline');
  assert.match(r.json.content, /Pending/);
  assert.match(r.json.content, /Running/);
  r = await api('GET', `/v1/sandboxes/${sb.id}/diagnostics/logs?scope=container`, d('logs'), { spec: 'diagnostic' });
  assert.equal(r.status, 200);
  assert.match(r.json.content, /execd started/);
  r = await api('GET', `/v1/sandboxes/${sb.id}/diagnostics/logs?scope=all`, d('logs'), { spec: 'diagnostic' });
  assert.equal(r.status, 200);
  r = await api('GET', `/v1/sandboxes/${sb.id}/diagnostics/logs?scope=bogus`, d('logs'), { spec: 'diagnostic' });
  assert.equal(r.status, 400);
  r = await api('GET', `/v1/sandboxes/nope/diagnostics/events?scope=all`, d('events'), { spec: 'diagnostic' });
  assert.equal(r.status, 404);
  // Legacy behaviour without scope: deprecated plain text.
  r = await api('GET', `/v1/sandboxes/${sb.id}/diagnostics/events`, null);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('deprecation'), 'true');
  assert.match(r.headers.get('content-type'), /^text\/plain/);
});

test('delete', { timeout: 10000 }, async () => {
  const sb = await create();
  await waitState(sb.id, 'Running');
  const base = await execd(sb.id);
  let r = await api('DELETE', `/v1/sandboxes/${sb.id}`, '/sandboxes/{sandboxId}');
  assert.equal(r.status, 204);
  assert.equal(r.body, '');
  r = await api('GET', `/v1/sandboxes/${sb.id}`, '/sandboxes/{sandboxId}');
  assert.equal(r.status, 404);
  r = await api('DELETE', `/v1/sandboxes/${sb.id}`, '/sandboxes/{sandboxId}');
  assert.equal(r.status, 404);
  await assert.rejects(httpCall(base + '/ping'));
});
