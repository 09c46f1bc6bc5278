'use strict';
// Backend faults (issue 11, section 3), on a tenancy gateway (memory store) whose tenants are pinned
// to different backends by labels:
// - a blackholed backend (accepts TCP connections, never answers) gives 504 GATEWAY::UPSTREAM_TIMEOUT
//   within limits.upstream_io_timeout, while a tenant on a healthy backend keeps its normal latency;
// - a backend killed mid-SSE and mid-download: its clients see a truncated stream (HTTP/1.1: no
//   clean end; HTTP/2: the stream reset), the streams of another backend's clients go on to the end.
// failures.test.js covers the single-backend cases (io timeout with a slow sandbox, a kill during one
// download); what is new here is the blackhole, SSE, and the other backend's clients during the fault.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const h = require('../lib/harness');
const T = require('../lib/tenancy');
const L = require('../lib/load');

const env = h.env();
const ASAN = h.isSanitizerBuild();
const IO_TIMEOUT_MS = 1000;
const body = { image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], timeout: 600, resourceLimits: { cpu: '100m', memory: '64Mi' } };
// healthy-backend latency while the blackhole holds requests: measured figures in tests/integration/README.md
const HEALTHY_P99_LIMIT_MS = ASAN ? 200 : 100;

test.after(() => env.cleanup());

// A TCP server that accepts every connection, reads and drops what comes, and never answers.
async function blackhole() {
  const sockets = new Set();
  let accepted = 0;
  const server = net.createServer((s) => { accepted += 1; sockets.add(s); s.on('data', () => {}); s.on('error', () => {}); s.on('close', () => sockets.delete(s)); });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    accepted: () => accepted,
    open: () => sockets.size,
    close() { for (const s of sockets) s.destroy(); server.close(); },
  };
}

test('blackholed backend: 504 UPSTREAM_TIMEOUT within upstream_io_timeout; a tenant on a healthy backend keeps its latency', { timeout: 60000 }, env.wrap(async (t) => {
  const bh = await blackhole();
  try {
    await blackholeCase(t, bh);
  } finally {
    bh.close(); // its listener would keep this file's process alive
  }
}));

async function blackholeCase(t, bh) {
  const sim = await env.sim({ name: 'healthy' });
  const kX = T.newKey('x');
  const kY = T.newKey('y');
  const gw = await env.gateway(Object.assign({
    https: false,
    backends: [{ name: 'blackhole', url: bh.url, api_key: 'k', labels: { pool: 'bh' } }, h.backend(sim, { labels: { pool: 'ok' } })],
    tenants: [
      { id: 'tx', keys: [T.keyHash(kX)], backend_labels: { pool: 'bh' } },
      { id: 'ty', keys: [T.keyHash(kY)], backend_labels: { pool: 'ok' } },
    ],
    lifecycle: { reconcile_interval: '1h' },
    limits: { upstream_io_timeout: `${IO_TIMEOUT_MS}ms` },
    // active checks far apart and a high threshold: the blackhole stays "up", so requests reach it
    health_check: { interval: '60s', timeout: '1s', healthy_threshold: 1, unhealthy_threshold: 100 },
  }, T.tenancyPlugins()));
  const X = T.client(gw.httpUrl, kX);
  const Y = T.client(gw.httpUrl, kY);
  const sbx = await Y.create(body);
  const yReq = async (i) => (i % 2 === 0
    ? Y.get(`/v1/sandboxes/${sbx.id}`)
    : h.request(`${gw.httpUrl}${h.portPath(sbx.id, 8080, '/echo/y')}`, { headers: { 'OPEN-SANDBOX-API-KEY': kY } }));
  const quiet = [];
  for (let i = 0; i < 40; i++) { const r = await yReq(i); assert.equal(r.status, 200, r.text); quiet.push(r.ms); }

  // 16 creates of tenant X at once (its only backend is the blackhole), all held by the blackhole, while Y keeps going
  const xs = [];
  for (let i = 0; i < 16; i++) xs.push(X.post('/v1/sandboxes', body, { timeoutMs: 10000 }));
  const during = [];
  const yErrors = [];
  const t0 = Date.now();
  for (let i = 0; Date.now() - t0 < IO_TIMEOUT_MS * 0.9; i++) {
    const r = await yReq(i);
    if (r.status !== 200) yErrors.push(`${r.status} ${r.text}`); else during.push(r.ms);
  }
  const held = bh.open();
  const xr = await Promise.all(xs);
  t.diagnostic(`blackhole accepted ${bh.accepted()} connections (${held} open while Y ran); X answers: ${xr.map((r) => `${r.status}/${r.ms}ms`).join(' ')}`);
  t.diagnostic(`tenant Y on the healthy backend: quiet ${L.latencySummary(quiet)}; during the blackhole ${L.latencySummary(during)}`);
  assert.ok(bh.accepted() >= 1, 'the gateway never connected to the blackhole');
  for (const r of xr) {
    assert.equal(r.status, 504, `a request to the blackholed backend: ${r.status} ${r.text}`);
    assert.equal(r.json.code, 'GATEWAY::UPSTREAM_TIMEOUT', r.text);
    assert.ok(r.ms >= IO_TIMEOUT_MS - 100 && r.ms < IO_TIMEOUT_MS + 1500, `504 after ${r.ms} ms (upstream_io_timeout ${IO_TIMEOUT_MS})`);
  }
  assert.deepEqual(yErrors, [], 'the healthy backend\'s tenant got errors');
  assert.ok(during.length >= 10, `only ${during.length} requests of Y in ${IO_TIMEOUT_MS} ms`);
  assert.ok(L.percentile(during, 99) < HEALTHY_P99_LIMIT_MS, `Y's p99 ${L.percentile(during, 99)} ms while X's requests were held (limit ${HEALTHY_P99_LIMIT_MS})`);
  const m = await h.metrics(gw);
  // tenancy-mode lifecycle calls count in the metric like the proxy path (0 before the fix in lifecycle.c)
  const timeouts = h.metricValue(m, 'sandgate_upstream_errors_total', { kind: 'timeout' });
  assert.ok(timeouts >= xr.length, `sandgate_upstream_errors_total{kind="timeout"} is ${timeouts} after ${xr.length} 504 answers`);
  await gw.stop();
}

test('backend killed mid-SSE and mid-download: its clients see truncated streams (HTTP/1.1 no clean end, HTTP/2 reset); another backend\'s clients stream to the end', { timeout: 60000 }, env.wrap(async (t) => {
  const simA = await env.sim({ name: 'doomed' });
  const simB = await env.sim({ name: 'survivor' });
  const kA = T.newKey('a');
  const kB = T.newKey('b');
  const gw = await env.gateway(Object.assign({
    backends: [h.backend(simA, { labels: { pool: 'a' } }), h.backend(simB, { labels: { pool: 'b' } })],
    tenants: [
      { id: 'ta', keys: [T.keyHash(kA)], backend_labels: { pool: 'a' } },
      { id: 'tb', keys: [T.keyHash(kB)], backend_labels: { pool: 'b' } },
    ],
    lifecycle: { reconcile_interval: '1h' },
    health_check: { interval: '300ms', timeout: '300ms', healthy_threshold: 1, unhealthy_threshold: 2 },
  }, T.tenancyPlugins()));
  const sa = await T.client(gw.httpUrl, kA).create(body);
  const sb = await T.client(gw.httpUrl, kB).create(body);
  const RATE = 10 * 1024 * 1024;
  const open = (sbx, key, n, size) => ['h1', 'h2'].flatMap((proto) => [
    { kind: 'sse', s: L.stream(gw, proto, h.portPath(sbx, 8080, `/sse?n=${n}&interval_ms=100`), { 'open-sandbox-api-key': key }, { sse: true }) },
    { kind: 'download', s: L.stream(gw, proto, h.portPath(sbx, 8080, `/bytes/${size}`), { 'open-sandbox-api-key': key }, { rate: RATE }) },
    { kind: 'chunked', s: L.stream(gw, proto, h.portPath(sbx, 8080, `/chunked/${size}`), { 'open-sandbox-api-key': key }, { rate: RATE }) },
  ]);
  // A's streams would run for 10 s; B's for 3 s (SSE 30 x 100 ms, 30 MB at 10 MB/s)
  const doomed = open(sa.id, kA, 100, 100 * 1024 * 1024);
  const survivors = open(sb.id, kB, 30, 30 * 1024 * 1024);
  await Promise.race([Promise.all(doomed.concat(survivors).map((x) => x.s.started)), h.sleep(5000)]);
  await h.sleep(500);
  const killedAt = Date.now();
  await simA.kill('SIGKILL');
  const a = await Promise.all(doomed.map((x) => x.s.done));
  const b = await Promise.all(survivors.map((x) => x.s.done));
  for (const r of a.concat(b)) t.diagnostic(JSON.stringify(Object.assign({}, r, { endAt: undefined, afterKillMs: r.endAt - killedAt })));
  for (const r of a) {
    const what = `${r.proto} ${r.path} (killed backend)`;
    assert.equal(r.status, 200, what);
    assert.notEqual(r.error, 'client timeout (hang)', `${what}: hung`);
    assert.ok(r.endAt - killedAt < 5000, `${what}: the truncation reached the client ${r.endAt - killedAt} ms after the kill`);
    if (r.path.includes('/sse')) assert.ok(r.events > 0 && r.events < 100, `${what}: ${r.events} events`);
    else assert.ok(r.bytes > 0 && r.bytes < 100 * 1024 * 1024, `${what}: ${r.bytes} bytes`);
    assert.equal(r.firstBad, -1, `${what}: corrupted bytes`);
    if (r.proto === 'h2') {
      // the gateway resets the stream (RST_STREAM with an error code) rather than ending it with END_STREAM
      assert.ok(!r.ended && r.rstCode !== null && r.rstCode !== 0, `${what}: the HTTP/2 stream was not reset (ended ${r.ended}, rst ${r.rstCode})`);
    } else {
      assert.ok(!r.ended || r.aborted, `${what}: the truncated HTTP/1.1 response ended cleanly after ${r.bytes} bytes`);
    }
  }
  for (const r of b) {
    const what = `${r.proto} ${r.path} (other backend)`;
    assert.equal(r.status, 200, what);
    assert.equal(r.error, null, `${what}: ${r.error}`);
    assert.ok(r.ended && !r.aborted, `${what}: did not end cleanly`);
    if (r.path.includes('/sse')) assert.equal(r.events, 30, what);
    else { assert.equal(r.bytes, 30 * 1024 * 1024, what); assert.equal(r.firstBad, -1, what); }
  }
  // new streams of B still work; A is reported down
  const again = await L.stream(gw, 'h2', h.portPath(sb.id, 8080, '/sse?n=3&interval_ms=50'), { 'open-sandbox-api-key': kB }, { sse: true }).done;
  assert.equal(again.events, 3);
  await h.waitFor(async () => (await h.backendState(gw, 'doomed')) === 'down', { timeoutMs: 5000, what: 'the killed backend marked down' });
  await gw.stop();
}));
