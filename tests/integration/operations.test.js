'use strict';
// Operations: `sandgate -t -c` (file:line errors), SIGHUP reload (good and broken configs,
// in-flight streams and keep-alive connections survive), SIGTERM drain (in-flight requests
// complete, new connections refused, exit 0 within graceful_shutdown_timeout).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const path = require('node:path');
const YAML = require('yaml');
const h = require('./lib/harness');

const env = h.env();
test.after(() => env.cleanup());

// ---------------------------------------------------------------- sandgate -t

function writeText(name, text) {
  const f = path.join(h.tmpDir(), name);
  fs.writeFileSync(f, text);
  return f;
}

// Asserts `sandgate -t` fails and reports `file:line: <message matching re>` for each expectation.
function expectErrors(file, expectations) {
  const r = h.checkConfig(file);
  assert.notEqual(r.code, 0, `sandgate -t accepted ${file}:\n${fs.readFileSync(file, 'utf8')}`);
  assert.equal(r.signal, null, `sandgate -t crashed: ${r.signal}\n${r.stderr}`);
  const lines = r.stderr.split('\n').filter(Boolean);
  for (const [lineNos, re] of expectations) {
    const ok = lines.some((l) => {
      const m = /^(.+?):(\d+): (.+)$/.exec(l);
      return m && m[1] === file && [].concat(lineNos).includes(Number(m[2])) && re.test(m[3]);
    });
    assert.ok(ok, `expected "${file}:${lineNos}: ${re}" in stderr:\n${r.stderr}`);
  }
  for (const l of lines) {
    if (/AddressSanitizer|LeakSanitizer|runtime error/.test(l)) assert.fail(`sanitizer report in sandgate -t:\n${r.stderr}`);
  }
  return r;
}

test('sandgate -t: unknown keys, wrong types, bad urls -> file:line errors, non-zero exit', { timeout: 20000 }, () => {
  const f = writeText('bad-types.yaml', [
    'listen:', //                                  1
    '  - address: 127.0.0.1:18080', //             2
    '    bogus_key: 1', //                         3  unknown key in a listener
    'workers: many', //                            4  wrong type
    'limits:', //                                  5
    '  upstream_io_timeout: soon', //              6  wrong type (duration)
    '  max_request_body: lots', //                 7  wrong type (size)
    'backends:', //                                8
    '  - name: a', //                              9
    '    url: ftp://example.com', //               10 bad url scheme
    '    api_key: k', //                           11
    '  - name: b', //                              12
    '    url: not a url', //                       13 bad url
    '    api_key: k', //                           14
    'frobnicate: true', //                         15 unknown top-level key
    '',
  ].join('\n'));
  expectErrors(f, [
    [3, /unknown key 'bogus_key'/],
    [4, /workers.*integer/],
    [6, /upstream_io_timeout.*duration/],
    [7, /max_request_body.*size/],
    [10, /url/],
    [13, /url/],
    [15, /unknown key 'frobnicate'/],
  ]);
});

test('sandgate -t: missing certificate file, bad plugin, YAML syntax error, missing file', { timeout: 20000 }, () => {
  const c = h.certs();
  const cert = writeText('bad-cert.yaml', [
    'listen:', //                                   1
    '  - address: 127.0.0.1:18443', //              2
    '    tls:', //                                  3
    '      certificates:', //                       4
    '        - cert: /nonexistent/server.crt', //   5
    `          key: ${c.serverKey}`, //             6
    '',
  ].join('\n'));
  expectErrors(cert, [[[3, 4, 5], /\/nonexistent\/server\.crt/]]);

  const plug = writeText('bad-plugin.yaml', [
    'listen:', //                                   1
    '  - address: 127.0.0.1:18080', //              2
    'plugins:', //                                  3
    '  - name: header-stamp', //                    4
    '    path: /nonexistent/plugin.so', //          5
    '  - name: no-such-plugin', //                  6
    '  - name: request-id', //                      7
    '    config: {header: X-R, bogus: 1}', //       8
    `  - name: header-stamp`, //                    9
    `    path: ${h.PLUGIN_SO}`, //                  10
    '    config: {delay: forever}', //              11
    '',
  ].join('\n'));
  expectErrors(plug, [
    [[4, 5], /\/nonexistent\/plugin\.so/],
    [6, /no-such-plugin/],
    [8, /unknown key 'bogus'/],
    [[9, 10, 11], /delay/],
  ]);

  const syntax = writeText('bad-syntax.yaml', 'listen: [\n  {address: 1\n');
  expectErrors(syntax, [[[1, 2, 3], /YAML|syntax|parse/i]]);

  const missing = path.join(h.tmpDir(), 'does-not-exist.yaml');
  const r = h.checkConfig(missing);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`^${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: `, 'm'));
});

test('sandgate -t: a good config (TLS, admin, plugins, routes) exits 0', { timeout: 20000 }, async () => {
  const { config } = await h.buildConfig({
    backends: [{ name: 'a', url: 'http://127.0.0.1:9', api_key: 'k', weight: 2, capacity: 10, labels: { runtime: 'docker' } }],
    plugins: [{ name: 'request-id', config: { header: 'X-Request-ID', trust_client: true } },
      { name: 'access-log', config: { path: path.join(h.tmpDir(), 'check-access.log') } },
      { name: 'header-stamp', path: h.PLUGIN_SO, config: { header: 'X-Stamp', value: 'v', deny_header: 'X-Deny', delay: '10ms' } }],
    routes: { health: { plugins: [] } },
  });
  const f = h.writeConfig(config, 'good.yaml');
  const r = h.checkConfig(f);
  assert.equal(r.code, 0, `sandgate -t rejected a good config:\n${r.stderr}\n${fs.readFileSync(f, 'utf8')}`);
  assert.equal(r.stderr.trim(), '', 'no complaints on stderr');
  // the shipped example parses too: its certificate files, env vars and backend host names do not
  // exist here, so only errors about those are acceptable
  const example = path.join(h.REPO, 'conf', 'sandgate.yaml');
  if (fs.existsSync(example)) {
    const e = h.checkConfig(example);
    for (const l of e.stderr.split('\n').filter(Boolean)) {
      assert.match(l, /cannot (load|open|resolve)|not set|No such file|environment variable/, `conf/sandgate.yaml: unexpected error: ${l}`);
    }
  }
});

// ---------------------------------------------------------------- SIGHUP

test('SIGHUP: new config applies to new requests; in-flight SSE and keep-alive connections survive; broken config rejected', { timeout: 60000 }, env.wrap(async () => {
  const simA = await env.sim({ name: 'sim-reload-a' });
  const simB = await env.sim({ name: 'sim-reload-b' });
  const sbx = await h.createSandbox(simA);
  const gw = await env.gateway({ backends: [h.backend(simA)], plugins: [{ name: 'request-id' }] });

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const before = await h.request(`${gw.httpUrl}/v1/sandboxes`, { agent });
  assert.equal(before.status, 200);
  assert.equal(before.headers['x-stamp'], undefined);

  const stream = h.sseStream(gw, h.portPath(sbx, 8080, '/sse?n=10&interval_ms=200'));
  await stream.firstEvent;

  // new config: header-stamp plugin added, backend A replaced by B
  const cfg = JSON.parse(JSON.stringify(gw.config));
  cfg.plugins = [{ name: 'request-id' }, { name: 'header-stamp', path: h.PLUGIN_SO, config: { header: 'X-Stamp', value: 'reloaded' } }];
  cfg.backends = [h.backend(simB)];
  const log = await gw.reload(cfg);
  assert.match(log, /configuration reloaded/, log);
  await simA.clearRequests();
  await simB.clearRequests();

  const after = await h.request(`${gw.httpUrl}/v1/sandboxes?after-reload=1`);
  assert.equal(after.status, 200, after.text);
  assert.equal(after.headers['x-stamp'], 'reloaded', 'the new plugin chain applies');
  assert.equal((await simB.requests('/v1/sandboxes?after-reload=1')).items.length, 1, 'new requests go to the new backend');
  assert.equal((await simA.requests('/v1/sandboxes?after-reload=1')).items.length, 0, 'the removed backend gets nothing new');
  const admin = await h.admin(gw, '/admin/v1/backends');
  assert.deepEqual(admin.json.backends.map((b) => b.name), ['sim-reload-b']);

  // the keep-alive connection opened before the reload still works (on the new config)
  const ka = await h.request(`${gw.httpUrl}/v1/sandboxes?ka=1`, { agent });
  assert.equal(ka.status, 200);
  assert.equal(ka.headers['x-stamp'], 'reloaded');

  const s = await stream.done;
  assert.equal(s.status, 200);
  assert.equal(s.error, null, `in-flight SSE broke during reload: ${JSON.stringify(s)}`);
  assert.equal(s.events, 10, `in-flight SSE got ${s.events}/10 events`);
  assert.equal(s.ended, true);

  // broken config: rejected, logged with file:line, old config keeps serving
  const broken = YAML.stringify(cfg).replace(/^log:/m, 'no_such_key: 1\nlog:');
  const blog = await gw.reload(broken);
  assert.match(blog, /reload of .* failed; keeping the running configuration/, blog);
  assert.match(blog, new RegExp(`${gw.configFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: unknown key 'no_such_key'`), blog);
  assert.equal(gw.alive(), true);
  const still = await h.request(`${gw.httpUrl}/v1/sandboxes?after-broken=1`);
  assert.equal(still.status, 200);
  assert.equal(still.headers['x-stamp'], 'reloaded');
  assert.equal((await simB.requests('/v1/sandboxes?after-broken=1')).items.length, 1);
  // a config whose plugin fails to load is rejected as well
  const badPlugin = JSON.parse(JSON.stringify(cfg));
  badPlugin.plugins.push({ name: 'header-stamp', path: '/nonexistent/x.so' });
  const plog = await gw.reload(badPlugin);
  assert.match(plog, /failed; keeping the running configuration/);
  assert.equal((await h.request(`${gw.httpUrl}/health`)).status, 200);
  agent.destroy();
  await gw.stop();
}));

// ---------------------------------------------------------------- SIGTERM

// The store reads its redis settings once at start; only tenant_cache_ttl follows a reload. A reload that changes
// any other one (not only the address) keeps the running values and says so.
test('SIGHUP: a changed restart-only redis setting (prefix, db, password, timeouts) warns; tenant_cache_ttl does not', { timeout: 60000 }, env.wrap(async () => {
  const T = require('./lib/tenancy');
  const redis = await T.startRedis();
  try {
    const sim = await env.sim({ name: 'sim-reload-redis' });
    const gw = await env.gateway(Object.assign({
      backends: [h.backend(sim)],
      tenants: [{ id: 'tenant-a', keys: [T.keyHash(T.newKey('a'))] }],
      redis: { address: redis.address, prefix: 'rl1:' },
    }, T.tenancyPlugins()));
    const warning = /reload: redis settings changed; they take effect on restart/;
    const changes = [
      ['prefix', { prefix: 'rl2:' }],
      ['db', { db: 3 }],
      ['password', { password: 'secret' }],
      ['command_timeout', { command_timeout: '900ms' }],
      ['connect_timeout', { connect_timeout: '2s' }],
    ];
    for (const [what, change] of changes) {
      const cfg = JSON.parse(JSON.stringify(gw.config));
      Object.assign(cfg.redis, change);
      const log = await gw.reload(cfg);
      assert.match(log, /configuration reloaded/, `${what}: ${log}`);
      assert.match(log, warning, `a reload changing redis.${what} must warn:\n${log}`);
      await gw.reload(gw.config); // back to the running settings
    }
    const cfg = JSON.parse(JSON.stringify(gw.config));
    cfg.redis.tenant_cache_ttl = '3s';
    const log = await gw.reload(cfg);
    assert.match(log, /configuration reloaded/, log);
    assert.doesNotMatch(log, warning, 'tenant_cache_ttl reloads: no warning');
    assert.equal((await h.request(`${gw.httpUrl}/health`)).status, 200);
  } finally {
    await redis.stop();
  }
}));

test('SIGTERM: in-flight SSE (HTTP/1.1 and HTTP/2) completes, new connections refused, exit 0', { timeout: 60000 }, env.wrap(async (t) => {
  const sim = await env.sim({ name: 'sim-drain' });
  const sbx = await h.createSandbox(sim);
  const gw = await env.gateway({ backends: [h.backend(sim)], plugins: [], limits: { graceful_shutdown_timeout: '6s' } });
  const stream = h.sseStream(gw, h.portPath(sbx, 8080, '/sse?n=10&interval_ms=200'));
  const session = http2.connect(gw.httpsUrl, { ca: fs.readFileSync(h.certs().ca) });
  session.on('error', () => {});
  let h2first;
  const h2firstEvent = new Promise((r) => { h2first = r; });
  const h2done = new Promise((resolve) => {
    const st = session.request({ ':method': 'GET', ':path': h.portPath(sbx, 8080, '/sse?n=10&interval_ms=200') });
    const out = { status: null, events: 0, ended: false, error: null };
    let buf = '';
    st.setEncoding('utf8');
    st.on('response', (hd) => { out.status = hd[':status']; });
    st.on('data', (c) => { buf += c; let i; while ((i = buf.indexOf('\n\n')) >= 0) { out.events += 1; buf = buf.slice(i + 2); h2first(); } });
    st.on('end', () => { out.ended = true; });
    st.on('error', (e) => { out.error = e.code || e.message; });
    st.on('close', () => { h2first(); resolve(out); });
  });
  // both streams are established and flowing before the signal
  await stream.firstEvent;
  await h2firstEvent;
  const termAt = Date.now();
  gw.proc.kill('SIGTERM');

  // new connections are refused soon after SIGTERM
  await h.waitFor(async () => (await h.connectRefused(gw.ports.http)) && (await h.connectRefused(gw.ports.https)),
    { timeoutMs: 1500, intervalMs: 50, what: 'new connections to be refused after SIGTERM' });
  const refusedAfter = Date.now() - termAt;

  const s = await stream.done;
  const s2 = await h2done;
  session.close();
  const exit = await Promise.race([gw.exited, h.sleep(8000).then(() => null)]);
  const exitAfter = Date.now() - termAt;
  t.diagnostic(`refused after ${refusedAfter} ms; HTTP/1.1 SSE ${JSON.stringify(s)}; HTTP/2 SSE ${JSON.stringify(s2)}; exit after ${exitAfter} ms: ${JSON.stringify(exit)}`);
  assert.equal(s.error, null, `HTTP/1.1 SSE broken by the drain: ${JSON.stringify(s)}`);
  assert.equal(s.events, 10);
  assert.equal(s.ended, true);
  assert.equal(s2.error, null, `HTTP/2 SSE broken by the drain: ${JSON.stringify(s2)}`);
  assert.equal(s2.events, 10);
  assert.ok(exit, `sandgate still running ${exitAfter} ms after SIGTERM (graceful_shutdown_timeout 6s)\n${gw.stderrTail()}`);
  assert.ok(exitAfter < 6000 + 1500, `exit took ${exitAfter} ms`);
  await gw.stop(); // asserts exit code 0
}));

test('SIGTERM: an idle gateway exits promptly with 0', { timeout: 30000 }, env.wrap(async () => {
  const sim = await env.sim({ name: 'sim-idle' });
  const gw = await env.gateway({ backends: [h.backend(sim)], plugins: [], limits: { graceful_shutdown_timeout: '10s' } });
  // some traffic first, including a keep-alive connection left idle
  const agent = new http.Agent({ keepAlive: true });
  assert.equal((await h.request(`${gw.httpUrl}/v1/sandboxes`, { agent })).status, 200);
  const t0 = Date.now();
  await gw.stop(15000);
  agent.destroy();
  assert.ok(Date.now() - t0 < 3000, `idle gateway took ${Date.now() - t0} ms to exit (nothing was in flight)`);
}));

test('SIGTERM: a request stuck past graceful_shutdown_timeout does not keep the gateway alive', { timeout: 30000 }, env.wrap(async () => {
  const sim = await env.sim({ name: 'sim-stuck' });
  const sbx = await h.createSandbox(sim);
  const gw = await env.gateway({ backends: [h.backend(sim)], plugins: [], limits: { graceful_shutdown_timeout: '1s' } });
  const stuck = h.request(`${gw.httpUrl}${h.portPath(sbx, 8080, '/slow-headers?ms=20000')}`, { timeoutMs: 15000 }).catch((e) => ({ error: e.code || e.message }));
  await h.sleep(300);
  const t0 = Date.now();
  await gw.stop(10000);
  const took = Date.now() - t0;
  assert.ok(took >= 800 && took < 3500, `exit ${took} ms after SIGTERM (graceful_shutdown_timeout 1s)`);
  const r = await stuck;
  assert.ok(r.error || r.status >= 500, `the stuck request should fail, got ${JSON.stringify(r.status)}`);
}));
