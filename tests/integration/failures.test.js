'use strict';
// Failure handling: backend killed and restarted (active + passive health, admin state, metrics),
// passive health (5xx do not count, resets do), upstream connect failure (502), upstream timeout (504), backend dying in the middle
// of a response (truncated stream, gateway keeps serving).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const path = require('node:path');
const h = require('./lib/harness');

const env = h.env();
const ERROR_CODES = ['GATEWAY::NO_HEALTHY_BACKEND', 'GATEWAY::UPSTREAM_CONNECT_FAILED', 'GATEWAY::BAD_GATEWAY', 'GATEWAY::UPSTREAM_TIMEOUT'];

test.after(() => env.cleanup());

function assertJsonError(r, status, code, what) {
  assert.equal(r.status, status, `${what}: expected ${status} ${code}, got ${r.status} ${r.text}`);
  assert.match(String(r.headers['content-type']), /^application\/json/, `${what}: content-type`);
  assert.ok(r.json && typeof r.json.message === 'string', `${what}: body is not {code,message}: ${r.text}`);
  if (code) assert.equal(r.json.code, code, `${what}: ${r.text}`);
}

test('backend killed: fast JSON errors, then 503 NO_HEALTHY_BACKEND; restarted: recovers; admin and metrics follow', { timeout: 60000 }, env.wrap(async (t) => {
  const sim = await env.sim({ name: 'sim-kill' });
  const health = { interval: '500ms', timeout: '300ms', healthy_threshold: 1, unhealthy_threshold: 2 };
  const gw = await env.gateway({ backends: [h.backend(sim)], plugins: [], health_check: health });

  const ok = await h.request(`${gw.httpUrl}/v1/sandboxes`);
  assert.equal(ok.status, 200, ok.text);
  assert.equal(await h.backendState(gw, 'sim-kill'), 'up');
  assert.equal(h.metricValue(await h.metrics(gw), 'sandgate_backend_up', { backend: 'sim-kill' }), 1);

  await sim.kill('SIGKILL');
  const killedAt = Date.now();
  // interval x unhealthy_threshold + timeout, plus 1 s of slack for scheduling
  const downWithin = 500 * 2 + 300 + 1000;
  let allNoHealthySince = null;
  let streak = 0;
  const seen = [];
  while (streak < 5) {
    const t0 = Date.now();
    const r = await h.request(`${gw.httpUrl}/v1/sandboxes`, { timeoutMs: 5000 });
    const ms = Date.now() - t0;
    seen.push(`${Date.now() - killedAt}ms: ${r.status} ${r.json && r.json.code} (${ms} ms)`);
    assert.ok(ms < 2000, `request after the kill took ${ms} ms (must be < 2000): ${seen.join('; ')}`);
    assert.ok(r.status === 502 || r.status === 503, `unexpected status after kill: ${r.status} ${r.text}`);
    assertJsonError(r, r.status, null, 'after kill');
    assert.ok(ERROR_CODES.includes(r.json.code), `unexpected code ${r.json.code}`);
    if (r.status === 503 && r.json.code === 'GATEWAY::NO_HEALTHY_BACKEND') {
      if (allNoHealthySince === null) allNoHealthySince = Date.now() - killedAt;
      streak += 1;
    } else {
      allNoHealthySince = null;
      streak = 0;
    }
    assert.ok(Date.now() - killedAt < downWithin + 3000, `never settled on 503 NO_HEALTHY_BACKEND: ${seen.join('; ')}`);
    await h.sleep(50);
  }
  t.diagnostic(`after kill: ${seen.join('; ')}`);
  assert.ok(allNoHealthySince <= downWithin, `all requests 503 NO_HEALTHY_BACKEND only ${allNoHealthySince} ms after the kill (limit ${downWithin})`);
  // port traffic too
  const pt = await h.request(`${gw.httpUrl}${h.portPath('some-sandbox', 8080, '/echo/x')}`);
  assertJsonError(pt, 503, 'GATEWAY::NO_HEALTHY_BACKEND', 'port traffic while down');

  const adm = await h.admin(gw, '/admin/v1/backends');
  const b = adm.json.backends.find((x) => x.name === 'sim-kill');
  assert.equal(b.state, 'down');
  assert.ok(b.last_error, `last_error should say why: ${JSON.stringify(b)}`);
  assert.equal(h.metricValue(await h.metrics(gw), 'sandgate_backend_up', { backend: 'sim-kill' }), 0);
  assert.match(gw.stderr(), /backend sim-kill: up -> down/);

  // restart on the same port: recovers within interval x healthy_threshold (+ slack)
  const sim2 = await env.restartSim(sim);
  assert.equal(sim2.port, sim.port);
  const restartedAt = Date.now();
  await h.waitFor(async () => (await h.request(`${gw.httpUrl}/v1/sandboxes`)).status === 200,
    { timeoutMs: 500 * 1 + 300 + 2000, intervalMs: 50, what: 'requests to succeed again after the restart' });
  t.diagnostic(`recovered ${Date.now() - restartedAt} ms after the restart`);
  assert.equal(await h.backendState(gw, 'sim-kill'), 'up');
  assert.equal(h.metricValue(await h.metrics(gw), 'sandgate_backend_up', { backend: 'sim-kill' }), 1);
  assert.match(gw.stderr(), /backend sim-kill: down -> up/);
  await gw.stop();
}));

// Passive health counts transport failures only (docs/CONFIG.md, health_check): an HTTP answer of any
// status is the backend's answer to one request, and counting 5xx let one tenant take a shared backend down.
test('passive health: 5xx answers never mark the backend down; connection resets do, the active check brings it back', { timeout: 30000 }, env.wrap(async () => {
  const sim = await env.sim({ name: 'sim-5xx' });
  const gw = await env.gateway({
    backends: [h.backend(sim)], plugins: [],
    health_check: { interval: '1s', timeout: '300ms', healthy_threshold: 1, unhealthy_threshold: 2 },
  });
  for (const status of [500, 501, 502, 503, 504]) {
    await sim.faults({ errorCount: 5, errorStatus: status });
    for (let i = 0; i < 5; i++) {
      const r = await h.request(`${gw.httpUrl}/v1/sandboxes`);
      assert.equal(r.status, status, `upstream ${status} answers are passed through: ${r.text}`);
      assert.equal(r.json.code, 'SANDBOX::UNKNOWN_ERROR');
    }
    const after = await h.request(`${gw.httpUrl}/v1/sandboxes`);
    assert.equal(after.status, 200, `after five ${status} answers (unhealthy_threshold 2) the backend must still serve: ${after.text}`);
  }
  const adm = (await h.admin(gw, '/admin/v1/backends')).json.backends.find((x) => x.name === 'sim-5xx');
  assert.equal(adm.state, 'up', JSON.stringify(adm));
  assert.equal(adm.failures_total, 0, `5xx answers were counted as failures: ${JSON.stringify(adm)}`);
  assert.doesNotMatch(gw.stderr(), /backend sim-5xx: up -> down/);

  // transport failures still count: the connection is destroyed without an answer
  await sim.faults({ resetRate: 1 });
  for (let i = 0; i < 2; i++) {
    const r = await h.request(`${gw.httpUrl}/v1/sandboxes`);
    assertJsonError(r, r.status, null, 'reset by the backend');
    assert.ok(ERROR_CODES.includes(r.json.code), `unexpected code ${r.json.code}`);
  }
  await h.waitFor(async () => /backend sim-5xx: up -> down/.test(gw.stderr()), { timeoutMs: 2000, what: 'two resets to mark sim-5xx down' });
  const down = (await h.admin(gw, '/admin/v1/backends')).json.backends.find((x) => x.name === 'sim-5xx');
  assert.ok(down.failures_total >= 2, JSON.stringify(down));
  await sim.faults({ resetRate: null });
  await h.waitFor(async () => (await h.request(`${gw.httpUrl}/v1/sandboxes`)).status === 200,
    { timeoutMs: 4000, what: 'the active check to bring sim-5xx back' });
  await gw.stop();
}));

test('upstream connect failure: 502 GATEWAY::UPSTREAM_CONNECT_FAILED, fast', { timeout: 30000 }, env.wrap(async () => {
  const closed = await h.freePort(); // nothing listens there
  const gw = await env.gateway({
    backends: [{ name: 'nowhere', url: `http://127.0.0.1:${closed}`, api_key: 'k' }], plugins: [],
    health_check: { interval: '60s', timeout: '1s', healthy_threshold: 1, unhealthy_threshold: 100 },
  });
  for (const p of ['/v1/sandboxes', h.portPath('sbx-1', 8080, '/echo/x')]) {
    const r = await h.request(`${gw.httpUrl}${p}`);
    assertJsonError(r, 502, 'GATEWAY::UPSTREAM_CONNECT_FAILED', p);
    assert.ok(r.ms < 2000, `connect failure took ${r.ms} ms`);
  }
  const post = await h.request(`${gw.httpUrl}/v1/sandboxes`, { method: 'POST', json: { image: { uri: 'x' } } });
  assertJsonError(post, 502, 'GATEWAY::UPSTREAM_CONNECT_FAILED', 'POST');
  const adm = await h.admin(gw, '/admin/v1/backends');
  const b = adm.json.backends.find((x) => x.name === 'nowhere');
  assert.ok(b.failures_total >= 3, JSON.stringify(b));
  assert.ok(b.last_error, JSON.stringify(b));
  const m = await h.metrics(gw);
  assert.ok(h.metricValue(m, 'sandgate_upstream_errors_total', { kind: 'connect' }) >= 3);
  await gw.stop();
}));

test('upstream timeout: 504 GATEWAY::UPSTREAM_TIMEOUT after upstream_io_timeout (500ms)', { timeout: 30000 }, env.wrap(async () => {
  const sim = await env.sim({ name: 'sim-slow' });
  const sbx = await h.createSandbox(sim);
  const gw = await env.gateway({
    backends: [h.backend(sim)], plugins: [],
    limits: { upstream_io_timeout: '500ms' },
    health_check: { interval: '1s', timeout: '500ms', healthy_threshold: 1, unhealthy_threshold: 100 },
  });
  const r = await h.request(`${gw.httpUrl}${h.portPath(sbx, 8080, '/slow-headers?ms=3000')}`, { timeoutMs: 5000 });
  assertJsonError(r, 504, 'GATEWAY::UPSTREAM_TIMEOUT', 'slow headers');
  assert.ok(r.ms >= 400 && r.ms < 2000, `504 after ${r.ms} ms (expected ~500)`);
  // below the limit is fine
  const fast = await h.request(`${gw.httpUrl}${h.portPath(sbx, 8080, '/slow-headers?ms=100')}`);
  assert.equal(fast.status, 200, fast.text);
  // lifecycle too (latency fault on the main port)
  await sim.faults({ latencyMs: 2000 });
  const l = await h.request(`${gw.httpUrl}/v1/sandboxes`, { timeoutMs: 5000 });
  assertJsonError(l, 504, 'GATEWAY::UPSTREAM_TIMEOUT', 'lifecycle latency');
  await sim.faults({ latencyMs: 0 });
  // the gap between SSE events counts as silence only while it lasts: 300 ms gaps are fine
  const sse = await h.request(`${gw.httpUrl}${h.portPath(sbx, 8080, '/sse?n=4&interval_ms=300')}`);
  assert.equal(sse.status, 200);
  assert.equal((sse.text.match(/event: tick/g) || []).length, 4);
  const m = await h.metrics(gw);
  assert.ok(h.metricValue(m, 'sandgate_upstream_errors_total', { kind: 'timeout' }) >= 2);
  await gw.stop();
}));

// Reads a large response, kills the simulator once `killAfter` bytes have arrived; resolves with
// what the client observed.
function downloadAndKill({ gw, sim, reqPath, proto, killAfter }) {
  return new Promise((resolve) => {
    let bytes = 0;
    let killed = false;
    const out = { status: null, bytes: 0, ended: false, error: null, aborted: false };
    const t0 = Date.now();
    const finish = () => { out.bytes = bytes; out.ms = Date.now() - t0; resolve(out); };
    const onData = (c) => {
      bytes += c.length;
      if (!killed && bytes >= killAfter) { killed = true; sim.kill('SIGKILL'); }
    };
    if (proto === 'h2') {
      const session = http2.connect(gw.httpsUrl, { ca: fs.readFileSync(h.certs().ca) });
      session.on('error', () => {});
      const st = session.request({ ':method': 'GET', ':path': reqPath });
      st.on('response', (hd) => { out.status = hd[':status']; });
      st.on('data', onData);
      st.on('end', () => { out.ended = true; });
      st.on('error', (e) => { out.error = e.code || e.message; });
      st.on('close', () => { out.rstCode = st.rstCode; session.close(); finish(); });
      st.setTimeout(15000, () => { out.error = 'client timeout (hang)'; st.close(http2.constants.NGHTTP2_CANCEL); });
      return;
    }
    const req = http.get({ host: '127.0.0.1', port: gw.ports.http, path: reqPath, agent: false }, (res) => {
      out.status = res.statusCode;
      out.contentLength = res.headers['content-length'];
      res.on('data', onData);
      res.on('aborted', () => { out.aborted = true; });
      res.on('end', () => { out.ended = true; });
      res.on('error', (e) => { out.error = e.code || e.message; });
      res.on('close', finish);
    });
    req.on('error', (e) => { out.error = e.code || e.message; finish(); });
    req.setTimeout(15000, () => req.destroy(new Error('client timeout (hang)')));
  });
}

test('backend dies mid-response: the client sees a truncated response, the gateway keeps serving', { timeout: 60000 }, env.wrap(async (t) => {
  const stateFile = path.join(h.tmpDir(), 'sim-midkill-state.json');
  let sim = await env.sim({ name: 'sim-midkill', args: ['--state-file', stateFile] });
  const sbx = await h.createSandbox(sim);
  const gw = await env.gateway({
    backends: [h.backend(sim)], plugins: [],
    health_check: { interval: '300ms', timeout: '300ms', healthy_threshold: 1, unhealthy_threshold: 2 },
  });
  const SIZE = 100 * 1024 * 1024;
  const cases = [
    { name: 'HTTP/1.1 Content-Length', proto: 'h1', reqPath: h.portPath(sbx, 8080, `/bytes/${SIZE}`) },
    { name: 'HTTP/1.1 chunked', proto: 'h1', reqPath: h.portPath(sbx, 8080, `/chunked/${SIZE}`) },
    { name: 'HTTP/2 chunked', proto: 'h2', reqPath: h.portPath(sbx, 8080, `/chunked/${SIZE}`) },
  ];
  for (const c of cases) {
    await h.waitFor(async () => (await h.request(`${gw.httpUrl}${h.portPath(sbx, 8080, '/echo/ready')}`)).status === 200,
      { timeoutMs: 5000, what: `${c.name}: sandbox reachable through the gateway` });
    const r = await downloadAndKill({ gw, sim, reqPath: c.reqPath, proto: c.proto, killAfter: 2 * 1024 * 1024 });
    t.diagnostic(`${c.name}: ${JSON.stringify(r)}`);
    assert.equal(r.status, 200, c.name);
    assert.ok(r.bytes < SIZE, `${c.name}: got all ${r.bytes} bytes although the backend was killed`);
    assert.ok(r.ms < 12000, `${c.name}: took ${r.ms} ms to notice the truncation`);
    assert.notEqual(r.error, 'client timeout (hang)', `${c.name}: the response hung`);
    if (c.proto === 'h2') {
      assert.ok(r.error || (r.rstCode && r.rstCode !== 0) || !r.ended, `${c.name}: the stream ended cleanly (rst ${r.rstCode}); truncation must be visible`);
    } else {
      // a truncated HTTP/1.1 response must not look complete: no clean end
      assert.ok(r.aborted || r.error || !r.ended, `${c.name}: the response ended cleanly after ${r.bytes} bytes`);
    }
    // the gateway keeps serving
    const hl = await h.request(`${gw.httpUrl}/health`);
    assert.equal(hl.status, 200);
    const adm = await h.admin(gw, '/admin/v1/backends');
    assert.equal(adm.status, 200);
    sim = await env.restartSim(sim);
  }
  // the last kill marked the backend down; the restarted simulator is healthy again
  await h.waitFor(async () => (await h.request(`${gw.httpUrl}/v1/sandboxes`)).status === 200,
    { timeoutMs: 5000, what: 'the restarted backend to be used again' });
  const again = await h.request(`${gw.httpUrl}${h.portPath(sbx, 8080, '/bytes/1000000')}`);
  assert.equal(again.status, 200);
  assert.equal(again.buf.length, 1000000);
  await gw.stop();
}));
