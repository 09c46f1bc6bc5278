'use strict';
// Idle WebSockets (issue 11, section 3): 1 000 WebSockets, plain (ws) and over TLS (wss), through the gateway to the simulator's
// echo service (sandbox port 8080), held idle; sandgate's RSS per WebSocket (each is a client and an
// upstream connection in the gateway) stays under 16 KiB (ws; 24 KiB wss); every tenth still echoes
// after the idle period, and /health answers meanwhile. Under ASan the RSS figure is reported, not
// asserted (redzones and shadow memory are not what a deployment pays).
const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const h = require('../lib/harness');
const L = require('../lib/load');

const env = h.env();
const ASAN = h.isSanitizerBuild();
const N = 1000;
// ws: the target. wss adds OpenSSL's per-connection state (the SSL object, the record layer's cipher
// contexts both ways): 34 KiB per idle tunnel until the TLS contexts released idle record buffers
// (SSL_MODE_RELEASE_BUFFERS, config/tls.c), 18 KiB since.
const RSS_PER_WS_LIMIT_KIB = { ws: 16, wss: 24 };
const IDLE_MS = 3000;
const CA = require('node:fs').readFileSync(h.certs().ca);

test.after(() => env.cleanup());

function wsOpen(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: 10000, perMessageDeflate: false, ca: url.startsWith('wss:') ? CA : undefined });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => reject(new Error(`WebSocket upgrade refused: ${res.statusCode}`)));
  });
}

function echo(ws, text) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no echo within 10 s')), 10000);
    ws.once('message', (m) => { clearTimeout(t); resolve(m.toString()); });
    ws.send(text);
  });
}

for (const scheme of ['ws', 'wss']) {
test(`${N} idle WebSockets (${scheme}) through the gateway: RSS per WebSocket < ${RSS_PER_WS_LIMIT_KIB[scheme]} KiB, all still echo`, { timeout: 90000 }, env.wrap(async (t) => {
  const sim = await env.sim({ name: 'ws-idle' });
  const sbx = await h.createSandbox(sim);
  const gw = await env.gateway({
    https: scheme === 'wss', backends: [h.backend(sim)], plugins: [],
    asanOptions: 'quarantine_size_mb=0:thread_local_quarantine_size_kb=0',
  });
  const url = `${scheme}://127.0.0.1:${scheme === 'wss' ? gw.ports.https : gw.ports.http}${h.portPath(sbx, 8080, '/ws')}`;
  // warm up: a few tunnels opened, used and closed
  for (let i = 0; i < 20; i++) { const ws = await wsOpen(url); assert.equal(await echo(ws, `w${i}`), `w${i}`); ws.close(); }
  await h.sleep(500);
  const rss0 = h.rssKiB(gw.pid);
  const sockets = [];
  const t0 = Date.now();
  try {
    for (let i = 0; i < N; i += 100) {
      const batch = [];
      for (let k = i; k < Math.min(N, i + 100); k++) batch.push(wsOpen(url));
      sockets.push(...await Promise.all(batch));
    }
    const openMs = Date.now() - t0;
    await h.sleep(IDLE_MS);
    const rss1 = h.rssKiB(gw.pid);
    const health = await h.request(`${gw.httpUrl}/health`);
    assert.equal(health.status, 200);
    const open = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
    const sample = sockets.filter((_, i) => i % 10 === 0);
    const echoes = await Promise.all(sample.map((ws, i) => echo(ws, `idle-${i}`).then((m) => m === `idle-${i}`, () => false)));
    const perWs = (rss1 - rss0) / N;
    const m = await h.metrics(gw);
    t.diagnostic(`${scheme}: ${N} WebSockets opened in ${openMs} ms; RSS ${rss0} KiB before, ${rss1} KiB with them idle for ${IDLE_MS} ms: ` +
      `${perWs.toFixed(2)} KiB per WebSocket; ${open} open, ${echoes.filter(Boolean).length}/${sample.length} sampled echo; sandgate_websockets_total ${h.metricValue(m, 'sandgate_websockets_total')}`);
    assert.equal(open, N, `${N - open} WebSockets closed while idle`);
    assert.ok(echoes.every(Boolean), `${echoes.filter((x) => !x).length} sampled WebSockets did not echo after ${IDLE_MS} ms idle`);
    if (!ASAN) assert.ok(perWs < RSS_PER_WS_LIMIT_KIB[scheme], `${perWs.toFixed(2)} KiB RSS per idle WebSocket (target < ${RSS_PER_WS_LIMIT_KIB[scheme]})`);
  } finally {
    for (const ws of sockets) ws.terminate();
  }
  // the gateway survives the 1000 client-side aborts
  await h.sleep(1000);
  assert.equal((await h.request(`${gw.httpUrl}/health`)).status, 200);
  await gw.stop();
}));
}
