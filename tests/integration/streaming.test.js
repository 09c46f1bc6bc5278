'use strict';
// Streaming through the gateway: SSE arrives incrementally (HTTP/1.1 and HTTP/2), execd command
// output streams while the command runs, chunked responses, WebSocket tunnels (ws and wss).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const WebSocket = require('ws');
const h = require('./lib/harness');

const env = h.env();
let sim;
let gw;
let sbx;

test.before(async () => {
  sim = await env.sim({ name: 'sim-stream', args: ['--command-grace-ms', '200'] });
  sbx = await h.createSandbox(sim);
  gw = await env.gateway({ backends: [h.backend(sim)], plugins: [{ name: 'request-id' }] });
}, { timeout: 60000 });

test.after(() => env.cleanup());

const ca = () => fs.readFileSync(h.certs().ca);

// Parses SSE text into events ({id, event, data}) split on blank lines.
function sseEvents(text) {
  return text.split(/\n\n/).filter((b) => b.trim()).map((b) => {
    const ev = {};
    for (const line of b.split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) ev[line.slice(0, i)] = line.slice(i + 1).trim();
    }
    return ev;
  });
}

// GET over HTTP/1.1 recording when every complete SSE event arrived (ms since the request).
function sseOverHttp1(url, opts) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? require('node:https') : http;
    const req = mod.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, agent: false, ca: ca(),
      method: (opts && opts.method) || 'GET', headers: (opts && opts.headers) || {} }, (res) => {
      let buf = '';
      const arrivals = [];
      res.setEncoding('utf8');
      res.on('data', (c) => {
        buf += c;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          arrivals.push({ at: Date.now() - t0, text: buf.slice(0, i) });
          buf = buf.slice(i + 2);
        }
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, arrivals, rest: buf, total: Date.now() - t0 }));
      res.on('error', reject);
    });
    req.setTimeout(15000, () => req.destroy(new Error('SSE request timed out')));
    req.on('error', reject);
    req.end(opts && opts.body);
  });
}

test('SSE over HTTP/1.1 arrives incrementally (n=5, 300 ms apart)', { timeout: 20000 }, env.wrap(async () => {
  const r = await sseOverHttp1(`${gw.httpUrl}${h.portPath(sbx, 8080, '/sse?n=5&interval_ms=300')}`);
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /text\/event-stream/);
  assert.equal(r.arrivals.length, 5, JSON.stringify(r.arrivals));
  const evs = sseEvents(r.arrivals.map((a) => a.text).join('\n\n'));
  assert.deepEqual(evs.map((e) => JSON.parse(e.data).i), [0, 1, 2, 3, 4]);
  assert.ok(r.arrivals[0].at < 1000, `first event after ${r.arrivals[0].at} ms (must be < 1000)`);
  assert.ok(r.arrivals[4].at >= 1200, `last event after ${r.arrivals[4].at} ms (must be >= 1200)`);
  // events are spread out, not delivered in one burst at the end
  assert.ok(r.arrivals[4].at - r.arrivals[0].at >= 1000, `events spread over ${r.arrivals[4].at - r.arrivals[0].at} ms`);
}));

test('SSE over HTTPS HTTP/2 arrives incrementally', { timeout: 20000 }, env.wrap(async () => {
  const session = http2.connect(gw.httpsUrl, { ca: ca() });
  try {
    const r = await new Promise((resolve, reject) => {
      const t0 = Date.now();
      const st = session.request({ ':method': 'GET', ':path': h.portPath(sbx, 8080, '/sse?n=5&interval_ms=300') });
      let status;
      let buf = '';
      const arrivals = [];
      st.setEncoding('utf8');
      st.on('response', (hd) => { status = hd[':status']; });
      st.on('data', (c) => {
        buf += c;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) { arrivals.push(Date.now() - t0); buf = buf.slice(i + 2); }
      });
      st.on('end', () => resolve({ status, arrivals }));
      st.on('error', reject);
      st.setTimeout(15000, () => st.close(http2.constants.NGHTTP2_CANCEL));
      st.end();
    });
    assert.equal(r.status, 200);
    assert.equal(r.arrivals.length, 5);
    assert.ok(r.arrivals[0] < 1000, `first event after ${r.arrivals[0]} ms`);
    assert.ok(r.arrivals[4] >= 1200, `last event after ${r.arrivals[4]} ms`);
  } finally {
    session.close();
  }
}));

test('execd command output streams while the command runs', { timeout: 30000 }, env.wrap(async () => {
  const body = JSON.stringify({ command: 'for i in 1 2 3; do echo $i; sleep 0.5; done' });
  for (const form of ['port', 'v1proxy']) {
    const r = await sseOverHttp1(`${gw.httpUrl}${h.portPath(sbx, 44772, '/command', form)}`, {
      method: 'POST', body, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    });
    assert.equal(r.status, 200, `${form}: ${r.rest}`);
    const evs = r.arrivals.map((a) => {
      const text = a.text.replace(/^data: ?/m, '');
      return Object.assign(JSON.parse(text), { at: a.at });
    });
    const outs = evs.filter((e) => e.type === 'stdout');
    assert.deepEqual(outs.map((e) => e.text), ['1', '2', '3'], JSON.stringify(evs));
    const done = evs.find((e) => e.type === 'execution_complete');
    assert.ok(done, `no execution_complete event: ${JSON.stringify(evs)}`);
    assert.ok(evs[0].type === 'init' && evs[0].at < 800, `init event after ${evs[0].at} ms`);
    assert.ok(outs[0].at < 800, `first stdout after ${outs[0].at} ms (command runs ~1.5 s)`);
    assert.ok(outs[2].at - outs[0].at >= 700, `stdout lines spread over ${outs[2].at - outs[0].at} ms`);
    assert.ok(done.at >= 1000, `completion after ${done.at} ms`);
  }
}));

test('chunked responses pass through intact (1 MB, 64 KB and 1-byte chunks)', { timeout: 30000 }, env.wrap(async () => {
  for (const [n, chunk] of [[1 << 20, 65536], [4096, 1], [0, 1]]) {
    const r = await new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: gw.ports.http, path: h.portPath(sbx, 8080, `/chunked/${n}?chunk=${chunk}`), agent: false }, (res) => {
        const pc = h.patternChecker();
        res.on('data', (c) => pc.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, pc }));
        res.on('error', reject);
      });
      req.setTimeout(15000, () => req.destroy(new Error('chunked download timed out')));
      req.on('error', reject);
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], undefined, 'no Content-Length invented for a chunked upstream response');
    assert.equal(r.headers['transfer-encoding'], 'chunked');
    assert.equal(r.pc.bytes, n);
    assert.equal(r.pc.firstBad, -1, `pattern mismatch at byte ${r.pc.firstBad}`);
  }
  // and over HTTP/2
  const session = http2.connect(gw.httpsUrl, { ca: ca() });
  try {
    const r = await new Promise((resolve, reject) => {
      const st = session.request({ ':method': 'GET', ':path': h.portPath(sbx, 8080, '/chunked/3000000?chunk=10000') });
      const pc = h.patternChecker();
      let status;
      st.on('response', (hd) => { status = hd[':status']; });
      st.on('data', (c) => pc.push(c));
      st.on('end', () => resolve({ status, pc }));
      st.on('error', reject);
    });
    assert.equal(r.status, 200);
    assert.equal(r.pc.bytes, 3000000);
    assert.equal(r.pc.firstBad, -1);
  } finally {
    session.close();
  }
}));

function wsOpen(url, opts) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, Object.assign({ handshakeTimeout: 5000, maxPayload: 64 * 1024 * 1024 }, opts || {}));
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => reject(new Error(`WebSocket upgrade refused: ${res.statusCode}`)));
  });
}

function wsRoundTrip(ws, data, binary) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no WebSocket echo within 10 s')), 10000);
    ws.once('message', (msg, isBinary) => { clearTimeout(t); resolve({ msg, isBinary }); });
    ws.send(data, { binary });
  });
}

async function wsEchoChecks(url, opts) {
  const ws = await wsOpen(url, opts);
  try {
    const t = await wsRoundTrip(ws, 'hello through sandgate', false);
    assert.equal(t.isBinary, false);
    assert.equal(t.msg.toString(), 'hello through sandgate');
    const bin = Buffer.from([0, 1, 2, 255, 254, 0, 10, 13]);
    const b = await wsRoundTrip(ws, bin, true);
    assert.equal(b.isBinary, true);
    assert.deepEqual(Buffer.from(b.msg), bin);
    const big = require('node:crypto').randomBytes(1024 * 1024);
    const m = await wsRoundTrip(ws, big, true);
    assert.equal(m.msg.length, big.length);
    assert.ok(Buffer.from(m.msg).equals(big), '1 MB message echoed intact');
    // several messages in flight keep their order
    const got = [];
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${got.length}/50 messages echoed`)), 10000);
      ws.on('message', (msg) => { got.push(msg.toString()); if (got.length === 50) { clearTimeout(timer); resolve(); } });
      for (let i = 0; i < 50; i++) ws.send(`m${i}`);
    });
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => `m${i}`));
  } finally {
    ws.close();
  }
}

test('WebSocket echo through the gateway (ws://, text, binary, 1 MB)', { timeout: 30000 }, env.wrap(async () => {
  await wsEchoChecks(`ws://127.0.0.1:${gw.ports.http}${h.portPath(sbx, 8080, '/ws')}`);
  await wsEchoChecks(`ws://127.0.0.1:${gw.ports.http}${h.portPath(sbx, 8080, '/ws', 'v1proxy')}`);
}));

test('WebSocket echo over TLS (wss://, HTTP/1.1 upgrade)', { timeout: 30000 }, env.wrap(async () => {
  await wsEchoChecks(`wss://127.0.0.1:${gw.ports.https}${h.portPath(sbx, 8080, '/ws')}`, { ca: ca() });
}));

test('WebSocket to a path without a WebSocket endpoint is refused with a status, not hung', { timeout: 20000 }, env.wrap(async () => {
  const err = await wsOpen(`ws://127.0.0.1:${gw.ports.http}${h.portPath(sbx, 8080, '/echo/nows')}`).then((ws) => { ws.close(); return null; }, (e) => e);
  assert.ok(err, 'upgrade to a non-WebSocket path must not succeed');
  assert.match(err.message, /upgrade refused: 4\d\d|Unexpected server response/);
  // the gateway is fine afterwards
  const r = await h.request(`${gw.httpUrl}/health`);
  assert.equal(r.status, 200);
}));

test('sandgate exits 0 on SIGTERM', { timeout: 30000 }, env.wrap(async () => {
  await gw.stop();
}));
