'use strict';
// Child process of tokens-sdk.test.js: a client that behaves like the official OpenSandbox *Python* SDK, built from
// the official JS SDK (@alibaba-group/opensandbox 0.1.11) with its transport wrapped so that OPEN-SANDBOX-API-KEY
// is removed from every request that is not a lifecycle call.
//
// Why that is what the Python SDK does (OpenSandbox repository, commit 4db3a99, sdks/sandbox/python/src/opensandbox):
// - adapters/sandboxes_adapter.py: the lifecycle client ({domain}/v1) sends User-Agent, ConnectionConfig.headers
//   and OPEN-SANDBOX-API-KEY; get_sandbox_endpoint passes use_server_proxy as a query parameter;
// - adapters/command_adapter.py, filesystem_adapter.py, health_adapter.py (and metrics_adapter.py): the execd
//   clients use base_url "{protocol}://{endpoint.endpoint}" and headers {User-Agent, **ConnectionConfig.headers,
//   **endpoint.headers} -- no API key (the comment there: "Execd API does not require authentication");
// - config/connection.py: ConnectionConfig.headers defaults to {}; use_server_proxy makes the server hand out its
//   proxy address for execd.
// So through the gateway only Endpoint.headers can authenticate execd traffic. The JS SDK builds execd clients the
// same way (connectionConfig.headers + endpoint.headers) but also puts the key into every request; the wrapper
// takes it out again, and records every request so the test can check what was sent where.
//
// Environment: SG_DOMAIN, SG_PROTOCOL, SG_KEY, SG_SERVER_PROXY (1|0), SG_SECURE_HEADER (the backend's own endpoint
// header name, never to be shown to the client). One JSON line per step on stdout; non-zero exit on failure.
process.env.OPENSANDBOX_DISABLE_METRICS = '1';
const assert = require('node:assert/strict');
const WebSocket = require('ws');

const domain = process.env.SG_DOMAIN;
const protocol = process.env.SG_PROTOCOL || 'https';
const serverProxy = process.env.SG_SERVER_PROXY === '1';
const TOKEN_HEADER = 'x-sandgate-token';

// ---- the transport wrapper: what a Python-SDK client sends
const sent = [];
const realFetch = globalThis.fetch;
function isLifecycle(u) {
  return u.pathname.startsWith('/v1/') && !/^\/v1\/sandboxes\/[^/]+\/proxy\//.test(u.pathname);
}
globalThis.fetch = async (input, init) => {
  const url = new URL(typeof input === 'string' || input instanceof URL ? String(input) : input.url);
  const headers = new Headers(input instanceof Request ? input.headers : undefined);
  new Headers((init && init.headers) || {}).forEach((v, k) => headers.set(k, v));
  if (!isLifecycle(url)) headers.delete('open-sandbox-api-key');
  sent.push({ path: url.pathname, lifecycle: isLifecycle(url), key: headers.has('open-sandbox-api-key'), token: headers.has(TOKEN_HEADER) });
  const opts = Object.assign({}, init || {}, { headers });
  if (input instanceof Request) return realFetch(new Request(input, opts));
  return realFetch(url, opts);
};

const { ConnectionConfig, Sandbox, SandboxManager, SandboxApiException } = require('@alibaba-group/opensandbox');

const conn = () => new ConnectionConfig({
  domain, protocol, apiKey: process.env.SG_KEY, requestTimeoutSeconds: 20, disableMetrics: true, useServerProxy: serverProxy,
});
const step = (name, data) => process.stdout.write(JSON.stringify(Object.assign({ step: name }, data || {})) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const form = serverProxy ? 'v1/sandboxes/%s/proxy' : 'sandboxes/%s/port';
const epOf = (id, port) => `${domain}/${form.replace('%s', id)}/${port}`;

async function main() {
  const t0 = Date.now();
  // create + wait until ready: the SDK pings execd (/ping) through the endpoint with Endpoint.headers only
  const sbx = await Sandbox.create({
    connectionConfig: conn(), image: 'python:3.11', metadata: { suite: 'tokens' }, env: { GREETING: 'hi' },
    timeoutSeconds: 900, resource: { cpu: '1', memory: '1Gi' }, readyTimeoutSeconds: 20, healthCheckPollingInterval: 100,
  });
  const mgr = SandboxManager.create({ connectionConfig: conn() });
  try {
    const pings = sent.filter((s) => !s.lifecycle);
    assert.ok(pings.length >= 1, 'no execd request during create');
    step('created', { id: sbx.id, ms: Date.now() - t0 });

    // commands.run with streaming
    const seen = [];
    const started = Date.now();
    const exec = await sbx.commands.run('echo "$GREETING one"; sleep 1.2; echo two', undefined, {
      onStdout: (m) => { seen.push([m.text, Date.now() - started]); },
    });
    const total = Date.now() - started;
    assert.deepEqual(exec.logs.stdout.map((m) => m.text), ['hi one', 'two']);
    assert.equal(exec.exitCode, 0);
    assert.ok(seen[0][1] < total - 800, `not streamed: ${JSON.stringify(seen)} of ${total} ms`);
    step('streamed', { seen, total });

    // a non-zero exit
    const bad = await sbx.commands.run('echo oops >&2; exit 3');
    assert.equal(bad.exitCode, 3, JSON.stringify(bad));
    assert.equal(bad.logs.stderr[0].text, 'oops');
    step('nonzero-exit');

    // files: write, read, range read, info, search, delete
    await sbx.files.writeFiles([{ path: '/workspace/t/hello.txt', data: 'hello through a token', mode: 644 }]);
    assert.equal(await sbx.files.readFile('/workspace/t/hello.txt'), 'hello through a token');
    assert.equal(await sbx.files.readFile('/workspace/t/hello.txt', { range: 'bytes=6-12' }), 'through');
    const info = await sbx.files.getFileInfo(['/workspace/t/hello.txt']);
    assert.equal(info['/workspace/t/hello.txt'].size, 21);
    const found = await sbx.files.search({ path: '/workspace/t', pattern: '*.txt' });
    assert.ok(JSON.stringify(found).includes('hello.txt'), JSON.stringify(found));
    await sbx.files.deleteFiles(['/workspace/t/hello.txt']);
    await assert.rejects(sbx.files.readFile('/workspace/t/hello.txt'));
    step('files');

    // getEndpoint, then fetch through it with its headers only
    const ep = await sbx.getEndpoint(8080);
    assert.equal(ep.endpoint, epOf(sbx.id, 8080));
    const names = Object.keys(ep.headers || {}).map((k) => k.toLowerCase());
    assert.deepEqual(names, [TOKEN_HEADER], `endpoint headers shown to the client: ${JSON.stringify(ep.headers)}`);
    const base = `${protocol}://${ep.endpoint}`;
    const echo = await fetch(`${base}/echo/from-token`, { headers: ep.headers });
    assert.equal(echo.status, 200, await echo.clone().text());
    const got = await echo.json();
    assert.equal(got.path, '/echo/from-token');
    const upstream = Object.keys(got.headers).map((k) => k.toLowerCase());
    assert.ok(!upstream.includes(TOKEN_HEADER), 'the token reached the sandbox');
    assert.ok(!upstream.includes('open-sandbox-api-key'), 'the key reached the sandbox');
    if (process.env.SG_SECURE_HEADER) assert.ok(!names.includes(process.env.SG_SECURE_HEADER.toLowerCase()));
    // the execd endpoint's token is bound to its port: it does not open 8080
    const execdEp = await sbx.getEndpoint(44772);
    const cross = await fetch(`${base}/echo/x`, { headers: execdEp.headers });
    assert.equal(cross.status, 401);
    step('endpoint', { endpoint: ep.endpoint });

    // SSE, unbuffered
    const sseStart = Date.now();
    const sse = await fetch(`${base}/sse?n=3&interval_ms=400`, { headers: ep.headers });
    assert.equal(sse.status, 200);
    const reader = sse.body.getReader();
    const dec = new TextDecoder();
    let text = '';
    let firstAt = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
      if (firstAt === null && text.includes('data:')) firstAt = Date.now() - sseStart;
    }
    const sseTotal = Date.now() - sseStart;
    assert.equal((text.match(/event: tick/g) || []).length, 3);
    assert.ok(firstAt < sseTotal - 600, `SSE buffered: first at ${firstAt} ms of ${sseTotal}`);
    step('sse', { firstAt, sseTotal });

    // a WebSocket through the endpoint, authenticated by the token
    const wsUrl = `${protocol === 'https' ? 'wss' : 'ws'}://${ep.endpoint}/ws`;
    const echoed = await new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl, { headers: ep.headers });
      const timer = setTimeout(() => { ws.terminate(); reject(new Error('websocket timeout')); }, 10000);
      ws.on('open', () => ws.send('ping over a token'));
      ws.on('message', (m) => { clearTimeout(timer); ws.close(); resolve(String(m)); });
      ws.on('unexpected-response', (req, res) => { clearTimeout(timer); reject(new Error(`websocket answered ${res.statusCode}`)); });
      ws.on('error', (e) => { clearTimeout(timer); reject(e); });
    });
    assert.equal(echoed, 'ping over a token');
    const wsAnon = await new Promise((resolve) => {
      const ws = new WebSocket(wsUrl);
      ws.on('unexpected-response', (req, res) => resolve(res.statusCode));
      ws.on('open', () => { ws.close(); resolve(101); });
      ws.on('error', () => resolve(-1));
    });
    assert.equal(wsAnon, 401);
    step('websocket');

    // renew, pause/resume, list
    const renewed = await sbx.renew(1800);
    assert.ok(renewed.expiresAt.getTime() > Date.now() + 1700e3);
    await sbx.pause();
    let state;
    for (let i = 0; i < 100; i++) {
      state = (await mgr.getSandboxInfo(sbx.id)).status.state;
      if (state === 'Paused') break;
      await sleep(50);
    }
    assert.equal(state, 'Paused');
    const resumed = await sbx.resume({ readyTimeoutSeconds: 15, healthCheckPollingInterval: 50 });
    const back = await resumed.commands.run('echo back');
    assert.equal(back.logs.stdout[0].text, 'back');
    const list = await mgr.listSandboxInfos({ states: ['Running'], metadata: { suite: 'tokens' } });
    assert.deepEqual(list.items.map((s) => s.id), [sbx.id]);
    step('lifecycle');

    // what was sent where: lifecycle calls carry the key, nothing else does, and every execd call carried a token
    const execd = sent.filter((s) => !s.lifecycle);
    assert.ok(execd.length >= 10, `only ${execd.length} execd requests`);
    assert.deepEqual(execd.filter((s) => s.key), [], 'a non-lifecycle request carried the key');
    assert.deepEqual(execd.filter((s) => !s.token), [], 'an execd request without a token');
    assert.ok(sent.filter((s) => s.lifecycle).every((s) => s.key && !s.token));

    await sbx.kill();
    await assert.rejects(sbx.getInfo(), (e) => e instanceof SandboxApiException && e.statusCode === 404);
    const after = await fetch(`${base}/echo/after-kill`, { headers: ep.headers });
    assert.equal(after.status, 404, 'a deleted sandbox\'s token still opens it');
    step('killed', { execdRequests: execd.length });
  } finally {
    await sbx.kill().catch(() => {});
    await sbx.close().catch(() => {});
    await mgr.close().catch(() => {});
  }
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`${e && e.stack ? e.stack : e}\n${e && e.statusCode ? `statusCode ${e.statusCode} ${JSON.stringify(e.error || e.rawBody || '')}` : ''}\n`);
  process.stderr.write(`requests: ${JSON.stringify(sent.slice(-12))}\n`);
  process.exit(1);
});
