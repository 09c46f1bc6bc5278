'use strict';
// Control API (/_sim/*), faults, down/up, --state-file persistence, clean shutdown.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startSimulator, loadSpecs, httpCall, waitFor, parseExecdStream } = require('../simulator/testkit');

const specs = loadSpecs();

async function createSandbox(sim, extra) {
  const r = await httpCall(sim.base + '/v1/sandboxes', {
    method: 'POST', headers: sim.headers(), json: Object.assign({ image: { uri: 'x' }, entrypoint: ['x'], resourceLimits: {} }, extra || {}),
  });
  assert.equal(r.status, 202, r.body);
  return r.json;
}

async function getSandbox(sim, id) {
  return httpCall(`${sim.base}/v1/sandboxes/${id}`, { headers: sim.headers() });
}

async function waitRunning(sim, id) {
  await waitFor(async () => (await getSandbox(sim, id)).json.status.state === 'Running', { what: 'Running' });
}

async function endpoint(sim, id, port) {
  return `http://${(await httpCall(`${sim.base}/v1/sandboxes/${id}/endpoints/${port}`, { headers: sim.headers() })).json.endpoint}`;
}

test('faults: errors, latency, health, resets, provisioning failure', { timeout: 20000 }, async () => {
  const sim = await startSimulator(['--ready-delay-ms', '30'], { name: 'faults' });
  try {
    let r = await httpCall(sim.base + '/_sim/faults', { method: 'POST', json: { errorRate: 1 } });
    assert.equal(r.json.errorRate, 1);
    r = await httpCall(sim.base + '/v1/sandboxes', { headers: sim.headers() });
    assert.equal(r.status, 500);
    assert.deepEqual(specs.lifecycle.check('GET', '/sandboxes', r), []);
    assert.equal((await httpCall(sim.base + '/health')).status, 200, '/health is not affected by errorRate');
    r = await httpCall(sim.base + '/_sim/faults', { method: 'POST', json: { errorRate: null, errorCount: 2, errorStatus: 503 } });
    assert.equal(r.json.errorRate, 0);
    assert.equal((await httpCall(sim.base + '/v1/sandboxes', { headers: sim.headers() })).status, 503);
    assert.equal((await httpCall(sim.base + '/v1/sandboxes', { headers: sim.headers() })).status, 503);
    assert.equal((await httpCall(sim.base + '/v1/sandboxes', { headers: sim.headers() })).status, 200);

    await httpCall(sim.base + '/_sim/faults', { method: 'POST', json: { healthStatus: 503, latencyMs: 300 } });
    r = await httpCall(sim.base + '/health');
    assert.equal(r.status, 503);
    assert.deepEqual(r.json, { status: 'unhealthy' });
    assert.ok(r.ms >= 280, `latency ${r.ms}`);
    await httpCall(sim.base + '/_sim/faults', { method: 'DELETE' });
    r = await httpCall(sim.base + '/health');
    assert.ok(r.ms < 250);

    await httpCall(sim.base + '/_sim/faults', { method: 'POST', json: { resetRate: 1 } });
    await assert.rejects(httpCall(sim.base + '/v1/sandboxes', { headers: sim.headers() }));
    await httpCall(sim.base + '/_sim/faults', { method: 'POST', json: { resetRate: 0, provisionFailure: true } });
    const sb = await createSandbox(sim);
    await waitFor(async () => (await getSandbox(sim, sb.id)).json.status.state === 'Failed', { what: 'Failed' });
    r = await getSandbox(sim, sb.id);
    assert.deepEqual(specs.lifecycle.check('GET', '/sandboxes/{sandboxId}', r), []);
    assert.equal(r.json.status.reason, 'PROVISIONING_ERROR');
    r = await httpCall(sim.base + '/_sim/faults', { method: 'POST', json: { nope: 1 } });
    assert.equal(r.status, 400);
    r = await httpCall(sim.base + '/_sim/faults', { method: 'POST', json: { errorRate: 2 } });
    assert.equal(r.status, 400);
  } finally {
    await sim.stop();
  }
});

test('state dump, request log, forced states, expiry, reset', { timeout: 20000 }, async () => {
  const sim = await startSimulator(['--ready-delay-ms', '30', '--terminated-retention-ms', '600'], { name: 'ctl' });
  try {
    const s1 = await createSandbox(sim, { metadata: { t: 'a' }, timeout: 600 });
    const s2 = await createSandbox(sim, { metadata: { t: 'b' } });
    await waitRunning(sim, s1.id);
    let st = (await httpCall(sim.base + '/_sim/state')).json;
    assert.equal(st.name, 'ctl');
    assert.equal(st.port, sim.port);
    const d1 = st.sandboxes.find((s) => s.id === s1.id);
    assert.equal(d1.state, 'Running');
    assert.deepEqual(d1.metadata, { t: 'a' });
    assert.equal(d1.expiresAt, s1.expiresAt);
    assert.deepEqual(d1.snapshotIds, []);
    assert.ok(Number.isInteger(d1.hostPort));

    const log = (await httpCall(sim.base + '/_sim/requests?pathPrefix=/v1/sandboxes')).json;
    const post = log.items.find((e) => e.method === 'POST');
    assert.equal(post.headers['open-sandbox-api-key'], sim.apiKey);
    assert.equal(post.status, 202);

    let r = await httpCall(`${sim.base}/_sim/sandboxes/${s2.id}/state`, { method: 'POST', json: { state: 'Failed', reason: 'runtime_error', message: 'boom' } });
    assert.equal(r.status, 200);
    r = await getSandbox(sim, s2.id);
    assert.deepEqual(r.json.status.state, 'Failed');
    assert.equal(r.json.status.message, 'boom');
    r = await httpCall(`${sim.base}/v1/sandboxes?state=failed`, { headers: sim.headers() });
    assert.deepEqual(r.json.items.map((s) => s.id), [s2.id], 'state filter is case-insensitive');

    const soon = new Date(Date.now() + 300).toISOString();
    r = await httpCall(`${sim.base}/_sim/sandboxes/${s1.id}/expires-at`, { method: 'POST', json: { expiresAt: soon } });
    assert.equal(r.json.expiresAt, soon);
    // --terminated-retention-ms: first visible as Terminated (reason ttl_expiry), then gone.
    await waitFor(async () => (await getSandbox(sim, s1.id)).json?.status?.state === 'Terminated', { what: 'Terminated' });
    r = await getSandbox(sim, s1.id);
    assert.equal(r.json.status.reason, 'ttl_expiry');
    assert.deepEqual(specs.lifecycle.check('GET', '/sandboxes/{sandboxId}', r), []);
    await waitFor(async () => (await getSandbox(sim, s1.id)).status === 404, { what: 'removed after retention' });

    r = await httpCall(`${sim.base}/_sim/sandboxes/${s2.id}/expire`, { method: 'POST' });
    assert.equal(r.status, 200);
    r = await httpCall(sim.base + '/_sim/reset', { method: 'POST' });
    st = (await httpCall(sim.base + '/_sim/state')).json;
    assert.deepEqual(st.sandboxes.filter((s) => s.state !== 'Terminated'), []);
    r = await httpCall(`${sim.base}/_sim/sandboxes/nope/state`, { method: 'POST', json: { state: 'Failed' } });
    assert.equal(r.status, 404);
  } finally {
    await sim.stop();
  }
});

test('/_sim/down closes the port and open connections, then re-listens on the same port', { timeout: 20000 }, async () => {
  const sim = await startSimulator(['--ready-delay-ms', '30'], { name: 'down' });
  try {
    const sb = await createSandbox(sim);
    await waitRunning(sim, sb.id);
    // An open streaming response through the main port (server proxy SSE) must be cut.
    const ac = new AbortController();
    const streamRes = await fetch(`${sim.base}/v1/sandboxes/${sb.id}/proxy/8080/sse?n=100&interval_ms=100`, { headers: sim.headers(), signal: ac.signal });
    const reader = streamRes.body.getReader();
    await reader.read();
    let r = await httpCall(sim.base + '/_sim/down', { method: 'POST', json: { ms: 1000 } });
    assert.deepEqual(r.json, { down: true, ms: 1000, sandboxes: false });
    const cut = await (async () => {
      try { for (;;) { const x = await reader.read(); if (x.done) return 'ended'; } } catch (e) { return 'error'; }
    })();
    assert.ok(['ended', 'error'].includes(cut));
    await assert.rejects(httpCall(sim.base + '/health'), 'refused while down');
    // The sandbox listener keeps working unless {"sandboxes": true}.
    const ep = (await httpCall(`${sim.base}/_sim/state`).catch(() => null));
    assert.equal(ep, null);
    await waitFor(async () => (await httpCall(sim.base + '/health').catch(() => ({}))).status === 200, { what: 'back up', timeoutMs: 5000 });
    r = await getSandbox(sim, sb.id);
    assert.equal(r.status, 200);
    ac.abort();
  } finally {
    await sim.stop();
  }
});

test('--state-file survives a crash; SIGTERM cleans up processes and temp dirs', { timeout: 30000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sim-state-test-'));
  const stateFile = path.join(dir, 'state.json');
  const args = ['--ready-delay-ms', '30', '--snapshot-delay-ms', '30', '--state-file', stateFile];
  let sim = await startSimulator(args, { name: 'persist' });
  let ids;
  let snapId;
  let hostPort;
  try {
    const s1 = await createSandbox(sim, { metadata: { keep: 'yes' }, timeout: 3600 });
    const s2 = await createSandbox(sim, { timeout: null });
    ids = [s1.id, s2.id];
    await waitRunning(sim, s1.id);
    let r = await httpCall(`${sim.base}/v1/sandboxes/${s1.id}/snapshots`, { method: 'POST', headers: sim.headers(), json: { name: 'snap' } });
    snapId = r.json.id;
    await waitFor(async () => (await httpCall(`${sim.base}/v1/snapshots/${snapId}`, { headers: sim.headers() })).json.status.state === 'Ready');
    const st = (await httpCall(sim.base + '/_sim/state')).json;
    hostPort = st.sandboxes.find((s) => s.id === s1.id).hostPort;
    assert.ok(fs.existsSync(stateFile));
    await sim.stop('SIGKILL');
    sim = await startSimulator(args, { name: 'persist' });
    r = await httpCall(`${sim.base}/v1/sandboxes?pageSize=200`, { headers: sim.headers() });
    assert.deepEqual(r.json.items.map((s) => s.id).sort(), ids.slice().sort());
    const r1 = r.json.items.find((s) => s.id === s1.id);
    assert.deepEqual(r1.metadata, { keep: 'yes' });
    assert.equal(r1.expiresAt, s1.expiresAt);
    assert.equal(r.json.items.find((s) => s.id === s2.id).expiresAt, undefined);
    r = await httpCall(`${sim.base}/v1/snapshots/${snapId}`, { headers: sim.headers() });
    assert.equal(r.json.status.state, 'Ready');
    const st2 = (await httpCall(sim.base + '/_sim/state')).json;
    assert.equal(st2.sandboxes.find((s) => s.id === s1.id).hostPort, hostPort, 'same sandbox host port after restart');
    const base = await endpoint(sim, s1.id, 44772);
    assert.equal((await httpCall(base + '/ping')).status, 200);

    // Clean shutdown kills sandbox processes and removes temp dirs.
    r = await httpCall(base + '/command', { method: 'POST', json: { command: 'echo $$; exec sleep 60', background: true } });
    const cmdId = parseExecdStream(r.body)[0].text;
    const pidText = await waitFor(async () => (await httpCall(`${base}/command/${cmdId}/logs`)).body.trim(), { what: 'pid' });
    const pid = Number(pidText);
    assert.ok(pid > 1);
    process.kill(pid, 0); // alive
    const tmpRoots = new Set(st2.sandboxes.map((s) => path.dirname(s.dir)));
    const res = await sim.stop('SIGTERM');
    assert.equal(res.code, 0);
    for (const d of tmpRoots) assert.ok(!fs.existsSync(d), `${d} removed`);
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'sandbox process killed on shutdown');
    const saved = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    assert.deepEqual(saved.sandboxes.map((s) => s.id).sort(), ids.slice().sort(), 'state file kept on clean exit');
  } finally {
    await sim.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
