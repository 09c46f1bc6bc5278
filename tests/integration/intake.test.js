'use strict';
// Memory before authentication (issue 6, item 4): h2o reads a whole request body before any handler
// (and so key-auth) runs. Seen: 40 parallel unauthenticated 60 MB uploads to a port route took the
// release build to 1370 MiB RSS. The gateway's request intake (gateway/runtime/intake.c) refuses bodies
// without any credential as soon as their head is read (HTTP/1: a JSON 401 written by the gateway;
// HTTP/2: RST_STREAM) and charges every other body to limits.request_buffer_budget (128 MiB by
// default), pausing reads while it is used up.
//
// Bound: sandgate's VmRSS, sampled every 50 ms from /proc, stays under 256 MiB during each attack.
// Authenticated 60 MB uploads (sha256 checked by the sandbox's echo service) complete during and
// after the attacks.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http2 = require('node:http2');
const net = require('node:net');
const tls = require('node:tls');
const h = require('./lib/harness');
const T = require('./lib/tenancy');

const env = h.env();
const ctx = {};
const MB = 1000 * 1000;
const BODY = 60 * MB;
const ATTACKERS = 40;
const RSS_LIMIT_KIB = 256 * 1024;
const CHUNK = Buffer.alloc(1024 * 1024, 0x61);
const SINK = () => h.portPath(ctx.sbx, 8080, '/upload-sink');

test.before(async () => {
  ctx.sim = await env.sim({ name: 'sim-intake' });
  ctx.key = T.newKey('intake');
  // RSS under ASan would measure its quarantine, not the gateway's buffering (as in memory.test.js)
  ctx.gw = await T.startGateway({
    backends: [h.backend(ctx.sim)],
    tenants: [{ id: 'tenant-a', keys: [T.keyHash(ctx.key)], policy: { allow_manual_cleanup: true } }],
    asanOptions: 'quarantine_size_mb=0:thread_local_quarantine_size_kb=0',
  });
  env.gateways.push(ctx.gw);
  const A = T.client(ctx.gw.httpUrl, ctx.key);
  ctx.sbx = (await A.create({})).id;
  // the expected digest of BODY bytes of CHUNK's pattern
  const hash = crypto.createHash('sha256');
  for (let sent = 0; sent < BODY; sent += CHUNK.length) hash.update(CHUNK.subarray(0, Math.min(CHUNK.length, BODY - sent)));
  ctx.sha = hash.digest('hex');
}, { timeout: 60000 });

test.after(() => env.cleanup());

function sampleRss(pid) {
  let peak = h.rssKiB(pid) || 0;
  const timer = setInterval(() => { const v = h.rssKiB(pid); if (v !== null && v > peak) peak = v; }, 50);
  return { stop() { clearInterval(timer); const v = h.rssKiB(pid); return Math.max(peak, v || 0); } };
}

// One raw HTTP/1.1 upload of `size` bytes: writes as fast as the gateway reads and stops at the first
// response byte. Resolves {status, body, sent, closed} within deadlineMs (then the socket is destroyed).
function rawUpload(port, reqPath, headers, size, deadlineMs, useTls) {
  return new Promise((resolve) => {
    const sock = useTls ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost' })
      : net.connect({ host: '127.0.0.1', port });
    let sent = 0;
    let got = Buffer.alloc(0);
    let answered = false;
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const text = got.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      const sep = text.indexOf('\r\n\r\n');
      resolve({ status: m ? Number(m[1]) : 0, head: sep > 0 ? text.slice(0, sep) : text, body: sep > 0 ? text.slice(sep + 4) : '', sent, closed });
    };
    const timer = setTimeout(() => finish('deadline'), deadlineMs);
    const pump = () => {
      while (!answered && sent < size) {
        const n = Math.min(CHUNK.length, size - sent);
        sent += n;
        if (!sock.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) { sock.once('drain', pump); return; }
      }
    };
    sock.on(useTls ? 'secureConnect' : 'connect', () => {
      const lines = [`POST ${reqPath} HTTP/1.1`, `Host: 127.0.0.1:${port}`, `Content-Length: ${size}`, 'Content-Type: application/octet-stream'];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      sock.write(lines.join('\r\n') + '\r\n\r\n');
      pump();
    });
    sock.on('data', (c) => {
      answered = true;
      got = Buffer.concat([got, c]);
      const text = got.toString('latin1');
      const sep = text.indexOf('\r\n\r\n');
      const cl = /\r\ncontent-length: *(\d+)/i.exec(text);
      if (sep > 0 && cl && got.length >= sep + 4 + Number(cl[1])) finish(false);
    });
    sock.on('error', () => finish('error'));
    sock.on('close', () => finish('close'));
  });
}

// An authenticated upload through the gateway; resolves the echo service's {bytes, sha256} and the status.
async function authUpload(deadlineMs) {
  const r = await rawUpload(ctx.gw.ports.http, SINK(), { 'OPEN-SANDBOX-API-KEY': ctx.key }, BODY, deadlineMs);
  let json = null;
  try { json = JSON.parse(r.body); } catch (_) { /* not JSON */ }
  return Object.assign(r, { json });
}

function assertUploaded(r, what) {
  assert.equal(r.status, 200, `${what}: ${r.status} ${r.closed || ''} ${r.body.slice(0, 200)}`);
  assert.equal(r.json.bytes, BODY, what);
  assert.equal(r.json.sha256, ctx.sha, what);
}

async function scrape() {
  const m = await h.metrics(ctx.gw);
  return {
    refused1: h.metricValue(m, 'sandgate_unauthenticated_refusals_total', { protocol: 'http1' }),
    refused2: h.metricValue(m, 'sandgate_unauthenticated_refusals_total', { protocol: 'http2' }),
    pauses: h.metricValue(m, 'sandgate_request_buffer_pauses_total'),
    buffered: h.metricValue(m, 'sandgate_request_buffer_bytes'),
  };
}

test('HTTP/1.1: 40 unauthenticated 60 MB uploads keep RSS under 256 MiB; an authenticated upload during the attack completes', { timeout: 90000 }, env.wrap(async () => {
  const before = await scrape();
  const rss = sampleRss(ctx.gw.pid);
  const t0 = Date.now();
  const attack = [];
  for (let i = 0; i < ATTACKERS; i++) attack.push(rawUpload(ctx.gw.ports.http, `/sandboxes/x${i}/port/8080/upload-sink`, {}, BODY, 40000));
  const auth = authUpload(50000);
  const results = await Promise.all(attack);
  const authResult = await auth;
  const peak = rss.stop();
  console.log(`# HTTP/1.1 attack: peak RSS ${(peak / 1024).toFixed(0)} MiB, ${Date.now() - t0} ms, bytes sent per attacker (max) ${Math.max(...results.map((r) => r.sent))}`);
  assert.ok(peak < RSS_LIMIT_KIB, `peak RSS ${peak} KiB >= ${RSS_LIMIT_KIB} KiB`);
  for (const r of results) {
    assert.equal(r.status, 401, `attacker: ${r.status} ${r.closed || ''}`);
    assert.match(r.head, /content-type: application\/json/i);
    assert.equal(JSON.parse(r.body).code, 'MISSING_API_KEY');
    assert.match(r.head, /connection: close/i);
  }
  assertUploaded(authResult, 'authenticated upload during the attack');
  const after = await scrape();
  assert.ok(after.refused1 - before.refused1 >= ATTACKERS, `refusals metric ${before.refused1} -> ${after.refused1}`);
  // and once it is over: nothing stays charged, and a second upload works
  await h.waitFor(async () => (await scrape()).buffered === 0, { timeoutMs: 10000, what: 'sandgate_request_buffer_bytes 0' });
  assertUploaded(await authUpload(30000), 'authenticated upload after the attack');
}));

test('HTTP/2: 40 unauthenticated 60 MB upload streams keep RSS under 256 MiB; they are reset, an authenticated one completes', { timeout: 90000 }, env.wrap(async () => {
  const before = await scrape();
  const rss = sampleRss(ctx.gw.pid);
  const sessions = [];
  for (let i = 0; i < 4; i++) sessions.push(http2.connect(`http://127.0.0.1:${ctx.gw.ports.http}`));
  const stream = (session, headers, deadlineMs) => new Promise((resolve) => {
    const s = session.request(Object.assign({ ':method': 'POST', ':path': SINK(), 'content-length': String(BODY) }, headers));
    let status = 0;
    let body = '';
    let sent = 0;
    let done = false;
    const finish = (how) => { if (done) return; done = true; clearTimeout(timer); if (!s.destroyed) s.close(http2.constants.NGHTTP2_CANCEL); resolve({ status, body, sent, how, rst: s.rstCode }); };
    const timer = setTimeout(() => finish('deadline'), deadlineMs);
    const pump = () => {
      while (!done && sent < BODY) {
        const n = Math.min(CHUNK.length, BODY - sent);
        sent += n;
        const last = sent >= BODY;
        const ok = last ? (s.end(CHUNK.subarray(0, n)), true) : s.write(CHUNK.subarray(0, n));
        if (!ok) { s.once('drain', pump); return; }
      }
    };
    s.on('response', (hd) => { status = hd[':status']; });
    s.setEncoding('utf8');
    s.on('data', (c) => { body += c; });
    s.on('end', () => finish('end'));
    s.on('close', () => finish('close'));
    s.on('error', () => finish('error'));
    pump();
  });
  const attack = [];
  for (let i = 0; i < ATTACKERS; i++) attack.push(stream(sessions[i % sessions.length], {}, 40000));
  const authSession = http2.connect(`http://127.0.0.1:${ctx.gw.ports.http}`);
  const auth = stream(authSession, { 'open-sandbox-api-key': ctx.key }, 50000);
  const results = await Promise.all(attack);
  const authResult = await auth;
  const peak = rss.stop();
  for (const s of [...sessions, authSession]) s.destroy();
  console.log(`# HTTP/2 attack: peak RSS ${(peak / 1024).toFixed(0)} MiB, max bytes sent per stream ${Math.max(...results.map((r) => r.sent))}`);
  assert.ok(peak < RSS_LIMIT_KIB, `peak RSS ${peak} KiB >= ${RSS_LIMIT_KIB} KiB`);
  for (const r of results) {
    // reset before the body was read (REFUSED_STREAM), or answered 401 by key-auth if it got through whole
    assert.ok(r.rst === http2.constants.NGHTTP2_REFUSED_STREAM || r.status === 401, `attacker stream: ${r.status} rst=${r.rst} ${r.how}`);
  }
  assert.equal(authResult.status, 200, `authenticated h2 upload: ${authResult.status} ${authResult.how} rst=${authResult.rst} ${authResult.body.slice(0, 200)}`);
  const json = JSON.parse(authResult.body);
  assert.equal(json.bytes, BODY);
  assert.equal(json.sha256, ctx.sha);
  const after = await scrape();
  assert.ok(after.refused2 - before.refused2 >= 1, `h2 refusals metric ${before.refused2} -> ${after.refused2}`);
}));

test('a wrong key is judged after the body: 16 such 60 MB uploads wait for the budget, RSS stays under 256 MiB, all get 401', { timeout: 90000 }, env.wrap(async () => {
  const before = await scrape();
  const rss = sampleRss(ctx.gw.pid);
  const attack = [];
  for (let i = 0; i < 16; i++) attack.push(rawUpload(ctx.gw.ports.http, SINK(), { 'OPEN-SANDBOX-API-KEY': `wrong-${i}` }, BODY, 55000));
  const results = await Promise.all(attack);
  const peak = rss.stop();
  console.log(`# wrong-key uploads: peak RSS ${(peak / 1024).toFixed(0)} MiB`);
  assert.ok(peak < RSS_LIMIT_KIB, `peak RSS ${peak} KiB >= ${RSS_LIMIT_KIB} KiB`);
  for (const r of results) {
    assert.equal(r.status, 401, `wrong key: ${r.status} ${r.closed || ''}`);
    assert.equal(JSON.parse(r.body).code, 'INVALID_API_KEY');
  }
  const after = await scrape();
  assert.ok(after.pauses > before.pauses, `pauses metric ${before.pauses} -> ${after.pauses}`);
}));

test('over TLS the early 401 works too; the gateway exits cleanly with refused, waiting and half-sent requests open', { timeout: 60000 }, env.wrap(async () => {
  const attack = [];
  for (let i = 0; i < 8; i++) attack.push(rawUpload(ctx.gw.ports.https, SINK(), {}, BODY, 30000, true));
  for (const r of await Promise.all(attack)) {
    assert.equal(r.status, 401, `TLS attacker: ${r.status} ${r.closed || ''}`);
    assert.equal(JSON.parse(r.body).code, 'MISSING_API_KEY');
  }
  // left open at shutdown: a refused connection still sending, a wrong-key body in progress, a half-sent head
  const socks = [];
  const open = (lines, extra) => new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port: ctx.gw.ports.http }, () => { s.write(lines); if (extra) s.write(extra); resolve(); });
    s.on('error', () => {});
    socks.push(s);
  });
  await open(`POST ${SINK()} HTTP/1.1\r\nHost: x\r\nContent-Length: ${BODY}\r\n\r\n`, Buffer.alloc(2 * MB));
  await open(`POST ${SINK()} HTTP/1.1\r\nHost: x\r\nOPEN-SANDBOX-API-KEY: wrong\r\nContent-Length: ${BODY}\r\n\r\n`, Buffer.alloc(2 * MB));
  await open(`POST ${SINK()} HTTP/1.1\r\nHost: x\r\nContent-Le`);
  await new Promise((r) => setTimeout(r, 300));
  await ctx.gw.stop(20000); // exit code 0: under ASan, no leak and no memory error
  for (const s of socks) s.destroy();
}));
