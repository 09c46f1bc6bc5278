'use strict';
// Admin listener: authentication (401 JSON), /admin/v1/backends, Prometheus /metrics and its
// counters following traffic; admin and public surfaces stay separate.
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./lib/harness');

const env = h.env();
let simA;
let simB;
let gw;
let sbx;

test.before(async () => {
  simA = await env.sim({ name: 'sim-adm-a' });
  simB = await env.sim({ name: 'sim-adm-b' });
  sbx = await h.createSandbox(simA);
  gw = await env.gateway({
    backends: [h.backend(simA, { weight: 1, capacity: 7, labels: { runtime: 'docker' } }), h.backend(simB, { weight: 0 })],
    plugins: [{ name: 'request-id' }],
  });
}, { timeout: 60000 });

test.after(() => env.cleanup());

test('admin endpoints need the admin key: 401 MISSING_API_KEY / INVALID_API_KEY as JSON', { timeout: 20000 }, env.wrap(async () => {
  for (const p of ['/admin/v1/backends', '/metrics']) {
    const none = await h.request(`${gw.adminUrl}${p}`);
    assert.equal(none.status, 401, `${p} without key: ${none.text}`);
    assert.match(String(none.headers['content-type']), /^application\/json/);
    assert.equal(none.json.code, 'MISSING_API_KEY');
    assert.equal(typeof none.json.message, 'string');

    const wrong = await h.admin(gw, p, 'not-the-admin-key');
    assert.equal(wrong.status, 401, `${p} with a wrong key: ${wrong.text}`);
    assert.equal(wrong.json.code, 'INVALID_API_KEY');

    const basic = await h.request(`${gw.adminUrl}${p}`, { headers: { Authorization: `Basic ${Buffer.from(`x:${h.ADMIN_KEY}`).toString('base64')}` } });
    assert.equal(basic.status, 401, `${p} with Basic auth: ${basic.text}`);

    const emptyBearer = await h.request(`${gw.adminUrl}${p}`, { headers: { Authorization: 'Bearer ' } });
    assert.equal(emptyBearer.status, 401);

    // a backend key or a prefix of the admin key is not the admin key
    const prefix = await h.admin(gw, p, h.ADMIN_KEY.slice(0, -1));
    assert.equal(prefix.status, 401);
    assert.equal(prefix.json.code, 'INVALID_API_KEY');

    const ok = await h.admin(gw, p);
    assert.equal(ok.status, 200, `${p} with the admin key: ${ok.text}`);
    const alt = await h.request(`${gw.adminUrl}${p}`, { headers: { 'OPEN-SANDBOX-API-KEY': h.ADMIN_KEY } });
    assert.equal(alt.status, 200, `${p} with OPEN-SANDBOX-API-KEY: ${alt.text}`);
  }
}));

test('/admin/v1/backends lists every backend with its state and counters', { timeout: 20000 }, env.wrap(async () => {
  const r = await h.admin(gw, '/admin/v1/backends');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  const bs = r.json.backends;
  assert.deepEqual(bs.map((b) => b.name), ['sim-adm-a', 'sim-adm-b']);
  const a = bs[0];
  for (const k of ['name', 'url', 'state', 'in_flight', 'pool_connections', 'last_error']) assert.ok(k in a, `backend entry lacks ${k}: ${JSON.stringify(a)}`);
  assert.equal(a.url, simA.url);
  assert.equal(a.state, 'up');
  assert.equal(a.capacity, 7);
  assert.deepEqual(a.labels, { runtime: 'docker' });
  assert.equal(a.in_flight, 0);
  assert.equal(a.last_error, null);
  assert.ok(!JSON.stringify(r.json).includes(simA.apiKey), 'backend API keys must not appear in the admin API');
  // in_flight follows a slow request
  const slow = h.request(`${gw.httpUrl}${h.portPath(sbx, 8080, '/slow-headers?ms=800')}`);
  await h.waitFor(async () => (await h.admin(gw, '/admin/v1/backends')).json.backends[0].in_flight === 1,
    { timeoutMs: 2000, what: 'in_flight to be 1 during a slow request' });
  assert.equal((await slow).status, 200);
  await h.waitFor(async () => (await h.admin(gw, '/admin/v1/backends')).json.backends[0].in_flight === 0,
    { timeoutMs: 2000, what: 'in_flight back to 0' });
  const after = (await h.admin(gw, '/admin/v1/backends')).json.backends[0];
  assert.ok(after.pool_connections >= 1, `pooled upstream connections after traffic: ${JSON.stringify(after)}`);
}));

test('/metrics: Prometheus text; counters and histograms follow traffic', { timeout: 30000 }, env.wrap(async () => {
  const m0 = await h.metrics(gw);
  assert.match(m0, /^# TYPE sandgate_requests_total counter$/m);
  assert.match(m0, /^# TYPE sandgate_request_duration_seconds histogram$/m);
  assert.match(m0, /^# TYPE sandgate_backend_up gauge$/m);
  assert.equal(h.metricValue(m0, 'sandgate_backend_up', { backend: 'sim-adm-a' }), 1);
  assert.equal(h.metricValue(m0, 'sandgate_backend_up', { backend: 'sim-adm-b' }), 1);
  assert.ok(!m0.includes(simA.apiKey));
  const v = (text, name, labels) => h.metricValue(text, name, labels) || 0;

  const N = 7;
  for (let i = 0; i < N; i++) assert.equal((await h.request(`${gw.httpUrl}/v1/sandboxes`)).status, 200);
  for (let i = 0; i < 3; i++) assert.equal((await h.request(`${gw.httpUrl}/nope${i}`)).status, 404);
  for (let i = 0; i < 2; i++) assert.equal((await h.request(`${gw.httpsUrl}${h.portPath(sbx, 8080, '/bytes/10000')}`)).status, 200);
  assert.equal((await h.request(`${gw.httpUrl}/v1/sandboxes/does-not-exist`)).status, 404);

  const m1 = await h.metrics(gw);
  const d = (name, labels) => v(m1, name, labels) - v(m0, name, labels);
  assert.equal(d('sandgate_requests_total', { route: 'lifecycle', status: '200' }), N);
  assert.equal(d('sandgate_requests_total', { route: 'lifecycle', status: '404' }), 1);
  assert.equal(d('sandgate_requests_total', { route: 'unknown', status: '404' }), 3);
  assert.equal(d('sandgate_requests_total', { route: 'port', status: '200' }), 2);
  assert.equal(d('sandgate_request_duration_seconds_count', { route: 'lifecycle' }), N + 1);
  assert.equal(d('sandgate_request_duration_seconds_bucket', { route: 'lifecycle', le: '+Inf' }), N + 1);
  assert.ok(d('sandgate_request_duration_seconds_sum', { route: 'lifecycle' }) > 0);
  assert.ok(d('sandgate_bytes_sent_total', { route: 'port' }) >= 20000);
  assert.equal(d('sandgate_backend_requests_total', { backend: 'sim-adm-a' }), N + 1 + 2, 'weight 0 backend gets nothing');
  assert.equal(d('sandgate_backend_requests_total', { backend: 'sim-adm-b' }), 0);
  // histogram buckets are cumulative
  const buckets = m1.split('\n').filter((l) => l.startsWith('sandgate_request_duration_seconds_bucket{route="lifecycle"'))
    .map((l) => Number(l.split(' ').pop()));
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i] >= buckets[i - 1], 'histogram buckets must be cumulative');
  // the metrics requests themselves are counted under the admin route
  assert.ok(v(m1, 'sandgate_requests_total', { route: 'admin', status: '200' }) >= 1);
}));

test('admin and public surfaces are separate', { timeout: 20000 }, env.wrap(async () => {
  const pub = await h.request(`${gw.httpUrl}/metrics`);
  assert.equal(pub.status, 404, 'no /metrics on the public listener');
  const pub2 = await h.request(`${gw.httpUrl}/admin/v1/backends`, { headers: { Authorization: `Bearer ${h.ADMIN_KEY}` } });
  assert.equal(pub2.status, 404, 'no admin API on the public listener');
  const adm = await h.admin(gw, '/v1/sandboxes');
  assert.equal(adm.status, 404, 'the admin listener does not proxy');
  assert.equal(adm.json.code, 'GATEWAY::ROUTE_NOT_FOUND');
  const post = await h.request(`${gw.adminUrl}/metrics`, { method: 'POST', headers: { Authorization: `Bearer ${h.ADMIN_KEY}` } });
  assert.equal(post.status, 405);
  assert.equal(post.json.code, 'GATEWAY::METHOD_NOT_ALLOWED');
}));

test('sandgate exits 0 on SIGTERM', { timeout: 30000 }, env.wrap(async () => {
  await gw.stop();
}));
