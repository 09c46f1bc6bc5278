'use strict';
// Load and abuse helpers for the integration tests (tests/integration/abuse/): idle and slowloris
// TCP clients, a /health latency probe, a keep-alive load loop, percentiles. Builds on ./harness.
// Everything binds 127.0.0.1; every client here is bounded in time and count and closed by close().

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const net = require('node:net');
const { Worker } = require('node:worker_threads');
const h = require('./harness');

// p-th percentile (0..100) of a list of numbers, nearest rank; null when empty.
function percentile(values, p) {
  if (values.length === 0) return null;
  const s = values.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

// Opens n TCP connections to port that never send a byte. Resolves {sockets, closedByPeer(), close()}
// once all are connected (rejects after timeoutMs). closedAt[i] = ms after the open when the peer closed.
async function idleConnections(port, n, opts) {
  const o = Object.assign({ timeoutMs: 20000, batch: 200 }, opts || {});
  const sockets = [];
  const closedAt = [];
  const deadline = Date.now() + o.timeoutMs;
  for (let i = 0; i < n; i += o.batch) {
    const batch = [];
    for (let k = i; k < Math.min(n, i + o.batch); k++) {
      batch.push(new Promise((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1');
        const t0 = Date.now();
        s.once('connect', () => resolve(s));
        s.on('error', (e) => { if (!s.connecting) return; reject(new Error(`idle connection ${k}: ${e.message}`)); });
        s.on('data', () => {});
        s.once('close', () => { closedAt[k] = Date.now() - t0; });
        s.setTimeout(Math.max(1, deadline - Date.now()), () => { if (s.connecting) { s.destroy(); reject(new Error(`idle connection ${k}: connect timed out`)); } });
        sockets[k] = s;
      }));
    }
    await Promise.all(batch);
  }
  for (const s of sockets) s.setTimeout(0);
  return {
    sockets,
    closedAt,
    closedByPeer: () => closedAt.filter((x) => x !== undefined).length,
    close() { for (const s of sockets) s.destroy(); },
  };
}

// n slowloris clients: each sends `head` (an incomplete request head) one byte every intervalMs,
// for at most durationMs, and never finishes the head. Resolves when all are connected; done
// resolves once every client has stopped (closed by the peer or by us at durationMs) with, per
// client, {sent, closedByPeerMs, gotBytes}.
async function slowloris(port, n, opts) {
  const o = Object.assign({ intervalMs: 1000, durationMs: 10000, head: 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ' }, opts || {});
  const clients = [];
  const opened = [];
  for (let i = 0; i < n; i++) {
    opened.push(new Promise((resolve, reject) => {
      const c = { sent: 0, closedByPeerMs: null, gotBytes: 0, stoppedByUs: false };
      clients.push(c);
      const s = net.connect(port, '127.0.0.1');
      let timer = null;
      let stop = null;
      c.done = new Promise((r) => { c.finish = r; });
      s.on('data', (d) => { c.gotBytes += d.length; });
      s.on('error', (e) => { if (s.connecting) reject(new Error(`slowloris ${i}: ${e.message}`)); });
      s.once('close', () => {
        clearInterval(timer);
        clearTimeout(stop);
        if (!c.stoppedByUs) c.closedByPeerMs = Date.now() - c.t0;
        c.finish(c);
      });
      s.once('connect', () => {
        c.t0 = Date.now();
        const bytes = Buffer.from(o.head + 'x'.repeat(1 << 16));
        // the first byte at once, then one per interval, phase-shifted per client
        const send = () => { if (!s.destroyed && c.sent < bytes.length) { s.write(bytes.subarray(c.sent, c.sent + 1)); c.sent += 1; } };
        send();
        setTimeout(() => { send(); timer = setInterval(send, o.intervalMs); }, (i * 37) % o.intervalMs);
        stop = setTimeout(() => { c.stoppedByUs = true; s.destroy(); }, o.durationMs);
        c.socket = s;
        resolve();
      });
    }));
  }
  await Promise.all(opened);
  return {
    clients,
    done: Promise.all(clients.map((c) => c.done)),
    close() { for (const c of clients) { c.stoppedByUs = true; if (c.socket) c.socket.destroy(); } },
  };
}

// Requests url every intervalMs, alternating a kept-alive connection and a new one, until stop().
// Runs in a worker thread so that the load this process generates (thousands of sockets and
// timers) does not delay the probe's own event loop. stop() resolves {keepalive: [ms...],
// fresh: [ms...], slow: [{at, ms, keep}...] (probes over slowMs, at = ms since start), errors}.
// A probe slower than timeoutMs counts as an error.
function latencyProbe(url, opts) {
  const o = Object.assign({ intervalMs: 20, timeoutMs: 5000, expect: 200, slowMs: 20 }, opts || {});
  const worker = new Worker(PROBE_SOURCE, { eval: true, workerData: { url, o } });
  const result = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`latency probe worker exited (${code}) without a result`)));
  });
  return {
    async stop() {
      worker.postMessage('stop');
      const r = await Promise.race([result, h.sleep(o.timeoutMs + 2000).then(() => null)]);
      await worker.terminate();
      if (!r) throw new Error('latency probe did not stop');
      return r;
    },
  };
}

const PROBE_SOURCE = `
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const { parentPort, workerData } = require('node:worker_threads');
const { url, o } = workerData;
const u = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const out = { keepalive: [], fresh: [], slow: [], errors: [] };
let running = true;
parentPort.on('message', () => { running = false; });
const start = Date.now();
const one = (keep) => new Promise((resolve) => {
  const t0 = process.hrtime.bigint();
  const req = http.get({ host: u.hostname, port: u.port, path: u.pathname, agent: keep ? agent : false }, (res) => {
    res.on('data', () => {});
    res.on('end', () => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (res.statusCode !== o.expect) out.errors.push('status ' + res.statusCode);
      else (keep ? out.keepalive : out.fresh).push(ms);
      if (ms > o.slowMs) out.slow.push({ at: Date.now() - start, ms: Math.round(ms), keep });
      resolve();
    });
  });
  req.setTimeout(o.timeoutMs, () => req.destroy(new Error('probe timed out')));
  req.on('error', (e) => { out.errors.push(e.message); resolve(); });
});
(async () => {
  let n = 0;
  while (running) {
    await one(n++ % 2 === 0);
    await new Promise((r) => setTimeout(r, o.intervalMs));
  }
  agent.destroy();
  parentPort.postMessage(out);
})();
`;

// A summary line of latencies (ms).
function latencySummary(values) {
  const f = (x) => (x === null ? 'n/a' : x.toFixed(1));
  return `n=${values.length} p50=${f(percentile(values, 50))} p99=${f(percentile(values, 99))} max=${f(values.length ? Math.max(...values) : null)} ms`;
}

// Keep-alive load: `connections` loops, each sending GET url back to back over its own kept-alive
// connection, until durationMs has passed (or stop()). Resolves {ok, non2xx, errors, statuses,
// errorSamples}. Any non-2xx answer and any connection error is counted.
function keepAliveLoad(url, opts) {
  const o = Object.assign({ connections: 32, durationMs: 10000, timeoutMs: 10000 }, opts || {});
  const u = new URL(url);
  const out = { ok: 0, non2xx: 0, errors: 0, statuses: {}, errorSamples: [] };
  const end = Date.now() + o.durationMs;
  let stopped = false;
  const one = (agent) => new Promise((resolve) => {
    const req = http.get({ host: u.hostname, port: u.port, path: u.pathname + u.search, agent }, (res) => {
      res.on('data', () => {});
      res.on('end', () => {
        out.statuses[res.statusCode] = (out.statuses[res.statusCode] || 0) + 1;
        if (res.statusCode >= 200 && res.statusCode < 300) out.ok += 1; else out.non2xx += 1;
        resolve();
      });
      res.on('error', (e) => { out.errors += 1; if (out.errorSamples.length < 10) out.errorSamples.push(`response: ${e.code || e.message}`); resolve(); });
    });
    req.setTimeout(o.timeoutMs, () => req.destroy(new Error('request timed out')));
    req.on('error', (e) => { out.errors += 1; if (out.errorSamples.length < 10) out.errorSamples.push(e.code || e.message); resolve(); });
  });
  const loops = [];
  const agents = [];
  for (let i = 0; i < o.connections; i++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    loops.push((async () => { while (!stopped && Date.now() < end) await one(agent); })());
  }
  const done = Promise.all(loops).then(() => { for (const a of agents) a.destroy(); return out; });
  return { done, stop() { stopped = true; return done; }, stats: out };
}

// One streaming request through the gateway: HTTP/1.1 (plain) or HTTP/2 (TLS), optionally read at
// `rate` bytes/s (only the first `rateBytes` bytes when given; timeoutMs: 20 s). Counts SSE events ("\n\n") or checks the simulator's byte pattern. `started`
// resolves at the first byte; `done` with what the client saw.
function stream(gw, proto, reqPath, headers, opts) {
  const o = opts || {};
  let started;
  const startedP = new Promise((r) => { started = r; });
  const out = { proto, path: reqPath, status: null, bytes: 0, events: 0, ended: false, aborted: false, error: null, rstCode: null, firstBad: -1 };
  const pc = h.patternChecker();
  let text = '';
  const t0 = Date.now();
  const onData = (src, c) => {
    started();
    if (o.sse) { text += c.toString('latin1'); let i; while ((i = text.indexOf('\n\n')) >= 0) { out.events += 1; text = text.slice(i + 2); } } else pc.push(c);
    out.bytes += c.length;
    if (o.rate && !(o.rateBytes && out.bytes >= o.rateBytes)) {
      const due = (out.bytes / o.rate) * 1000 - (Date.now() - t0);
      if (due > 5) { src.pause(); setTimeout(() => src.resume(), due); }
    }
  };
  const done = new Promise((resolve) => {
    const finish = () => { started(); out.firstBad = pc.firstBad; out.ms = Date.now() - t0; out.endAt = Date.now(); resolve(out); };
    if (proto === 'h2') {
      const session = http2.connect(gw.httpsUrl, { ca: fs.readFileSync(h.certs().ca) });
      session.on('error', () => {});
      const st = session.request(Object.assign({ ':method': 'GET', ':path': reqPath }, headers));
      st.on('response', (hd) => { out.status = hd[':status']; out.contentLength = hd['content-length']; });
      session.on('close', () => { out.bufferedAtSessionClose = st.readableLength; out.streamEndedByPeer = st.readableEnded; });
      session.on('goaway', (code) => { out.goaway = code; });
      st.on('data', (c) => onData(st, c));
      st.on('end', () => { out.ended = true; });
      st.on('error', (e) => { out.error = e.code || e.message; });
      st.on('close', () => { out.rstCode = st.rstCode; session.close(); finish(); });
      st.setTimeout(o.timeoutMs || 20000, () => { out.error = 'client timeout (hang)'; st.close(http2.constants.NGHTTP2_CANCEL); });
      return;
    }
    const req = http.get({ host: '127.0.0.1', port: gw.ports.http, path: reqPath, headers, agent: false }, (res) => {
      out.status = res.statusCode;
      out.contentLength = res.headers['content-length'];
      res.on('data', (c) => onData(res, c));
      res.on('aborted', () => { out.aborted = true; });
      res.on('end', () => { out.ended = true; });
      res.on('error', (e) => { out.error = e.code || e.message; });
      res.on('close', finish);
    });
    req.on('error', (e) => { out.error = e.code || e.message; finish(); });
    req.setTimeout(o.timeoutMs || 20000, () => req.destroy(new Error('client timeout (hang)')));
  });
  return { started: startedP, done };
}

// wrk's path, or null when it is not installed.
function wrkPath() {
  const r = spawnSync('which', ['wrk'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

// Runs wrk (bounded: killed 20 s after its duration) and parses its summary: {requests, non2xx3xx,
// socketErrors: {connect, read, write, timeout}, rps, p50Ms, p99Ms, raw}.
function runWrk(url, opts) {
  const o = Object.assign({ threads: 1, connections: 32, durationS: 10 }, opts || {});
  return new Promise((resolve, reject) => {
    const p = spawn(wrkPath() || 'wrk', ['-t', String(o.threads), '-c', String(o.connections), '-d', `${o.durationS}s`, '--latency', '--timeout', '5s', url],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c) => { out += c; });
    p.stderr.on('data', (c) => { out += c; });
    const kill = setTimeout(() => p.kill('SIGKILL'), (o.durationS + 20) * 1000);
    p.on('error', reject);
    p.on('exit', (code) => {
      clearTimeout(kill);
      if (code !== 0) { reject(new Error(`wrk exited ${code}: ${out}`)); return; }
      const num = (re) => { const m = re.exec(out); return m ? Number(m[1]) : 0; };
      const ms = (re) => { const m = re.exec(out); if (!m) return null; const v = Number(m[1]); return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v; };
      const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      resolve({
        requests: num(/(\d+) requests in/),
        non2xx3xx: num(/Non-2xx or 3xx responses: (\d+)/),
        socketErrors: se ? { connect: +se[1], read: +se[2], write: +se[3], timeout: +se[4] } : { connect: 0, read: 0, write: 0, timeout: 0 },
        rps: num(/Requests\/sec:\s+([\d.]+)/),
        p50Ms: ms(/ 50%\s+([\d.]+)(us|ms|s)/),
        p99Ms: ms(/ 99%\s+([\d.]+)(us|ms|s)/),
        raw: out,
      });
    });
  });
}

module.exports = { percentile, idleConnections, slowloris, latencyProbe, latencySummary, keepAliveLoad, wrkPath, runWrk, stream };
