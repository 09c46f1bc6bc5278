'use strict';
// The edge of the gateway (gateway/core/reqcheck.c, docs/SECURITY.md): request smuggling over HTTP/1.1
// (conflicting Content-Length, Content-Length with Transfer-Encoding, repeated Transfer-Encoding or
// Host, obsolete line folding, HTTP/1.1 without Host), request-line injection through HTTP/2
// pseudo-headers, methods that are not tokens, standard reason phrases, and backend answers the
// gateway must not relay as they are (a status outside 100-599, an HTML error on a lifecycle route).
// Raw sockets on the client side; on the upstream side, the simulator's request log and a raw TCP
// listener that records the exact bytes the gateway sends.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const net = require('node:net');
const h = require('./lib/harness');

const env = h.env();
let sim;
let gw;
let sbx;
let rawUpstream; // {port, heads: [Buffer]}: a listener that records what the gateway sends
let oddBackend; // an HTTP server answering what the test asks for, as a misbehaving backend would

// Starts a TCP listener that records every byte received per connection and answers each request
// head with a fixed 200 once its body (by Content-Length) has arrived.
function startRawUpstream() {
  return new Promise((resolve) => {
    const rec = { conns: [] };
    const srv = net.createServer((sock) => {
      let buf = Buffer.alloc(0);
      rec.conns.push(() => buf);
      sock.on('data', (c) => {
        buf = Buffer.concat([buf, c]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const m = /\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end).toString('latin1'));
        if (buf.length - end - 4 >= (m ? Number(m[1]) : 0)) {
          sock.end('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{"ok":true}');
        }
      });
      sock.on('error', () => {});
    });
    srv.listen(0, '127.0.0.1', () => { rec.port = srv.address().port; rec.close = () => srv.close(); resolve(rec); });
  });
}

function startOddBackend() {
  return new Promise((resolve) => {
    const o = { answer: null };
    const srv = net.createServer((sock) => {
      sock.on('data', () => { if (o.answer) sock.end(o.answer); });
      sock.on('error', () => {});
    });
    srv.listen(0, '127.0.0.1', () => { o.port = srv.address().port; o.close = () => srv.close(); resolve(o); });
  });
}

test.before(async () => {
  sim = await env.sim({ name: 'sim-f' });
  sbx = await h.createSandbox(sim);
  rawUpstream = await startRawUpstream();
  oddBackend = await startOddBackend();
  gw = await env.gateway({
    backends: [h.backend(sim)],
    plugins: [{ name: 'request-id' }],
  });
}, { timeout: 60000 });

test.after(async () => {
  await env.cleanup();
  rawUpstream.close();
  oddBackend.close();
});

// Writes bytes on a fresh connection; resolves {raw, closed} once the server closed it or after
// waitMs of silence (a keep-alive connection stays open).
function exchange(bytes, waitMs) {
  return new Promise((resolve, reject) => {
    const s = net.connect(gw.ports.http, '127.0.0.1');
    const chunks = [];
    let idle;
    const done = (closed) => { clearTimeout(idle); clearTimeout(hard); s.destroy(); resolve({ raw: Buffer.concat(chunks).toString('latin1'), closed }); };
    const hard = setTimeout(() => reject(new Error('exchange timed out')), 15000);
    s.on('connect', () => s.write(bytes));
    s.on('data', (c) => { chunks.push(c); clearTimeout(idle); idle = setTimeout(() => done(false), waitMs || 1500); });
    s.on('end', () => done(true));
    s.on('error', () => done(true));
  });
}

// Every "HTTP/1.1 NNN" status line in a raw exchange.
const statusLines = (raw) => raw.match(/HTTP\/1\.1 \d{3} [^\r]*/g) || [];

function bodyOf(raw) {
  const i = raw.indexOf('\r\n\r\n');
  const m = /\r\ncontent-length: *(\d+)/i.exec(raw.slice(0, i));
  return JSON.parse(raw.slice(i + 4, i + 4 + Number(m[1])));
}

async function simSaw(marker) {
  const log = await sim.requests('');
  return log.items.some((it) => JSON.stringify(it).includes(marker));
}

const target = () => h.portPath(sbx, 8080, '/echo/framing');

test('conflicting Content-Length headers: 400 JSON, the connection closes, the smuggled request never runs', { timeout: 30000 }, env.wrap(async () => {
  const smuggled = `GET ${h.portPath(sbx, 8080, '/echo/smuggled-cl')} HTTP/1.1\r\nHost: x\r\n\r\n`;
  for (const [first, second] of [[5, 5 + smuggled.length], [5 + smuggled.length, 5]]) {
    const req = `POST ${target()} HTTP/1.1\r\nHost: x\r\nContent-Length: ${first}\r\nContent-Length: ${second}\r\n\r\nhello${smuggled}`;
    const { raw, closed } = await exchange(req);
    assert.deepEqual(statusLines(raw), ['HTTP/1.1 400 Bad Request'], raw);
    assert.deepEqual(bodyOf(raw), { code: 'GATEWAY::BAD_FRAMING', message: 'conflicting Content-Length headers' });
    assert.match(raw, /\r\nconnection: close\r\n/i);
    assert.ok(closed, 'the connection stayed open after ambiguous framing');
  }
  assert.equal(await simSaw('smuggled-cl'), false, 'the smuggled request reached the upstream');
  assert.equal(await simSaw('/echo/framing'), false, 'the refused request reached the upstream');
  // identical duplicates are one value (RFC 9112 6.3) and keep working
  const ok = await exchange(`POST ${target()} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\ncontent-length: 5\r\nConnection: close\r\n\r\nhello`);
  assert.deepEqual(statusLines(ok.raw), ['HTTP/1.1 200 OK'], ok.raw);
  assert.equal(bodyOf(ok.raw).body, 'hello');
}));

test('Content-Length with Transfer-Encoding, repeated Transfer-Encoding: 400, connection closed', { timeout: 30000 }, env.wrap(async () => {
  const smuggled = `GET ${h.portPath(sbx, 8080, '/echo/smuggled-te')} HTTP/1.1\r\nHost: x\r\n\r\n`;
  const cases = [
    [`POST ${target()} HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`, 'both Transfer-Encoding and Content-Length'],
    [`POST ${target()} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${smuggled}`, 'both Transfer-Encoding and Content-Length'],
    [`POST ${target()} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`, 'more than one Transfer-Encoding header'],
  ];
  for (const [req, message] of cases) {
    const { raw, closed } = await exchange(req);
    assert.deepEqual(statusLines(raw), ['HTTP/1.1 400 Bad Request'], raw);
    assert.deepEqual(bodyOf(raw), { code: 'GATEWAY::BAD_FRAMING', message });
    assert.ok(closed, `the connection stayed open: ${message}`);
  }
  assert.equal(await simSaw('smuggled-te'), false, 'the smuggled request reached the upstream');
}));

test('Host: repeated, missing on HTTP/1.1, folded headers: 400 JSON', { timeout: 30000 }, env.wrap(async () => {
  const cases = [
    [`GET ${target()} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`, 'more than one Host header'],
    [`GET ${target()} HTTP/1.1\r\nX-A: 1\r\n\r\n`, 'an HTTP/1.1 request without a Host header'],
    [`GET ${target()} HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n`, 'obsolete line folding in a header'],
  ];
  for (const [req, message] of cases) {
    const { raw } = await exchange(req);
    assert.deepEqual(statusLines(raw), ['HTTP/1.1 400 Bad Request'], raw);
    assert.deepEqual(bodyOf(raw), { code: 'GATEWAY::BAD_FRAMING', message });
  }
  // HTTP/1.0 may omit Host
  const ok = await exchange(`GET ${target()} HTTP/1.0\r\n\r\n`);
  assert.deepEqual(statusLines(ok.raw).map((l) => l.slice(9, 12)), ['200'], ok.raw);
}));

test('the gateway never sends both Content-Length and Transfer-Encoding upstream', { timeout: 30000 }, env.wrap(async () => {
  const up = await env.gateway({ backends: [{ name: 'raw', url: `http://127.0.0.1:${rawUpstream.port}`, api_key: 'k' }], health_check: { interval: '1h' } });
  const port = up.ports.http;
  const send = (bytes) => new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.on('connect', () => s.write(bytes));
    s.on('data', (c) => { out += c; });
    s.on('end', () => resolve(out));
    s.on('error', reject);
    setTimeout(() => { s.destroy(); resolve(out); }, 5000);
  });
  const before = rawUpstream.conns.length;
  const r1 = await send('POST /v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
  const r2 = await send('POST /v1/y HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc');
  assert.match(r1, /^HTTP\/1\.1 200 OK/);
  assert.match(r2, /^HTTP\/1\.1 200 OK/);
  const sent = rawUpstream.conns.slice(before).map((f) => f().toString('latin1'));
  const find = (p) => sent.find((s) => s.startsWith(`POST ${p} `));
  for (const [p, body] of [['/v1/x', 'hello world'], ['/v1/y', 'abc']]) {
    const s = find(p);
    assert.ok(s, `the upstream never saw ${p}: ${JSON.stringify(sent)}`);
    const head = s.slice(0, s.indexOf('\r\n\r\n'));
    assert.equal((head.match(/\r\ncontent-length:/gi) || []).length, 1, head);
    assert.doesNotMatch(head, /\r\ntransfer-encoding:/i);
    assert.equal(s.slice(s.indexOf('\r\n\r\n') + 4), body);
  }
  await up.stop();
}));

test('HTTP/2: a :path with a space or a non-token :method is refused before any upstream request', { timeout: 30000 }, env.wrap(async () => {
  const session = http2.connect(gw.httpsUrl, { ca: fs.readFileSync(h.certs().ca) });
  session.on('error', () => {});
  const send = (headers) => new Promise((resolve, reject) => {
    const st = session.request(headers);
    const chunks = [];
    let hd;
    st.on('response', (x) => { hd = x; });
    st.on('data', (c) => chunks.push(c));
    st.on('end', () => resolve({ status: hd && hd[':status'], json: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    st.on('error', reject);
    st.end();
  });
  try {
    const inj = await send({ ':method': 'GET', ':path': `/v1/sandboxes/${sbx}?x=1 HTTP/1.0` });
    assert.equal(inj.status, 400);
    assert.equal(inj.json.code, 'GATEWAY::INVALID_PATH');
    const tab = await send({ ':method': 'GET', ':path': `${target()}\tX` });
    assert.equal(tab.status, 400);
    const hash = await send({ ':method': 'GET', ':path': `${target()}#frag` });
    assert.equal(hash.status, 400);
    const m = await send({ ':method': 'GET /x', ':path': target() });
    assert.equal(m.status, 400);
    assert.equal(m.json.code, 'GATEWAY::BAD_REQUEST');
    // a header value with CR LF would split the upstream head: h2o refuses it, the filter makes it JSON
    const crlf = await send({ ':method': 'GET', ':path': target(), 'x-inj': 'a\r\nx-smuggled: 1' });
    assert.equal(crlf.status, 400);
    assert.equal(crlf.json.code, 'GATEWAY::BAD_REQUEST');
    const ok = await send({ ':method': 'GET', ':path': target() });
    assert.equal(ok.status, 200);
  } finally {
    session.close();
  }
  assert.equal(await simSaw('HTTP/1.0'), false, 'the injected request line reached the upstream');
  assert.equal(await simSaw('x-smuggled'), false, 'an injected header reached the upstream');
}));

test('/health answers GET and HEAD only; gateway errors carry standard reason phrases', { timeout: 30000 }, env.wrap(async () => {
  const foo = await exchange('FOO /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.deepEqual(statusLines(foo.raw), ['HTTP/1.1 405 Method Not Allowed'], foo.raw);
  assert.match(foo.raw, /\r\nallow: GET, HEAD\r\n/i);
  assert.equal(bodyOf(foo.raw).code, 'GATEWAY::METHOD_NOT_ALLOWED');
  const nf = await exchange('GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.deepEqual(statusLines(nf.raw), ['HTTP/1.1 404 Not Found'], nf.raw);
}));

test('a backend status outside 100-599 is a 502; a backend HTML error on a lifecycle route becomes JSON', { timeout: 30000 }, env.wrap(async () => {
  const odd = await env.gateway({ backends: [{ name: 'odd', url: `http://127.0.0.1:${oddBackend.port}`, api_key: 'k' }], health_check: { interval: '1h', unhealthy_threshold: 100 } });
  oddBackend.answer = 'HTTP/1.1 600 Weird\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok';
  let r = await h.request(`${odd.httpUrl}/v1/sandboxes`);
  assert.equal(r.status, 502, r.text);
  assert.equal(r.json.code, 'GATEWAY::BAD_GATEWAY');
  oddBackend.answer = 'HTTP/1.1 099 Low\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok';
  r = await h.request(`${odd.httpUrl}/v1/sandboxes`);
  assert.equal(r.status, 502, r.text);
  const html = '<html><body>upstream broke</body></html>';
  oddBackend.answer = `HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: ${html.length}\r\nConnection: close\r\n\r\n${html}`;
  r = await h.request(`${odd.httpUrl}/v1/sandboxes`);
  assert.equal(r.status, 500, r.text);
  assert.match(r.headers['content-type'], /^application\/json/);
  assert.deepEqual(r.json, { code: 'GATEWAY::BACKEND_ERROR', message: 'the backend answered 500 Internal Server Error without a JSON error body' });
  // a JSON error of the backend is relayed as it is
  const body = '{"code":"SANDBOX::X","message":"m"}';
  oddBackend.answer = `HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
  r = await h.request(`${odd.httpUrl}/v1/sandboxes`);
  assert.equal(r.status, 409);
  assert.equal(r.text, body);
  await odd.stop();
}));

test('sandgate exits 0 on SIGTERM', { timeout: 30000 }, env.wrap(async () => {
  await gw.stop();
}));
