'use strict';
// HTTP/2 floods (issue 11, section 3; docs/ARCHITECTURE.md "HTTP/2 floods"). Debian's libh2o 2.2.5
// predates the fixes for CVE-2019-9512/9515 (PING and SETTINGS floods: one queued ACK per frame, read
// or not) and CVE-2023-44487 (rapid reset); sandgate's runtime/h2guard.c adds them. A raw client
// (lib/h2raw.js) floods over TLS; meanwhile /health keeps answering, the gateway's RSS stays bounded
// and the flooding connection is closed. Clients that only look like floods are left alone: a
// download into a 2 GiB window by a client that stops reading and pings, and a client that cancels
// 40 % of its requests. Under ASan the RSS bound is reported, not asserted (redzones and quarantine).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http2 = require('node:http2');
const h = require('../lib/harness');
const R = require('../lib/h2raw');

const env = h.env();
const ASAN = h.isSanitizerBuild();
// The guard closes at 1 MiB of queued output, checked after each read; h2o reads until the socket is empty, so
// one read of a flood (up to the kernel's receive buffer) queues its ACKs before the check. With the TLS copy of
// what is in flight, runs peaked at 2.5-8.3 MiB of growth; without the guard at 4.8-17 MiB, by how long h2o went
// on reading. The bound is a sanity bound; the close (and its count) is what tells the guard worked.
const RSS_GROWTH_LIMIT_KIB = 16384;

test.after(() => env.cleanup());

let shared = null;
async function setup() {
  if (shared !== null) return shared;
  const sim = await env.sim({ name: 'h2-floods' });
  const sbx = await h.createSandbox(sim);
  const gw = await env.gateway({ https: true, backends: [h.backend(sim)], plugins: [], asanOptions: 'quarantine_size_mb=0:thread_local_quarantine_size_kb=0' });
  shared = { sim, sbx, gw };
  return shared;
}

async function floodCloses(gw, reason) {
  return h.metricValue(await h.metrics(gw), 'sandgate_http2_flood_closes_total', { reason });
}

async function healthOk(gw) {
  const r = await h.request(`${gw.httpsUrl}/health`);
  return r.status;
}

// Writes `one` in batches until the gateway closes the connection, `max` frames were written, or a
// write stays blocked for 3 s (the gateway stopped reading). Returns {sent, blocked}.
async function flood(c, one, max) {
  const batch = Buffer.concat(Array(1000).fill(one));
  let sent = 0;
  while (sent < max && !c.closed) {
    const ok = await Promise.race([c.write(batch), h.sleep(3000).then(() => 'blocked')]);
    if (ok === 'blocked') return { sent, blocked: true };
    if (ok !== true) break;
    sent += 1000;
  }
  return { sent, blocked: false };
}

for (const [name, one, max] of [
  ['PING', R.frame(R.TYPE.PING, 0, 0, Buffer.alloc(8)), 3000000],
  ['SETTINGS', R.frame(R.TYPE.SETTINGS, 0, 0), 6000000],
]) {
  // The gateway either closes the connection (its queued output passed 1 MiB after a read) or stops
  // reading it (h2o's own back-pressure, when a read left less than that queued): both bound it.
  test(`${name} flood from a client that never reads: the connection is closed or no longer read, RSS stays bounded, /health answers`, { timeout: 90000 }, env.wrap(async (t) => {
    const { gw } = await setup();
    const before = await floodCloses(gw, 'control_flood');
    const rss0 = h.rssKiB(gw.pid);
    const rss = h.sampleRss(gw.pid, 50);
    const c = await R.connect(gw.ports.https);
    c.pause();
    const { sent, blocked } = await flood(c, one, max);
    const closed = await c.waitClosed(blocked ? 0 : 5000);
    const { peak } = rss.stop();
    c.destroy();
    t.diagnostic(`${name}: ${sent} frames written; closed ${closed}, no longer read ${blocked}; RSS growth peak ${peak - rss0} KiB`);
    assert.ok(closed || blocked, `the gateway read all ${sent} frames of the ${name} flood and kept the connection`);
    assert.equal(await floodCloses(gw, 'control_flood'), before + (closed ? 1 : 0));
    if (!ASAN) assert.ok(peak - rss0 < RSS_GROWTH_LIMIT_KIB, `RSS grew by ${peak - rss0} KiB during the flood (limit ${RSS_GROWTH_LIMIT_KIB})`);
    assert.equal(await healthOk(gw), 200);
  }));
}

test('rapid reset (HEADERS then RST_STREAM, without end): the connection is closed after about 500 streams; the backend is spared', { timeout: 90000 }, env.wrap(async (t) => {
  const { gw, sbx } = await setup();
  const before = await floodCloses(gw, 'rapid_reset');
  const m0 = h.metricValue(await h.metrics(gw), 'sandgate_backend_requests_total', { backend: 'h2-floods' });
  const c = await R.connect(gw.ports.https);
  const block = R.headerBlock('GET', `/v1/sandboxes/${sbx}`, 'localhost');
  let sid = 1;
  let streams = 0;
  const t0 = Date.now();
  while (streams < 100000 && !c.closed && Date.now() - t0 < 30000) {
    const parts = [];
    for (let k = 0; k < 50; k++, sid += 2) parts.push(R.frame(R.TYPE.HEADERS, R.FLAG.END_STREAM | R.FLAG.END_HEADERS, sid, block), R.rstStream(sid, R.ERROR.CANCEL));
    if (!(await c.write(Buffer.concat(parts)))) break;
    streams += 50;
    if (streams % 1000 === 0) await h.sleep(1); // let the gateway's answer (GOAWAY, close) in
  }
  const closed = await c.waitClosed(5000);
  const m1 = h.metricValue(await h.metrics(gw), 'sandgate_backend_requests_total', { backend: 'h2-floods' });
  t.diagnostic(`rapid reset: ${streams} streams sent, closed ${closed}, GOAWAY ${c.goaway}, requests started ${m1 - m0}`);
  c.destroy();
  assert.ok(closed, `the gateway kept a rapid-reset connection open after ${streams} streams`);
  if (c.goaway !== null) assert.equal(c.goaway, R.ERROR.ENHANCE_YOUR_CALM);
  assert.equal(await floodCloses(gw, 'rapid_reset'), before + 1);
  assert.ok(m1 - m0 < 5000, `${m1 - m0} requests were started for the flood`);
  assert.equal(await healthOk(gw), 200);
}));

test('endless CONTINUATION frames: h2o ends the header block, the connection is closed, RSS stays bounded', { timeout: 60000 }, env.wrap(async (t) => {
  const { gw } = await setup();
  const rss0 = h.rssKiB(gw.pid);
  const c = await R.connect(gw.ports.https);
  await c.write(R.frame(R.TYPE.HEADERS, 0, 1, R.headerBlock('GET', '/health', 'localhost')));
  const junk = R.frame(R.TYPE.CONTINUATION, 0, 1, Buffer.concat(Array(100).fill(R.literal('x-junk', 'a'.repeat(100)))));
  let n = 0;
  while (n < 20000 && !c.closed) {
    const ok = await Promise.race([c.write(junk), h.sleep(3000).then(() => 'blocked')]);
    if (ok !== true) break;
    n++;
  }
  const closed = await c.waitClosed(5000);
  const grown = h.rssKiB(gw.pid) - rss0;
  c.destroy();
  t.diagnostic(`CONTINUATION: ${n} frames of 10 KB, closed ${closed}, GOAWAY ${c.goaway}, RSS growth ${grown} KiB`);
  assert.ok(closed);
  if (!ASAN) assert.ok(grown < RSS_GROWTH_LIMIT_KIB, `RSS grew by ${grown} KiB`);
  assert.equal(await healthOk(gw), 200);
}));

test('not floods: a 64 MiB download into a 2 GiB window while the client stops reading and pings; a client cancelling 40 % of 1 000 requests', { timeout: 90000 }, env.wrap(async (t) => {
  const { gw, sbx } = await setup();
  const flood0 = (await floodCloses(gw, 'control_flood')) + (await floodCloses(gw, 'rapid_reset'));
  // (a) the download: h2o queues response DATA only up to its soft limit, so output never reaches the guard's
  const SIZE = 64 * 1024 * 1024;
  const c = await R.connect(gw.ports.https);
  const settings = Buffer.alloc(6);
  settings.writeUInt16BE(4, 0); // SETTINGS_INITIAL_WINDOW_SIZE
  settings.writeUInt32BE(2 ** 31 - 1, 2);
  const wu = Buffer.alloc(4);
  wu.writeUInt32BE(2 ** 31 - 1 - 65535, 0);
  await c.write(Buffer.concat([R.frame(R.TYPE.SETTINGS, 0, 0, settings), R.frame(8, 0, 0, wu),
    R.frame(R.TYPE.HEADERS, R.FLAG.END_STREAM | R.FLAG.END_HEADERS, 1, R.headerBlock('GET', h.portPath(sbx, 8080, `/bytes/${SIZE}`), 'localhost'))]));
  await h.sleep(200);
  c.pause();
  for (let i = 0; i < 30; i++) { await h.sleep(100); c.socket.write(R.frame(R.TYPE.PING, 0, 0, Buffer.alloc(8))); }
  c.resume();
  await h.waitFor(() => c.bytesIn >= SIZE || c.closed, { timeoutMs: 20000, what: 'the download' });
  t.diagnostic(`download: ${c.bytesIn} bytes in, closed ${c.closed}`);
  assert.equal(c.closed, false, 'the gateway closed a slow download as a flood');
  assert.ok(c.bytesIn >= SIZE);
  c.destroy();
  // (b) cancels: 400 of 1 000 requests reset before their answer (10 at a time, the backend answers after 20 ms)
  await fetch(`${shared.sim.url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latencyMs: 20 }) });
  const session = http2.connect(gw.httpsUrl, { ca: fs.readFileSync(h.certs().ca) });
  let goaway = null;
  session.on('goaway', (code) => { goaway = code; });
  session.on('error', () => {});
  let ok = 0;
  let cancelled = 0;
  for (let i = 0; i < 1000; i += 10) {
    await Promise.all(Array.from({ length: 10 }, (_, k) => new Promise((resolve) => {
      const st = session.request({ ':path': `/v1/sandboxes/${sbx}` });
      st.on('response', (hd) => { if (hd[':status'] === 200) ok++; });
      st.on('error', () => {});
      st.on('close', resolve);
      st.resume();
      if (k < 4) setImmediate(() => { st.close(http2.constants.NGHTTP2_CANCEL); cancelled++; });
    })));
  }
  session.close();
  await fetch(`${shared.sim.url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latencyMs: 0 }) });
  t.diagnostic(`cancels: ${ok} answered 200, ${cancelled} cancelled, GOAWAY ${goaway}`);
  assert.equal(goaway, null);
  assert.equal(ok, 600);
  assert.equal((await floodCloses(gw, 'control_flood')) + (await floodCloses(gw, 'rapid_reset')), flood0);
}));
