'use strict';
// Echo service (sandbox port 8080), sandbox listeners, server proxy and WebSocket.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const crypto = require('node:crypto');
const WebSocket = require('ws');
const { startSimulator, loadSpecs, httpCall, waitFor } = require('../simulator/testkit');

const specs = loadSpecs();
let simA; // defaults
let simB; // endpoint header, refuse when paused, direct 8080, proxy auth none, real proxy prefix
let a;
let b;

async function newSandbox(sim) {
  const c = await httpCall(sim.base + '/v1/sandboxes', {
    method: 'POST', headers: sim.headers(), json: { image: { uri: 'x' }, entrypoint: ['x'], resourceLimits: {} },
  });
  assert.equal(c.status, 202);
  await waitFor(async () => (await httpCall(`${sim.base}/v1/sandboxes/${c.json.id}`, { headers: sim.headers() })).json.status.state === 'Running');
  const ep = async (port, q) => {
    const r = await httpCall(`${sim.base}/v1/sandboxes/${c.json.id}/endpoints/${port}${q || ''}`, { headers: sim.headers() });
    assert.deepEqual(specs.lifecycle.check('GET', '/sandboxes/{sandboxId}/endpoints/{port}', r), []);
    return r.json;
  };
  return { id: c.json.id, ep8080: await ep(8080), ep44772: await ep(44772), proxy8080: await ep(8080, '?use_server_proxy=true'), ep };
}

// Raw HTTP request that keeps the request-target byte-exact.
function raw(hostport, path, opts = {}) {
  const [host, port] = hostport.split(':');
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const req = http.request({ host, port: Number(port), path, method: opts.method || 'GET', headers: opts.headers || {} }, (res) => {
      const chunks = [];
      let first = null;
      res.on('data', (c) => { if (first === null) first = Date.now() - t0; chunks.push(c); });
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        let json;
        try { json = JSON.parse(buf.toString()); } catch (_) { /* not json */ }
        resolve({ status: res.statusCode, headers: res.headers, buf, json, headersAt: t0, ms: Date.now() - t0, firstByteMs: first });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

function hp(endpoint) { return endpoint.split('/')[0]; }
function prefix(endpoint) { const i = endpoint.indexOf('/'); return i < 0 ? '' : endpoint.slice(i); }

test.before(async () => {
  simA = await startSimulator(['--ready-delay-ms', '30', '--transition-delay-ms', '30'], { name: 'echoA' });
  simB = await startSimulator(['--ready-delay-ms', '30', '--transition-delay-ms', '30', '--endpoint-header', 'X-Sandbox-Token=tok',
    '--paused-behavior', 'refuse', '--direct-8080', '--proxy-auth', 'none', '--server-proxy-prefix', '', '--public-host', 'gw.example:9999'],
  { name: 'echoB' });
  a = await newSandbox(simA);
  b = await newSandbox(simB);
});
test.after(async () => { await Promise.all([simA && simA.stop(), simB && simB.stop()]); });

test('echo reports method, byte-exact path, headers and body', { timeout: 10000 }, async () => {
  const path = '/proxy/8080/echo/a%2F%20b/../c//d?x=%41&y=&z=%zz#no';
  const r = await raw(hp(a.ep8080.endpoint), path.replace('#no', ''), { method: 'PUT', headers: { 'X-Test': 'one', 'Content-Type': 'text/plain' }, body: 'héllo' });
  assert.equal(r.status, 200);
  assert.equal(r.json.method, 'PUT');
  assert.equal(r.json.path, '/echo/a%2F%20b/../c//d?x=%41&y=&z=%zz');
  assert.equal(r.json.headers['x-test'], 'one');
  assert.ok(r.json.rawHeaders.some(([k, v]) => k === 'X-Test' && v === 'one'));
  assert.equal(r.json.body, 'héllo');
  assert.equal(r.json.bodyBytes, Buffer.byteLength('héllo'));
  const r2 = await raw(hp(a.ep8080.endpoint), '/proxy/8080/nope');
  assert.equal(r2.status, 404);
  const r3 = await raw(hp(a.ep8080.endpoint), '/proxy/9999/anything');
  assert.equal(r3.status, 502);
  assert.equal(r3.json.code, 'BAD_GATEWAY');
  // The sandbox host port is the execd port: execd also answers at the root.
  assert.equal((await raw(hp(a.ep44772.endpoint), '/ping')).status, 200);
});

test('echo ?set_cookie=V answers one Set-Cookie line per value (a sandbox app setting its own cookies)', { timeout: 10000 }, async () => {
  const r = await raw(hp(a.ep8080.endpoint), '/proxy/8080/echo/c?set_cookie=app%3D1%3B%20Path%3D%2F&set_cookie=b%3D2');
  assert.equal(r.status, 200);
  assert.deepEqual(r.headers['set-cookie'], ['app=1; Path=/', 'b=2']);
  assert.equal(r.json.path, '/echo/c?set_cookie=app%3D1%3B%20Path%3D%2F&set_cookie=b%3D2');
  const none = await raw(hp(a.ep8080.endpoint), '/proxy/8080/echo/c');
  assert.equal(none.headers['set-cookie'], undefined);
});

test('bytes and chunked downloads', { timeout: 15000 }, async () => {
  const n = 3 * 1024 * 1024 + 7;
  let r = await raw(hp(a.ep8080.endpoint), `/proxy/8080/bytes/${n}?chunk=100000`);
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], String(n));
  assert.equal(r.buf.length, n);
  for (let i = 0; i < n; i += 99991) assert.equal(r.buf[i], i % 256);
  r = await raw(hp(a.ep8080.endpoint), `/proxy/8080/chunked/${n}`);
  assert.equal(r.headers['transfer-encoding'], 'chunked');
  assert.equal(r.headers['content-length'], undefined);
  assert.equal(r.buf.length, n);
  assert.equal(r.buf[n - 1], (n - 1) % 256);
  r = await raw(hp(a.ep8080.endpoint), '/proxy/8080/bytes/0');
  assert.equal(r.buf.length, 0);
});

test('sse events are flushed one by one', { timeout: 10000 }, async () => {
  const [host, port] = hp(a.ep8080.endpoint).split(':');
  const times = await new Promise((resolve, reject) => {
    const t0 = Date.now();
    const arrivals = [];
    http.get({ host, port, path: '/proxy/8080/sse?n=4&interval_ms=300' }, (res) => {
      assert.equal(res.headers['content-type'], 'text/event-stream');
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        buf += c;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = JSON.parse(block.split('\n').find((l) => l.startsWith('data: ')).slice(6));
          arrivals.push([data.i, Date.now() - t0]);
        }
      });
      res.on('end', () => resolve(arrivals));
    }).on('error', reject);
  });
  assert.deepEqual(times.map((t) => t[0]), [0, 1, 2, 3]);
  assert.ok(times[0][1] < 250, `first event after ${times[0][1]} ms`);
  assert.ok(times[3][1] - times[0][1] >= 800, 'events are spaced');
});

test('slow headers and upload sink', { timeout: 10000 }, async () => {
  let r = await raw(hp(a.ep8080.endpoint), '/proxy/8080/slow-headers?ms=400');
  assert.ok(r.ms >= 380);
  assert.deepEqual(r.json, { delayedMs: 400 });
  const data = crypto.randomBytes(2 * 1024 * 1024);
  r = await raw(hp(a.ep8080.endpoint), '/proxy/8080/upload-sink', { method: 'POST', body: data });
  assert.deepEqual(r.json, { bytes: data.length, sha256: crypto.createHash('sha256').update(data).digest('hex') });
});

function wsRoundTrip(url, headers) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const got = [];
    ws.on('open', () => { ws.send('hello'); ws.send(Buffer.from([0, 1, 2, 255])); });
    ws.on('message', (data, isBinary) => {
      got.push(isBinary ? ['bin', [...data]] : ['text', data.toString()]);
      if (got.length === 2) { ws.close(); resolve(got); }
    });
    ws.on('unexpected-response', (req, res) => reject(new Error(`ws status ${res.statusCode}`)));
    ws.on('error', reject);
  });
}

test('websocket echo, direct and through the server proxy', { timeout: 10000 }, async () => {
  const expected = [['text', 'hello'], ['bin', [0, 1, 2, 255]]];
  assert.deepEqual(await wsRoundTrip(`ws://${a.ep8080.endpoint}/ws`), expected);
  assert.deepEqual(await wsRoundTrip(`ws://127.0.0.1:${simA.port}/v1/sandboxes/${a.id}/proxy/8080/ws`, simA.headers()), expected);
  await assert.rejects(wsRoundTrip(`ws://127.0.0.1:${simA.port}/v1/sandboxes/${a.id}/proxy/8080/ws`), /401/);
  assert.deepEqual(await wsRoundTrip(`ws://${b.ep8080.endpoint}/ws`, { 'X-Sandbox-Token': 'tok' }), expected);
  await assert.rejects(wsRoundTrip(`ws://${b.ep8080.endpoint}/ws`), /403/);
});

test('server proxy: auth, header filtering, both path forms', { timeout: 10000 }, async () => {
  assert.equal(a.proxy8080.endpoint, `127.0.0.1:${simA.port}/v1/sandboxes/${a.id}/proxy/8080`);
  const hdrs = simA.headers({ Cookie: 'c=1', Authorization: 'Bearer t', 'X-Keep': 'k', 'X-Drop': 'd', Connection: 'X-Drop' });
  for (const p of [`/v1/sandboxes/${a.id}/proxy/8080/echo/x?q=1`, `/sandboxes/${a.id}/proxy/8080/echo/x?q=1`]) {
    const r = await raw(`127.0.0.1:${simA.port}`, p, { headers: hdrs });
    assert.equal(r.status, 200);
    assert.equal(r.json.path, '/echo/x?q=1');
    for (const h of ['cookie', 'authorization', 'open-sandbox-api-key', 'x-drop']) assert.equal(r.json.headers[h], undefined, h);
    assert.equal(r.json.headers['x-keep'], 'k');
    assert.equal(r.json.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(r.json.headers['x-forwarded-host'], `127.0.0.1:${simA.port}`);
    assert.equal(r.json.headers.host, hp(a.ep8080.endpoint));
  }
  let r = await raw(`127.0.0.1:${simA.port}`, `/v1/sandboxes/${a.id}/proxy/8080/echo/x`);
  assert.equal(r.status, 401);
  assert.equal(r.json.code, 'MISSING_API_KEY');
  r = await raw(`127.0.0.1:${simA.port}`, `/v1/sandboxes/nope/proxy/8080/echo/x`, { headers: simA.headers() });
  assert.equal(r.status, 404);
  r = await raw(`127.0.0.1:${simA.port}`, `/v1/sandboxes/${a.id}/proxy/44772/ping`, { headers: simA.headers() });
  assert.equal(r.status, 200);
});

test('endpoint headers, direct 8080, real server-proxy form (simulator B)', { timeout: 10000 }, async () => {
  assert.deepEqual(b.ep8080.headers, { 'X-Sandbox-Token': 'tok' });
  assert.match(b.ep8080.endpoint, /^127\.0\.0\.1:\d+$/, 'direct 8080 endpoint has no path');
  assert.match(b.ep44772.endpoint, /^127\.0\.0\.1:\d+\/proxy\/44772$/);
  assert.equal(b.proxy8080.endpoint, `gw.example:9999/sandboxes/${b.id}/proxy/8080`);
  let r = await raw(hp(b.ep8080.endpoint), '/echo/x');
  assert.equal(r.status, 403);
  r = await raw(hp(b.ep8080.endpoint), '/echo/x', { headers: { 'X-Sandbox-Token': 'tok' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.path, '/echo/x');
  r = await raw(hp(b.ep44772.endpoint), prefix(b.ep44772.endpoint) + '/ping');
  assert.equal(r.status, 403);
  // Server proxy injects endpoint headers and (with --proxy-auth none) needs no API key.
  r = await raw(`127.0.0.1:${simB.port}`, `/sandboxes/${b.id}/proxy/8080/echo/y`);
  assert.equal(r.status, 200);
  assert.equal(r.json.headers['x-sandbox-token'], 'tok');
});

test('web app on port 3000: page, scripts, api routes, app cookie, WebSocket echo (direct and server proxy)', { timeout: 10000 }, async () => {
  const ep = await a.ep(3000);
  assert.match(ep.endpoint, /^127\.0\.0\.1:\d+\/proxy\/3000$/);
  const host = hp(ep.endpoint);
  let r = await raw(host, '/proxy/3000/');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^text\/html/);
  const page = r.buf.toString();
  assert.match(page, /<script src="\/app\.js"/);
  assert.match(page, /<script src="rel\.js"/);
  for (const id of ['abs-script', 'rel-script', 'fetch-rel', 'fetch-abs', 'ws-rel', 'ws-abs', 'app-cookie', 'done']) assert.match(page, new RegExp(`id="${id}"`), id);
  r = await raw(host, '/proxy/3000/app.js');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /javascript/);
  assert.equal(r.buf.toString(), "mark('abs-script', true);\n");
  r = await raw(host, '/proxy/3000/rel.js');
  assert.equal(r.buf.toString(), "mark('rel-script', true);\n");
  assert.deepEqual((await raw(host, '/proxy/3000/api/hello')).json, { route: 'hello' });
  assert.deepEqual((await raw(host, '/proxy/3000/api/abs')).json, { route: 'abs' });
  r = await raw(host, '/proxy/3000/api/login', { method: 'POST' });
  assert.equal(r.status, 200);
  assert.match(r.json.session, /^[0-9a-f]{18}$/);
  assert.deepEqual(r.headers['set-cookie'], [`app_session=${r.json.session}; Path=/; SameSite=Lax`]);
  r = await raw(host, '/proxy/3000/api/whoami', { headers: { Cookie: 'app_session=x; other=y', 'X-Seen': '1' } });
  assert.equal(r.json.cookie, 'app_session=x; other=y');
  assert.equal(r.json.headers['x-seen'], '1');
  assert.equal((await raw(host, '/proxy/3000/nope')).status, 404);
  // The WebSocket answers "echo:" + each text message.
  const wsEcho = (url, headers) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => ws.send('hi'));
    ws.on('message', (d) => { ws.close(); resolve(d.toString()); });
    ws.on('unexpected-response', (req, res) => reject(new Error(`ws status ${res.statusCode}`)));
    ws.on('error', reject);
  });
  assert.equal(await wsEcho(`ws://${ep.endpoint}/ws`), 'echo:hi');
  assert.equal(await wsEcho(`ws://127.0.0.1:${simA.port}/v1/sandboxes/${a.id}/proxy/3000/ws`, simA.headers()), 'echo:hi');
  await assert.rejects(wsEcho(`ws://${ep.endpoint}/nows`), /404/);
});

test('paused sandboxes: 503 JSON (default) or connection refused (--paused-behavior refuse)', { timeout: 15000 }, async () => {
  const pause = async (sim, sb, op, state) => {
    const r = await httpCall(`${sim.base}/v1/sandboxes/${sb.id}/${op}`, { method: 'POST', headers: sim.headers() });
    assert.equal(r.status, 202);
    await waitFor(async () => (await httpCall(`${sim.base}/v1/sandboxes/${sb.id}`, { headers: sim.headers() })).json.status.state === state);
  };
  await pause(simA, a, 'pause', 'Paused');
  let r = await raw(hp(a.ep8080.endpoint), '/proxy/8080/echo/x');
  assert.equal(r.status, 503);
  assert.equal(r.json.code, 'SANDBOX_NOT_RUNNING');
  r = await raw(`127.0.0.1:${simA.port}`, `/v1/sandboxes/${a.id}/proxy/8080/echo/x`, { headers: simA.headers() });
  assert.equal(r.status, 503);
  await pause(simA, a, 'resume', 'Running');
  assert.equal((await raw(hp(a.ep8080.endpoint), '/proxy/8080/echo/x')).status, 200);

  await pause(simB, b, 'pause', 'Paused');
  await assert.rejects(raw(hp(b.ep8080.endpoint), '/echo/x', { headers: { 'X-Sandbox-Token': 'tok' } }), /ECONNREFUSED/);
  await assert.rejects(raw(hp(b.ep44772.endpoint), '/proxy/44772/ping'), /ECONNREFUSED/);
  await pause(simB, b, 'resume', 'Running');
  await waitFor(async () => (await raw(hp(b.ep8080.endpoint), '/echo/x', { headers: { 'X-Sandbox-Token': 'tok' } }).catch(() => ({}))).status === 200,
    { what: 're-listen on the same port' });
});
