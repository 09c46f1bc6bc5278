'use strict';
// Plugins: the example external plugin (header-stamp: response header, deny_header -> 403,
// delay -> suspend/resume with a timer), per-route plugin chains, the access log.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const path = require('node:path');
const h = require('./lib/harness');

const env = h.env();
let sim;
let gw;
let sbx;
let accessLog;
const DELAY_MS = 300;

test.before(async () => {
  sim = await env.sim({ name: 'sim-plug' });
  sbx = await h.createSandbox(sim);
  accessLog = path.join(h.tmpDir(), 'access.log');
  const stamp = { name: 'header-stamp', path: h.PLUGIN_SO, config: { header: 'X-Stamp', value: 'hello', deny_header: 'x-deny' } };
  gw = await env.gateway({
    backends: [h.backend(sim)],
    plugins: [{ name: 'request-id' }, { name: 'access-log', config: { path: accessLog } }, stamp],
    routes: {
      health: { plugins: [] },
      port: {
        plugins: [{ name: 'request-id' }, { name: 'access-log', config: { path: accessLog } },
          { name: 'header-stamp', path: h.PLUGIN_SO, config: { header: 'X-Delayed', value: 'yes', delay: `${DELAY_MS}ms` } }],
      },
    },
  });
}, { timeout: 60000 });

test.after(() => env.cleanup());

test('external plugin (path:) adds its response header', { timeout: 20000 }, env.wrap(async () => {
  const r = await h.request(`${gw.httpUrl}/v1/sandboxes`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers['x-stamp'], 'hello');
  const s = await h.request(`${gw.httpsUrl}/v1/sandboxes/${sbx}`);
  assert.equal(s.status, 200);
  assert.equal(s.headers['x-stamp'], 'hello');
  // HTTP/2 as well
  const session = http2.connect(gw.httpsUrl, { ca: fs.readFileSync(h.certs().ca) });
  try {
    const hd = await new Promise((resolve, reject) => {
      const st = session.request({ ':method': 'GET', ':path': '/v1/sandboxes' });
      st.on('response', resolve);
      st.on('error', reject);
      st.resume();
      st.end();
    });
    assert.equal(hd[':status'], 200);
    assert.equal(hd['x-stamp'], 'hello');
  } finally {
    session.close();
  }
}));

test('deny_header: 403 JSON GATEWAY::DENIED_BY_PLUGIN, nothing reaches the backend', { timeout: 20000 }, env.wrap(async () => {
  const r = await h.request(`${gw.httpUrl}/v1/sandboxes?denied=1`, { headers: { 'X-Deny': '1' } });
  assert.equal(r.status, 403, r.text);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  assert.equal(r.json.code, 'GATEWAY::DENIED_BY_PLUGIN');
  assert.equal(typeof r.json.message, 'string');
  assert.equal((await sim.requests('/v1/sandboxes?denied=1')).items.length, 0);
  const ok = await h.request(`${gw.httpUrl}/v1/sandboxes?denied=0`);
  assert.equal(ok.status, 200);
}));

test('deny_header matches header names case-insensitively (config "X-Deny" as in the plugin docs)', { timeout: 20000 }, env.wrap(async () => {
  const g = await env.gateway({
    backends: [h.backend(sim)], admin: false,
    plugins: [{ name: 'header-stamp', path: h.PLUGIN_SO, config: { header: 'X-Stamp', value: 'v', deny_header: 'X-Deny' } }],
  });
  try {
    for (const sent of ['X-Deny', 'x-deny', 'X-DENY']) {
      const r = await h.request(`${g.httpUrl}/v1/sandboxes?deny-case=1`, { headers: { [sent]: '1' } });
      assert.equal(r.status, 403, `deny_header: X-Deny, request header "${sent}: 1" -> expected 403 GATEWAY::DENIED_BY_PLUGIN, got ${r.status} ${r.text.slice(0, 120)}`);
      assert.equal(r.json.code, 'GATEWAY::DENIED_BY_PLUGIN');
    }
  } finally {
    await g.stop();
  }
}));

test(`delay: ${DELAY_MS}ms suspends the request, then it resumes (concurrent requests are not serialized)`, { timeout: 30000 }, env.wrap(async () => {
  const r = await h.request(`${gw.httpUrl}${h.portPath(sbx, 8080, '/echo/delayed')}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.path, '/echo/delayed');
  assert.equal(r.headers['x-delayed'], 'yes');
  assert.ok(r.ms >= DELAY_MS, `answered after ${r.ms} ms (delay ${DELAY_MS})`);
  // POST with a body survives the suspension
  const body = Buffer.alloc(100000, 9);
  const p = await h.request(`${gw.httpUrl}${h.portPath(sbx, 8080, '/upload-sink')}`, { method: 'POST', body });
  assert.equal(p.status, 200);
  assert.equal(p.json.bytes, body.length);
  // 20 at once: all delayed, in parallel
  const t0 = Date.now();
  const all = await Promise.all(Array.from({ length: 20 }, (_, i) => h.request(`${gw.httpUrl}${h.portPath(sbx, 8080, `/echo/par${i}`)}`)));
  const took = Date.now() - t0;
  for (const [i, x] of all.entries()) {
    assert.equal(x.status, 200);
    assert.equal(x.json.path, `/echo/par${i}`);
    assert.ok(x.ms >= DELAY_MS, `request ${i} answered after ${x.ms} ms`);
  }
  assert.ok(took < DELAY_MS * 4, `20 delayed requests took ${took} ms: suspended requests must not block the loop`);
}));

test('clients that disconnect during the delay do not crash the gateway', { timeout: 30000 }, env.wrap(async () => {
  const aborts = [];
  for (let i = 0; i < 20; i++) {
    aborts.push(new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: gw.ports.http, path: h.portPath(sbx, 8080, `/echo/abort${i}`), agent: false }, (res) => { res.resume(); res.on('end', resolve); });
      req.on('error', () => resolve());
      setTimeout(() => { req.destroy(); resolve(); }, 50 + (i % 5) * 40);
    }));
  }
  // HTTP/2: cancelled streams and a whole session torn down during the delay
  const session = http2.connect(gw.httpsUrl, { ca: fs.readFileSync(h.certs().ca) });
  session.on('error', () => {});
  for (let i = 0; i < 10; i++) {
    const st = session.request({ ':method': 'GET', ':path': h.portPath(sbx, 8080, `/echo/h2abort${i}`) });
    st.on('error', () => {});
    st.resume();
    setTimeout(() => st.close(http2.constants.NGHTTP2_CANCEL), 30 + i * 20);
  }
  const doomed = http2.connect(gw.httpsUrl, { ca: fs.readFileSync(h.certs().ca) });
  doomed.on('error', () => {});
  for (let i = 0; i < 5; i++) {
    const st = doomed.request({ ':method': 'GET', ':path': h.portPath(sbx, 8080, `/echo/h2gone${i}`) });
    st.on('error', () => {});
    st.resume();
  }
  setTimeout(() => doomed.destroy(), 100);
  await Promise.all(aborts);
  await h.sleep(DELAY_MS + 300); // let every timer fire
  session.close();
  assert.equal(gw.alive(), true, `sandgate died:\n${gw.stderrTail()}`);
  assert.equal((await h.request(`${gw.httpUrl}/health`)).status, 200);
  const r = await h.request(`${gw.httpUrl}${h.portPath(sbx, 8080, '/echo/after-aborts')}`);
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-delayed'], 'yes');
  assert.doesNotMatch(gw.stderr(), /AddressSanitizer|runtime error|Assertion/);
}));

test('per-route plugin chains: /health has none, /v1 has the default chain, port traffic its own', { timeout: 20000 }, env.wrap(async () => {
  const hl = await h.request(`${gw.httpUrl}/health`);
  assert.equal(hl.status, 200);
  assert.equal(hl.headers['x-request-id'], undefined, 'routes.health.plugins: [] -> no request id');
  assert.equal(hl.headers['x-stamp'], undefined);
  const v1 = await h.request(`${gw.httpUrl}/v1/sandboxes`);
  assert.match(String(v1.headers['x-request-id']), /^[A-Za-z0-9._:-]+/);
  assert.equal(v1.headers['x-stamp'], 'hello');
  assert.equal(v1.headers['x-delayed'], undefined);
  const pt = await h.request(`${gw.httpUrl}${h.portPath(sbx, 8080, '/echo/chain')}`);
  assert.match(String(pt.headers['x-request-id']), /^[A-Za-z0-9._:-]+/);
  assert.equal(pt.headers['x-delayed'], 'yes');
  assert.equal(pt.headers['x-stamp'], undefined, 'the port chain replaces the default list');
  // the deny rule belongs to the default chain only
  const d = await h.request(`${gw.httpUrl}${h.portPath(sbx, 8080, '/echo/deny-not-here')}`, { headers: { 'X-Deny': '1' } });
  assert.equal(d.status, 200);
}));

test('access log: one valid JSON line per request with route, status, backend', { timeout: 30000 }, env.wrap(async () => {
  const tag = `al${Date.now()}`;
  const id = (n) => `${tag}-${n}`;
  const bigQuery = 'q=' + 'x'.repeat(7000);
  const reqs = [
    { n: 'lifecycle', url: `${gw.httpUrl}/v1/sandboxes`, status: 200, route: 'lifecycle', backend: 'sim-plug' },
    { n: 'port', url: `${gw.httpUrl}${h.portPath(sbx, 8080, '/echo/logged')}`, status: 200, route: 'port', backend: 'sim-plug', sandbox: sbx },
    { n: 'post', url: `${gw.httpsUrl}${h.portPath(sbx, 8080, '/upload-sink')}`, method: 'POST', body: Buffer.alloc(12345, 1), status: 200, route: 'port', backend: 'sim-plug', bytesIn: 12345 },
    { n: 'unknown', url: `${gw.httpUrl}/no/such/route`, status: 404, route: 'unknown', error: 'GATEWAY::ROUTE_NOT_FOUND' },
    { n: 'denied', url: `${gw.httpUrl}/v1/sandboxes`, headers: { 'X-Deny': '1' }, status: 403, route: 'lifecycle', error: 'GATEWAY::DENIED_BY_PLUGIN' },
    { n: 'notfound', url: `${gw.httpUrl}/v1/sandboxes/does-not-exist`, status: 404, route: 'lifecycle', backend: 'sim-plug' },
    { n: 'bigquery', url: `${gw.httpUrl}/v1/sandboxes?${bigQuery}`, status: 200, route: 'lifecycle', backend: 'sim-plug' },
    { n: 'quote', url: `${gw.httpUrl}/v1/sandboxes?a=%22b%5C&c="d\\`, status: 200, route: 'lifecycle' },
  ];
  for (const q of reqs) {
    const r = await h.request(q.url, { method: q.method, body: q.body, headers: Object.assign({ 'X-Request-ID': id(q.n) }, q.headers || {}) });
    assert.equal(r.status, q.status, `${q.n}: ${r.text.slice(0, 200)}`);
    q.bytesOut = r.buf.length;
  }
  await h.request(`${gw.httpUrl}/health`, { headers: { 'X-Request-ID': id('health') } });

  const required = ['time', 'request_id', 'remote', 'method', 'path', 'host', 'http', 'status', 'route', 'tenant', 'sandbox_id',
    'backend', 'bytes_in', 'bytes_out', 'duration_us', 'upstream_us'];
  let entries;
  await h.waitFor(() => {
    const lines = fs.existsSync(accessLog) ? fs.readFileSync(accessLog, 'utf8').split('\n').filter(Boolean) : [];
    entries = lines.map((l, i) => {
      try { return JSON.parse(l); } catch (e) { assert.fail(`access log line ${i + 1} is not valid JSON: ${e.message}\n${l.slice(0, 500)}...${l.slice(-200)}`); }
      return null;
    });
    return reqs.every((q) => entries.some((e) => e.request_id === id(q.n)));
  }, { timeoutMs: 3000, what: 'access log lines for every request' });

  for (const e of entries) for (const k of required) assert.ok(k in e, `access log line lacks "${k}": ${JSON.stringify(e)}`);
  for (const q of reqs) {
    const mine = entries.filter((e) => e.request_id === id(q.n));
    assert.equal(mine.length, 1, `${q.n}: ${mine.length} lines for one request`);
    const e = mine[0];
    assert.equal(e.status, q.status, `${q.n}: ${JSON.stringify(e)}`);
    assert.equal(e.route, q.route, `${q.n}: ${JSON.stringify(e)}`);
    if (q.backend) assert.equal(e.backend, q.backend, `${q.n}: ${JSON.stringify(e)}`);
    if (q.sandbox) assert.equal(e.sandbox_id, q.sandbox, `${q.n}: ${JSON.stringify(e)}`);
    if (q.error) assert.equal(e.error, q.error, `${q.n}: ${JSON.stringify(e)}`);
    if (q.bytesIn) assert.equal(e.bytes_in, q.bytesIn, `${q.n}: ${JSON.stringify(e)}`);
    assert.equal(e.method, q.method || 'GET');
    assert.equal(e.remote, '127.0.0.1');
    assert.ok([1, 2].includes(e.http));
    assert.ok(e.bytes_out >= q.bytesOut, `${q.n}: bytes_out ${e.bytes_out} < body ${q.bytesOut}`);
    assert.ok(Number.isFinite(e.duration_us) && e.duration_us > 0);
    assert.ok(!Number.isNaN(Date.parse(e.time)), `bad time ${e.time}`);
    // UTC with milliseconds, fixed width, and now (the plugin formats it by hand, gmtime once per second)
    assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.now() - Date.parse(e.time)) < 60000, `time ${e.time} is not now (${new Date().toISOString()})`);
  }
  const port = entries.find((e) => e.request_id === id('port'));
  assert.ok(port.duration_us >= DELAY_MS * 1000, `port request logged ${port.duration_us} us (plugin delay ${DELAY_MS} ms)`);
  assert.ok(port.upstream_us > 0 && port.upstream_us <= port.duration_us);
  assert.equal(entries.find((e) => e.request_id === id('lifecycle')).path, '/v1/sandboxes');
  assert.equal(entries.find((e) => e.request_id === id('bigquery')).path, `/v1/sandboxes?${bigQuery}`);
  assert.equal(entries.filter((e) => e.request_id === id('health')).length, 0, '/health has no plugins, so no access log line');
}));

// Plugin timers take any delay: 70 distinct delays in one chain (h2o 2.2 timeout lists have one fixed duration each,
// and a loop once kept at most 64 of them, rounding the rest to another list). Each delay must be served in full and
// none stretched: the request takes their sum, give or take scheduling.
test('plugin timers: 70 distinct delays in one chain each fire on time', { timeout: 40000 }, env.wrap(async () => {
  // 1..69 ms, then 1500 ms: past the 64th list the old loop rounded the long one to a list of a few ms
  const delays = Array.from({ length: 69 }, (_, i) => i + 1).concat([1500]);
  const sum = delays.reduce((a, b) => a + b, 0);
  const g = await env.gateway({
    backends: [h.backend(sim)], admin: false, https: false,
    plugins: delays.map((d) => ({ name: 'header-stamp', path: h.PLUGIN_SO, config: { header: `X-D${d}`, value: String(d), delay: `${d}ms` } })),
    routes: { health: { plugins: [] } },
  });
  try {
    for (let round = 0; round < 2; round++) {
      const r = await h.request(`${g.httpUrl}/v1/sandboxes`, { timeoutMs: 15000 });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers['x-d1500'], '1500');
      assert.ok(r.ms >= sum && r.ms < sum + 1500, `round ${round}: a chain of delays summing to ${sum} ms answered after ${r.ms} ms`);
    }
  } finally {
    await g.stop();
  }
}));

// A 429/503 carries exactly one Retry-After: the gateway's default "1", or the value a plugin set instead of it.
test('Retry-After: one header on gateway 503s, the plugin\'s value replaces the default', { timeout: 40000 }, env.wrap(async () => {
  const dead = { name: 'dead', url: `http://127.0.0.1:${await h.freePort()}`, api_key: 'k' };
  const values = (r) => {
    const out = [];
    for (let i = 0; i < r.rawHeaders.length; i += 2) if (r.rawHeaders[i].toLowerCase() === 'retry-after') out.push(r.rawHeaders[i + 1]);
    return out;
  };
  const plain = await env.gateway({ backends: [dead], admin: false, https: false });
  const stamped = await env.gateway({
    backends: [dead], admin: false, https: false,
    plugins: [{ name: 'header-stamp', path: h.PLUGIN_SO, config: { header: 'Retry-After', value: '7' } }],
  });
  try {
    // once health checks mark the dead backend down: 503 GATEWAY::NO_HEALTHY_BACKEND
    const a = await h.waitFor(async () => {
      const r = await h.request(`${plain.httpUrl}/v1/sandboxes`);
      return r.status === 503 && r;
    }, { what: '503 from the gateway without a backend' });
    assert.match(a.json.code, /^GATEWAY::/);
    assert.deepEqual(values(a), ['1']);
    const b = await h.waitFor(async () => {
      const r = await h.request(`${stamped.httpUrl}/v1/sandboxes`);
      return r.status === 503 && r;
    }, { what: '503 from the gateway with the plugin' });
    assert.deepEqual(values(b), ['7'], `Retry-After headers: ${JSON.stringify(values(b))}`);
  } finally {
    await plain.stop();
    await stamped.stop();
  }
}));

test('a plugin built against the ABI 1 header loads and works (response header, deny, delay)', { timeout: 30000 }, env.wrap(async () => {
  // the same example plugin compiled with a verbatim copy of the ABI 1 plugin.h (tests/plugins/abi1/plugin.h)
  const so = path.join(path.dirname(h.PLUGIN_SO), 'sg_example_plugin_abi1.so');
  assert.ok(fs.existsSync(so), `${so} is built with the gateway`);
  const g = await env.gateway({
    backends: [h.backend(sim)], admin: false, https: false,
    plugins: [{ name: 'header-stamp', path: so, config: { header: 'X-Old', value: 'abi1', deny_header: 'x-deny', delay: '100ms' } }],
  });
  try {
    const r = await h.request(`${g.httpUrl}/v1/sandboxes?abi1=1`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-old'], 'abi1');
    assert.ok(r.ms >= 100, `the ABI 1 plugin's timer delayed the request (${r.ms} ms)`);
    const d = await h.request(`${g.httpUrl}/v1/sandboxes?abi1=2`, { headers: { 'X-Deny': '1' } });
    assert.equal(d.status, 403, d.text);
    assert.equal(d.json.code, 'GATEWAY::DENIED_BY_PLUGIN');
    assert.equal((await sim.requests('/v1/sandboxes?abi1=2')).items.length, 0);
  } finally {
    await g.stop();
  }
}));

test('a plugin of a newer ABI is refused, the message names both versions', { timeout: 20000 }, env.wrap(async () => {
  const so = path.join(path.dirname(h.SANDGATE_BIN), 'tests', 'unit', 'bad_abi_plugin.so');
  assert.ok(fs.existsSync(so), `${so} is built with the unit tests`);
  const { config } = await h.buildConfig({ backends: [h.backend(sim)], admin: false, plugins: [{ name: 'bad-abi', path: so }] });
  const r = h.checkConfig(h.writeConfig(config));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /was built for plugin ABI version 3, this sandgate provides version 2/, r.stderr);
}));

test('sandgate exits 0 on SIGTERM', { timeout: 30000 }, env.wrap(async () => {
  await gw.stop();
}));
