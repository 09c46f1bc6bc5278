'use strict';
// Child process of sdk.test.js: the official OpenSandbox JS SDK against sandgate with a tenant key.
// Runs in its own process so that NODE_EXTRA_CA_CERTS (read at start-up) can trust the test CA for
// the TLS variant. Environment: SG_DOMAIN (host:port), SG_PROTOCOL (http|https), SG_KEY (tenant
// key), SG_OTHER_KEY (another tenant's key), SG_FLOW (full|server-proxy).
// Prints one JSON line per step on stdout; exits non-zero with the failing assertion on stderr.
process.env.OPENSANDBOX_DISABLE_METRICS = '1';
const assert = require('node:assert/strict');
const {
  ConnectionConfig, Sandbox, SandboxManager, SandboxApiException,
} = require('@alibaba-group/opensandbox');

const domain = process.env.SG_DOMAIN;
const protocol = process.env.SG_PROTOCOL || 'http';
const flow = process.env.SG_FLOW || 'full';
const conn = (key, extra) => new ConnectionConfig(Object.assign({
  domain, protocol, apiKey: key, requestTimeoutSeconds: 20, disableMetrics: true,
}, extra || {}));
const step = (name, data) => process.stdout.write(JSON.stringify(Object.assign({ step: name }, data || {})) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function full() {
  const t0 = Date.now();
  const sbx = await Sandbox.create({
    connectionConfig: conn(process.env.SG_KEY),
    image: 'python:3.11',
    metadata: { suite: 'sdk-gw' },
    env: { GREETING: 'hi' },
    timeoutSeconds: 900,
    resource: { cpu: '1', memory: '1Gi' },
    readyTimeoutSeconds: 20,
    healthCheckPollingInterval: 100,
  });
  const mgr = SandboxManager.create({ connectionConfig: conn(process.env.SG_KEY) });
  const other = SandboxManager.create({ connectionConfig: conn(process.env.SG_OTHER_KEY) });
  try {
    step('created', { id: sbx.id, ms: Date.now() - t0 });
    let info = await sbx.getInfo();
    assert.equal(info.status.state, 'Running');
    assert.equal(info.metadata.suite, 'sdk-gw');
    assert.ok(info.expiresAt instanceof Date);

    // Streaming: the first stdout chunk arrives long before the command ends.
    const seen = [];
    const started = Date.now();
    const exec = await sbx.commands.run('echo "$GREETING one"; sleep 1.5; echo two', undefined, {
      onStdout: (m) => { seen.push([m.text, Date.now() - started]); },
    });
    const total = Date.now() - started;
    assert.deepEqual(exec.logs.stdout.map((m) => m.text), ['hi one', 'two']);
    assert.equal(exec.exitCode, 0);
    assert.equal(seen.length, 2, JSON.stringify(seen));
    assert.ok(seen[0][1] < total - 1000, `first chunk at ${seen[0][1]} ms of ${total} ms: not streamed (${JSON.stringify(seen)})`);
    assert.ok(seen[1][1] - seen[0][1] >= 1000, `chunks ${JSON.stringify(seen)}`);
    step('streamed', { seen, total });

    // Files.
    await sbx.files.writeFiles([{ path: '/workspace/hello.txt', data: 'hello through the gateway', mode: 644 }]);
    assert.equal(await sbx.files.readFile('/workspace/hello.txt'), 'hello through the gateway');
    const big = 'x'.repeat(300 * 1024);
    await sbx.files.writeFiles([{ path: '/workspace/big.txt', data: big }]);
    assert.equal((await sbx.files.readFile('/workspace/big.txt')).length, big.length);
    const cat = await sbx.commands.run('cat workspace/hello.txt');
    assert.equal(cat.logs.stdout[0].text, 'hello through the gateway');
    step('files');

    // Endpoints: the gateway's address, and it works with the tenant key only.
    const ep = await sbx.getEndpoint(8080);
    assert.equal(ep.endpoint, `${domain}/sandboxes/${sbx.id}/port/8080`);
    const url = await sbx.getEndpointUrl(8080);
    assert.equal(url, `${protocol}://${domain}/sandboxes/${sbx.id}/port/8080`);
    const echo = await fetch(`${url}/echo/from-sdk`, { headers: { 'OPEN-SANDBOX-API-KEY': process.env.SG_KEY } });
    assert.equal(echo.status, 200);
    assert.equal((await echo.json()).path, '/echo/from-sdk');
    const anon = await fetch(`${url}/echo/anon`);
    assert.equal(anon.status, 401);
    const foreign = await fetch(`${url}/echo/foreign`, { headers: { 'OPEN-SANDBOX-API-KEY': process.env.SG_OTHER_KEY } });
    assert.equal(foreign.status, 404);
    assert.ok(await sbx.isHealthy());
    step('endpoints', { endpoint: ep.endpoint });

    // Pause (wait for Paused), resume, renew.
    await sbx.pause();
    let state;
    for (let i = 0; i < 100; i++) {
      state = (await mgr.getSandboxInfo(sbx.id)).status.state;
      if (state === 'Paused') break;
      await sleep(50);
    }
    assert.equal(state, 'Paused');
    const paused = await mgr.listSandboxInfos({ states: ['Paused'], metadata: { suite: 'sdk-gw' } });
    assert.deepEqual(paused.items.map((s) => s.id), [sbx.id]);
    const resumed = await sbx.resume({ readyTimeoutSeconds: 15, healthCheckPollingInterval: 50 });
    const back = await resumed.commands.run('echo back');
    assert.equal(back.logs.stdout[0].text, 'back');
    step('pause-resume');
    const renewed = await sbx.renew(1800);
    assert.ok(renewed.expiresAt.getTime() > Date.now() + 1700e3, `renewed to ${renewed.expiresAt}`);
    info = await sbx.getInfo();
    assert.ok(info.expiresAt.getTime() > Date.now() + 1700e3);
    step('renewed', { expiresAt: renewed.expiresAt });

    // List: the caller's own, never another tenant's.
    const list = await mgr.listSandboxInfos({ states: ['Running'], metadata: { suite: 'sdk-gw' } });
    assert.deepEqual(list.items.map((s) => s.id), [sbx.id]);
    const otherList = await other.listSandboxInfos({});
    assert.ok(!otherList.items.some((s) => s.id === sbx.id), 'another tenant lists the sandbox');
    await assert.rejects(other.getSandboxInfo(sbx.id), (e) => e instanceof SandboxApiException && e.statusCode === 404);
    await assert.rejects(other.killSandbox(sbx.id), (e) => e instanceof SandboxApiException && e.statusCode === 404);
    step('listed');

    await sbx.kill();
    await assert.rejects(sbx.getInfo(), (e) => e instanceof SandboxApiException && e.statusCode === 404);
    step('killed');
  } finally {
    await sbx.kill().catch(() => {});
    await sbx.close().catch(() => {});
    await mgr.close().catch(() => {});
    await other.close().catch(() => {});
  }
}

async function serverProxy() {
  const sbx = await Sandbox.create({
    connectionConfig: conn(process.env.SG_KEY, { useServerProxy: true }),
    image: 'python:3.11', timeoutSeconds: 900, resource: { cpu: '1', memory: '1Gi' }, readyTimeoutSeconds: 20,
  });
  try {
    const ep = await sbx.getEndpoint(44772);
    assert.equal(ep.endpoint, `${domain}/v1/sandboxes/${sbx.id}/proxy/44772`);
    const r = await sbx.commands.run('echo via-proxy');
    assert.equal(r.logs.stdout[0].text, 'via-proxy');
    await sbx.files.writeFiles([{ path: '/p.txt', data: 'proxied' }]);
    assert.equal(await sbx.files.readFile('/p.txt'), 'proxied');
    step('server-proxy', { endpoint: ep.endpoint });
    await sbx.kill();
  } finally {
    await sbx.kill().catch(() => {});
    await sbx.close().catch(() => {});
  }
}

(flow === 'server-proxy' ? serverProxy() : full()).then(() => process.exit(0), (e) => {
  process.stderr.write(`${e && e.stack ? e.stack : e}\n${e && e.statusCode ? `statusCode ${e.statusCode} ${JSON.stringify(e.error || e.rawBody || '')}` : ''}\n`);
  process.exit(1);
});
