'use strict';
// The official OpenSandbox JS SDK (@alibaba-group/opensandbox) against the simulator.
process.env.OPENSANDBOX_DISABLE_METRICS = '1';
const test = require('node:test');
const assert = require('node:assert/strict');
const {
  ConnectionConfig, Sandbox, SandboxManager, SandboxApiException,
} = require('@alibaba-group/opensandbox');
const { startSimulator, httpCall } = require('../simulator/testkit');

let sim;
const conn = (extra) => new ConnectionConfig(Object.assign({
  domain: `127.0.0.1:${sim.port}`,
  protocol: 'http',
  apiKey: sim.apiKey,
  requestTimeoutSeconds: 20,
  disableMetrics: true,
}, extra || {}));

test.before(async () => {
  sim = await startSimulator(['--ready-delay-ms', '300', '--transition-delay-ms', '100', '--command-grace-ms', '200'], { name: 'sdk' });
});
test.after(async () => { if (sim) await sim.stop(); });

test('SDK: create, wait ready, stream a command, files, endpoints, lifecycle, kill', { timeout: 60000 }, async () => {
  const t0 = Date.now();
  const sbx = await Sandbox.create({
    connectionConfig: conn(),
    image: 'python:3.11',
    metadata: { suite: 'sdk' },
    env: { GREETING: 'hi' },
    timeoutSeconds: 900,
    readyTimeoutSeconds: 20,
    healthCheckPollingInterval: 100,
  });
  try {
    assert.ok(Date.now() - t0 >= 250, 'create waited for the sandbox to become ready');
    let info = await sbx.getInfo();
    assert.equal(info.status.state, 'Running');
    assert.deepEqual(info.metadata, { suite: 'sdk' });
    assert.ok(info.expiresAt instanceof Date);

    // Streaming: the first stdout callback fires long before the command ends.
    const seen = [];
    const started = Date.now();
    const exec = await sbx.commands.run('echo "$GREETING one"; sleep 1.2; echo two; echo err >&2', undefined, {
      onStdout: (m) => { seen.push([m.text, Date.now() - started]); },
    });
    assert.deepEqual(exec.logs.stdout.map((m) => m.text), ['hi one', 'two']);
    assert.deepEqual(exec.logs.stderr.map((m) => m.text), ['err']);
    assert.equal(exec.exitCode, 0);
    assert.ok(exec.complete);
    assert.match(exec.id, /^[0-9a-f]{32}$/);
    assert.ok(seen[1][1] - seen[0][1] >= 1000, `stdout streamed: ${JSON.stringify(seen)}`);

    const failed = await sbx.commands.run('exit 7');
    assert.equal(failed.exitCode, 7);
    assert.equal(failed.error.name, 'CommandExecError');

    const bg = await sbx.commands.run('echo bg-out; sleep 0.3', { background: true });
    assert.ok(bg.id);
    let status = await sbx.commands.getCommandStatus(bg.id);
    assert.equal(status.running, true);
    await new Promise((r) => setTimeout(r, 600));
    status = await sbx.commands.getCommandStatus(bg.id);
    assert.equal(status.running, false);
    assert.equal(status.exitCode, 0);
    const logs = await sbx.commands.getBackgroundCommandLogs(bg.id);
    assert.equal(logs.content, 'bg-out\n');
    assert.equal(logs.cursor, 7);

    // Files.
    await sbx.files.writeFiles([
      { path: '/workspace/hello.txt', data: 'hello world', mode: 644 },
      { path: '/workspace/bin.dat', data: new Uint8Array([1, 2, 3, 250]) },
    ]);
    assert.equal(await sbx.files.readFile('/workspace/hello.txt'), 'hello world');
    assert.equal(await sbx.files.readFile('/workspace/hello.txt', { range: 'bytes=6-10' }), 'world');
    assert.deepEqual([...await sbx.files.readBytes('/workspace/bin.dat')], [1, 2, 3, 250]);
    async function* chunks() { for (let i = 0; i < 4; i++) yield new TextEncoder().encode(`chunk${i};`); }
    await sbx.files.writeFiles([{ path: '/workspace/stream.txt', data: chunks() }]);
    assert.equal(await sbx.files.readFile('/workspace/stream.txt'), 'chunk0;chunk1;chunk2;chunk3;');
    const fi = await sbx.files.getFileInfo(['/workspace/hello.txt']);
    assert.equal(fi['/workspace/hello.txt'].size, 11);
    assert.equal(fi['/workspace/hello.txt'].mode, 644);
    assert.ok(fi['/workspace/hello.txt'].modifiedAt instanceof Date);
    const found = await sbx.files.search({ path: '/workspace', pattern: '*.txt' });
    assert.deepEqual(found.map((f) => f.path).sort(), ['/workspace/hello.txt', '/workspace/stream.txt']);
    await sbx.files.createDirectories([{ path: '/workspace/dir/sub', mode: 755 }]);
    await sbx.files.moveFiles([{ src: '/workspace/stream.txt', dest: '/workspace/dir/stream.txt' }]);
    const listing = await sbx.files.listDirectory({ path: '/workspace', depth: 2 });
    assert.deepEqual(listing.map((f) => f.path), ['/workspace/bin.dat', '/workspace/dir', '/workspace/dir/stream.txt', '/workspace/dir/sub', '/workspace/hello.txt']);
    await sbx.files.deleteFiles(['/workspace/bin.dat']);
    await sbx.files.deleteDirectories(['/workspace/dir']);
    assert.equal((await sbx.files.listDirectory({ path: '/workspace' })).length, 1);
    // Commands run with cwd = sandbox root, so relative paths see the same files.
    const cat = await sbx.commands.run('cat workspace/hello.txt');
    assert.equal(cat.logs.stdout[0].text, 'hello world');

    // Endpoints.
    const ep = await sbx.getEndpoint(8080);
    assert.match(ep.endpoint, /^127\.0\.0\.1:\d+\/proxy\/8080$/);
    const url = await sbx.getEndpointUrl(8080);
    const echo = await httpCall(url + '/echo/from-sdk');
    assert.equal(echo.json.path, '/echo/from-sdk');
    assert.ok(await sbx.isHealthy());
    const metrics = await sbx.getMetrics();
    assert.ok(metrics.cpuCount >= 1);

    // Lifecycle operations.
    info = await sbx.patchMetadata({ extra: 'x', suite: null });
    assert.deepEqual(info.metadata, { extra: 'x' });
    const renewed = await sbx.renew(3600);
    assert.ok(renewed.expiresAt.getTime() > Date.now() + 3500e3);
    await sbx.pause();
    const mgr = SandboxManager.create({ connectionConfig: conn() });
    for (let i = 0; i < 50 && (await mgr.getSandboxInfo(sbx.id)).status.state !== 'Paused'; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await mgr.getSandboxInfo(sbx.id)).status.state, 'Paused');
    const list = await mgr.listSandboxInfos({ states: ['Paused'], metadata: { extra: 'x' } });
    assert.deepEqual(list.items.map((s) => s.id), [sbx.id]);
    const resumed = await sbx.resume({ readyTimeoutSeconds: 10, healthCheckPollingInterval: 50 });
    const after = await resumed.commands.run('echo back');
    assert.equal(after.logs.stdout[0].text, 'back');
    // resumed shares sbx's ConnectionConfig (and transport): closed by sbx.close() below.
    await mgr.close();

    await sbx.kill();
    await assert.rejects(sbx.getInfo(), (e) => e instanceof SandboxApiException && e.statusCode === 404);
  } finally {
    await sbx.kill().catch(() => {});
    await sbx.close();
  }
});

test('SDK: useServerProxy routes execd traffic through the server', { timeout: 30000 }, async () => {
  const sbx = await Sandbox.create({ connectionConfig: conn({ useServerProxy: true }), image: 'python:3.11', readyTimeoutSeconds: 20 });
  try {
    const ep = await sbx.getEndpoint(44772);
    assert.equal(ep.endpoint, `127.0.0.1:${sim.port}/v1/sandboxes/${sbx.id}/proxy/44772`);
    const r = await sbx.commands.run('echo via-proxy');
    assert.equal(r.logs.stdout[0].text, 'via-proxy');
    await sbx.files.writeFiles([{ path: '/p.txt', data: 'proxied' }]);
    assert.equal(await sbx.files.readFile('/p.txt'), 'proxied');
    const reqs = (await httpCall(`${sim.base}/_sim/requests?pathPrefix=/v1/sandboxes/${sbx.id}/proxy/44772`)).json.items;
    assert.ok(reqs.some((e) => e.url.endsWith('/command') && e.headers['open-sandbox-api-key'] === sim.apiKey), 'SDK sends the API key on execd calls');
  } finally {
    await sbx.kill().catch(() => {});
    await sbx.close();
  }
});

test('SDK: connect to an existing sandbox, and auth errors surface as SandboxApiException', { timeout: 30000 }, async () => {
  const sbx = await Sandbox.create({ connectionConfig: conn(), image: 'node:20', readyTimeoutSeconds: 20, timeoutSeconds: null });
  try {
    assert.equal((await sbx.getInfo()).expiresAt, null, 'manual cleanup');
    const again = await Sandbox.connect({ sandboxId: sbx.id, connectionConfig: conn() });
    assert.equal((await again.commands.run('echo connected')).logs.stdout[0].text, 'connected');
    await again.close();
    const bad = SandboxManager.create({ connectionConfig: conn({ apiKey: 'wrong' }) });
    await assert.rejects(bad.getSandboxInfo(sbx.id), (e) => e instanceof SandboxApiException && e.statusCode === 401 && e.error.code === 'INVALID_API_KEY');
    await bad.close();
  } finally {
    await sbx.kill().catch(() => {});
    await sbx.close();
  }
});
