'use strict';
// Echo / test service that every sandbox exposes on its port 8080.
//
//   ANY  /echo/...                 -> JSON {method, path, headers, rawHeaders, body, bodyBytes, bodySha256};
//                                     ?set_cookie=V (repeatable) adds Set-Cookie: V
//   GET  /bytes/{n}?chunk=65536    -> n bytes (byte i = i % 256), with Content-Length
//   GET  /chunked/{n}?chunk=65536  -> same bytes, Transfer-Encoding: chunked
//   GET  /sse?n=5&interval_ms=200  -> n SSE events, each flushed, spaced by interval
//   GET  /slow-headers?ms=N        -> waits N ms before sending the response head
//   POST /upload-sink              -> consumes the body, returns {bytes, sha256}
//   ANY  /status/{code}            -> answers with that status and a JSON body
//   GET  /ws (WebSocket upgrade)   -> echoes every text/binary message back

const crypto = require('node:crypto');
const { WebSocketServer } = require('ws');
const { sendJson, sendError, splitUrl } = require('./util');

const wss = new WebSocketServer({ noServer: true, maxPayload: 256 * 1024 * 1024 });

function pattern(offset, len) {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (offset + i) & 0xff;
  return b;
}

function intParam(q, name, def, max) {
  const v = q.get(name);
  if (v === null || v === '') return def;
  if (!/^\d+$/.test(v)) return NaN;
  const n = Number(v);
  return max !== undefined && n > max ? max : n;
}

// Writes n pattern bytes honouring back-pressure.
function streamBytes(res, n, chunk) {
  return new Promise((resolve) => {
    let sent = 0;
    const pump = () => {
      while (sent < n) {
        const len = Math.min(chunk, n - sent);
        const ok = res.write(pattern(sent, len));
        sent += len;
        if (!ok) { res.once('drain', pump); return; }
      }
      res.end();
      resolve();
    };
    res.on('close', resolve);
    pump();
  });
}

function rawHeaderPairs(req) {
  const out = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) out.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
  return out;
}

async function handle(req, res, rest) {
  const { path, query } = splitUrl(rest);
  const q = new URLSearchParams(query);
  const m = req.method;

  if (path === '/echo' || path.startsWith('/echo/')) {
    const chunks = [];
    const hash = crypto.createHash('sha256');
    for await (const c of req) { chunks.push(c); hash.update(c); }
    const buf = Buffer.concat(chunks);
    // ?set_cookie=V (repeatable): each V becomes a Set-Cookie line of the answer (a sandbox app's own cookies)
    const setCookies = q.getAll('set_cookie');
    sendJson(res, 200, {
      method: m,
      path: rest,
      headers: req.headers,
      rawHeaders: rawHeaderPairs(req),
      body: buf.toString('utf8'),
      bodyBytes: buf.length,
      bodySha256: hash.digest('hex'),
    }, setCookies.length > 0 ? { 'Set-Cookie': setCookies } : undefined);
    return;
  }

  let mm;
  if ((mm = /^\/(bytes|chunked)\/(\d+)$/.exec(path)) && (m === 'GET' || m === 'HEAD')) {
    req.resume();
    const n = Number(mm[2]);
    const chunk = intParam(q, 'chunk', 65536, 16 * 1024 * 1024);
    if (!Number.isFinite(n) || !(chunk > 0)) return sendError(res, 400, 'BAD_REQUEST', 'invalid n or chunk');
    const headers = { 'Content-Type': 'application/octet-stream' };
    if (mm[1] === 'bytes') headers['Content-Length'] = n;
    res.writeHead(200, headers);
    if (m === 'HEAD') { res.end(); return; }
    if (mm[1] === 'chunked') res.flushHeaders();
    await streamBytes(res, n, chunk);
    return;
  }

  if (path === '/sse' && m === 'GET') {
    req.resume();
    const n = intParam(q, 'n', 5, 1e6);
    const interval = intParam(q, 'interval_ms', 200, 600000);
    if (!Number.isFinite(n) || !Number.isFinite(interval)) return sendError(res, 400, 'BAD_REQUEST', 'invalid n or interval_ms');
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    let i = 0;
    let timer = null;
    const send = () => {
      if (res.destroyed) return;
      res.write(`id: ${i}\nevent: tick\ndata: ${JSON.stringify({ i, n, time: Date.now() })}\n\n`);
      i += 1;
      if (i >= n) { res.end(); return; }
      timer = setTimeout(send, interval);
    };
    res.on('close', () => clearTimeout(timer));
    if (n === 0) res.end(); else send();
    return;
  }

  if (path === '/slow-headers') {
    req.resume();
    const ms = intParam(q, 'ms', 1000, 600000);
    if (!Number.isFinite(ms)) return sendError(res, 400, 'BAD_REQUEST', 'invalid ms');
    await new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      res.on('close', () => { clearTimeout(t); resolve(); });
    });
    sendJson(res, 200, { delayedMs: ms });
    return;
  }

  if (path === '/upload-sink') {
    if (m !== 'POST' && m !== 'PUT') { req.resume(); return sendError(res, 405, 'METHOD_NOT_ALLOWED', 'use POST'); }
    const hash = crypto.createHash('sha256');
    let bytes = 0;
    for await (const c of req) { bytes += c.length; hash.update(c); }
    sendJson(res, 200, { bytes, sha256: hash.digest('hex') });
    return;
  }

  if ((mm = /^\/status\/(\d{3})$/.exec(path))) {
    req.resume();
    const code = Number(mm[1]);
    if (code < 200 || code === 204 || code === 304) { res.writeHead(code < 200 ? 400 : code); res.end(); return; }
    sendJson(res, code, { status: code });
    return;
  }

  if (path === '/ws') {
    req.resume();
    return sendError(res, 426, 'UPGRADE_REQUIRED', 'WebSocket upgrade required', { Upgrade: 'websocket' });
  }

  req.resume();
  sendError(res, 404, 'NOT_FOUND', `echo service: no route for ${m} ${path}`);
}

function isWebSocketPath(rest) {
  return splitUrl(rest).path === '/ws';
}

function handleUpgrade(req, socket, head) {
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data, isBinary) => {
      ws.send(data, { binary: isBinary });
    });
    ws.on('error', () => {});
  });
}

module.exports = { handle, isWebSocketPath, handleUpgrade, pattern };
