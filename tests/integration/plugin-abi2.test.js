'use strict';
// Plugin ABI 2 through real requests, with a test plugin that uses every ABI 2 entry and reports what it
// saw in response headers (tests/plugins/abi2_probe.c): request context (route class, operation, tenant, key
// id, sandbox, port) after key-auth, structured config (lists, mappings of mappings), res_set_header replacing
// the upstream's header, per-thread state with thread_init at start / lazily after a reload / thread_dispose at
// exit, thread timers, shared state, store counters (memory store, and a real redis-server: shared by two
// gateways, key namespace, Redis killed and stalled mid-run -> err, recovery), plugin metrics and the core's
// refusal / store-error metrics in /metrics.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./lib/harness');
const T = require('./lib/tenancy');

const env = h.env();
const ctx = {};
const PROBE = path.join(path.dirname(h.PLUGIN_SO), 'sg_abi2_probe.so');
const PROBE_CONF = {
  counter_ttl: '60s',
  tags: ['one', 'two'],
  tenants: { 'team-a': { weight: 5 }, 'team-b': { weight: 7 } },
  rules: [{ match: '/x', limit: 3 }, { match: '/y', limit: 4 }],
  set_header: 'content-type',
  set_value: 'probe/set',
};
const keyId = (key) => crypto.createHash('sha256').update(key).digest('hex').slice(0, 12);

function chain(extra) {
  return {
    plugins: [{ name: 'request-id' }, { name: 'key-auth' }, { name: 'abi2-probe', path: PROBE, config: PROBE_CONF }, ...(extra || [])],
    routes: { health: { plugins: [] }, admin: { plugins: [] } },
  };
}

test.before(async () => {
  ctx.sim = await env.sim({ name: 'abi2', args: ['--ready-delay-ms', '0'] });
  ctx.kA = T.newKey('a');
  ctx.kB = T.newKey('b');
  ctx.tenants = [{ id: 'team-a', keys: [T.keyHash(ctx.kA)], policy: { allowed_images: ['python:*'] } },
    { id: 'team-b', keys: [T.keyHash(ctx.kB)] }];
  ctx.disposeFile = path.join(h.tmpDir(), `dispose-${process.pid}-${Date.now()}.txt`);
  process.env.SG_PROBE_DISPOSE_FILE = ctx.disposeFile; // the gateways started below inherit it
  ctx.gw = await env.gateway(Object.assign({
    backends: [h.backend(ctx.sim)], tenants: ctx.tenants, workers: 2,
    port_tokens: { secrets: [{ id: 'k1', secret: 'k1-secret-0123456789abcdef0123456789abcdef' }] },
  }, chain([{ name: 'header-stamp', path: h.PLUGIN_SO, config: { deny_header: 'x-deny' } }])));
  ctx.a = T.client(ctx.gw.httpUrl, ctx.kA);
  ctx.b = T.client(ctx.gw.httpUrl, ctx.kB);
  ctx.sbx = (await ctx.a.create()).id;
}, { timeout: 60000 });

test.after(async () => { await env.cleanup(); if (ctx.redis) await ctx.redis.kill(); });

test('req_context in on_request: route class, operation, tenant and key id after key-auth, sandbox, port', { timeout: 20000 }, env.wrap(async () => {
  const l = await ctx.a.get('/v1/sandboxes');
  assert.equal(l.status, 200, l.text);
  assert.equal(l.headers['x-probe-route'], 'lifecycle');
  assert.equal(l.headers['x-probe-op'], 'list_sandboxes');
  assert.equal(l.headers['x-probe-tenant'], 'team-a');
  assert.equal(l.headers['x-probe-key'], keyId(ctx.kA), 'key-auth sets the first 12 hex digits of the key\'s SHA-256');
  assert.equal(l.headers['x-probe-sandbox'], '');
  assert.equal(l.headers['x-probe-port'], '0');
  const g = await ctx.a.get(`/v1/sandboxes/${ctx.sbx}`);
  assert.equal(g.headers['x-probe-op'], 'get_sandbox');
  assert.equal(g.headers['x-probe-sandbox'], ctx.sbx);
  const e = await ctx.a.get(`/v1/sandboxes/${ctx.sbx}/endpoints/8080`);
  assert.equal(e.status, 200, e.text);
  assert.equal(e.headers['x-probe-op'], 'endpoint');
  assert.equal(e.headers['x-probe-port'], '8080');
  assert.equal(e.headers['x-probe-sandbox'], ctx.sbx);
  const c = await ctx.b.post('/v1/sandboxes', { image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], timeout: 600, resourceLimits: { cpu: '500m', memory: '512Mi' } });
  assert.equal(c.headers['x-probe-op'], 'create_sandbox');
  assert.equal(c.headers['x-probe-tenant'], 'team-b');
  assert.equal(c.headers['x-probe-key'], keyId(ctx.kB));
  const p = await h.request(`${ctx.gw.httpUrl}${h.portPath(ctx.sbx, 8080, '/echo/ctx')}`, { headers: { 'OPEN-SANDBOX-API-KEY': ctx.kA } });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.headers['x-probe-route'], 'port');
  assert.equal(p.headers['x-probe-op'], 'port');
  assert.equal(p.headers['x-probe-sandbox'], ctx.sbx);
  assert.equal(p.headers['x-probe-port'], '8080');
  assert.equal(p.headers['x-probe-tenant'], 'team-a');
  // a port access token is verified before the plugin chain: on_request already sees its tenant and a token id
  const tok = e.json.headers['X-Sandgate-Token'];
  const t = await h.request(`${ctx.gw.httpUrl}${h.portPath(ctx.sbx, 8080, '/echo/tok')}`, { headers: { 'X-Sandgate-Token': tok } });
  assert.equal(t.status, 200, t.text);
  assert.equal(t.headers['x-probe-tenant'], 'team-a', 'on_request sees the token\'s tenant');
  assert.equal(t.headers['x-probe-key'], `tok:${crypto.createHash('sha256').update(tok).digest('hex').slice(0, 12)}`);
  assert.equal(t.headers['x-probe-late-tenant'], 'team-a');
  // a tampered token binds nothing before the chain and is refused after it, with the one 401 body
  const bad = await h.request(`${ctx.gw.httpUrl}${h.portPath(ctx.sbx, 8080, '/echo/tok')}`, { headers: { 'X-Sandgate-Token': tok.slice(0, -2) + (tok.endsWith('AA') ? 'BB' : 'AA') } });
  assert.equal(bad.status, 401, bad.text);
  assert.equal(bad.json.code, 'INVALID_API_KEY');
  assert.equal(t.headers['x-probe-late-key'], `tok:${crypto.createHash('sha256').update(tok).digest('hex').slice(0, 12)}`);
  assert.equal(p.headers['x-probe-late-key'], keyId(ctx.kA));
  const s = await ctx.a.get('/v1/snapshots');
  assert.equal(s.headers['x-probe-op'], 'list_snapshots');
  // without a credential key-auth answers first: the probe never runs
  const n = await h.request(`${ctx.gw.httpUrl}/v1/sandboxes`);
  assert.equal(n.status, 401);
  assert.equal(n.headers['x-probe-route'], undefined);
}));

test('structured config: a list of scalars, a mapping of mappings, a list of mappings', { timeout: 20000 }, env.wrap(async () => {
  const a = await ctx.a.get('/v1/sandboxes');
  assert.equal(a.headers['x-probe-tags'], 'one,two');
  assert.equal(a.headers['x-probe-rules'], '/x=3,/y=4');
  assert.equal(a.headers['x-probe-weight'], '5');
  assert.equal((await ctx.b.get('/v1/sandboxes')).headers['x-probe-weight'], '7');
}));

test('res_set_header: exactly one header of that name reaches the client, replacing the upstream\'s and the gateway\'s', { timeout: 20000 }, env.wrap(async () => {
  const count = (r, name) => r.rawHeaders.filter((x, i) => i % 2 === 0 && x.toLowerCase() === name).length;
  // the sandbox's service sends Content-Type: application/octet-stream
  const p = await h.request(`${ctx.gw.httpUrl}${h.portPath(ctx.sbx, 8080, '/bytes/10')}`, { headers: { 'OPEN-SANDBOX-API-KEY': ctx.kA } });
  assert.equal(p.status, 200, p.text);
  assert.equal(count(p, 'content-type'), 1, JSON.stringify(p.rawHeaders));
  assert.equal(p.headers['content-type'], 'probe/set');
  assert.equal(p.buf.length, 10);
  // a lifecycle answer from the backend (application/json), and a gateway error (application/json)
  const l = await ctx.a.get('/v1/sandboxes');
  assert.equal(count(l, 'content-type'), 1);
  assert.equal(l.headers['content-type'], 'probe/set');
  const nf = await ctx.a.get('/v1/sandboxes/no-such-sandbox');
  assert.equal(nf.status, 404);
  assert.equal(count(nf, 'content-type'), 1);
  assert.equal(nf.headers['content-type'], 'probe/set');
  // HTTP/2 too
  const http2 = require('node:http2');
  const session = http2.connect(ctx.gw.httpsUrl, { ca: fs.readFileSync(h.certs().ca) });
  try {
    const hd = await new Promise((resolve, reject) => {
      const st = session.request({ ':method': 'GET', ':path': h.portPath(ctx.sbx, 8080, '/bytes/5'), 'open-sandbox-api-key': ctx.kA });
      st.on('response', resolve);
      st.on('error', reject);
      st.resume();
      st.end();
    });
    assert.equal(hd[':status'], 200);
    assert.equal(hd['content-type'], 'probe/set');
  } finally {
    session.close();
  }
}));

test('thread state: thread_init on every worker at start, thread timers tick, thread_counters ran, shared state', { timeout: 20000 }, env.wrap(async () => {
  await h.sleep(200);
  const r = await ctx.a.get('/v1/sandboxes');
  assert.equal(r.headers['x-probe-inits'], '2', 'one thread_init per worker thread (workers: 2)');
  assert.ok(Number(r.headers['x-probe-ticks']) > 0, `thread timer ticks: ${r.headers['x-probe-ticks']}`);
  assert.ok(['1', '2'].includes(r.headers['x-probe-boot']), `thread_counters at thread_init: boot=${r.headers['x-probe-boot']}`);
  assert.equal(r.headers['x-probe-shared'], '0', 'memory store: store_is_shared() = 0');
  const n = Number(r.headers['x-probe-thread-requests']);
  assert.ok(n >= 1);
}));

test('store counters (memory): INCRBY then GET of the same key in one batch, per tenant, callback never from inside the call', { timeout: 20000 }, env.wrap(async () => {
  const first = (await ctx.a.get('/v1/sandboxes?count=1')).headers['x-probe-count'];
  const [v1, r1] = first.split(',').map(Number);
  assert.equal(v1, r1, `the read after the increment sees it: ${first}`);
  for (let i = 0; i < 5; i++) await ctx.a.get('/v1/sandboxes?count=more');
  const later = (await ctx.a.get('/v1/sandboxes?count=2')).headers['x-probe-count'];
  assert.equal(Number(later.split(',')[0]), v1 + 6, `${first} -> ${later}`);
  // 30 concurrent requests on 2 threads: every increment counted once
  const all = await Promise.all(Array.from({ length: 30 }, () => ctx.b.get('/v1/sandboxes?count=par')));
  const values = all.map((x) => Number(x.headers['x-probe-count'].split(',')[0])).sort((x, y) => x - y);
  const base = values[0];
  assert.deepEqual(values, Array.from({ length: 30 }, (_, i) => base + i));
  for (const x of all) assert.equal(x.headers['x-probe-reentrant'], undefined);
}));

test('metrics: plugin counters and gauges (labels escaped), refusals by tenant and reason', { timeout: 20000 }, env.wrap(async () => {
  const d = await ctx.a.get('/v1/sandboxes?deny=1', { headers: { 'X-Deny': '1' } });
  assert.equal(d.status, 403);
  const m = await h.metrics(ctx.gw);
  assert.ok(h.metricValue(m, 'sandgate_plugin_probe_requests', { tenant: 'team-a' }) >= 10, m);
  assert.ok(h.metricValue(m, 'sandgate_plugin_probe_requests', { tenant: 'team-b' }) >= 30);
  assert.match(m, /^# TYPE sandgate_plugin_probe_requests counter$/m);
  assert.match(m, /^# HELP sandgate_plugin_probe_odd A gauge with a label that \\\\needs\\nescaping\.$/m);
  assert.match(m, /^sandgate_plugin_probe_odd\{label="q\\"uote\\\\back\\nline"\} \d+$/m);
  assert.equal(h.metricValue(m, 'sandgate_refusals_total', { tenant: 'team-a', reason: 'GATEWAY::DENIED_BY_PLUGIN' }), 1, m);
  // an admission refusal (the tenant's allowed_images), twice
  for (let i = 0; i < 2; i++) {
    const r = await ctx.a.post('/v1/sandboxes', { image: { uri: 'ubuntu:22.04' }, entrypoint: ['/bin/sh'], timeout: 600, resourceLimits: { cpu: '500m', memory: '512Mi' } });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.code, 'GATEWAY::IMAGE_NOT_ALLOWED');
  }
  const m2 = await h.metrics(ctx.gw);
  assert.equal(h.metricValue(m2, 'sandgate_refusals_total', { tenant: 'team-a', reason: 'GATEWAY::IMAGE_NOT_ALLOWED' }), 2, m2);
  assert.equal(h.metricValue(m2, 'sandgate_refusals_total', { tenant: 'team-b' }), null, 'nothing was refused for team-b');
  // every line is well-formed text format
  for (const line of m.split('\n')) if (line !== '') assert.match(line, /^(# (HELP|TYPE) \S+ .*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? -?\d+(\.\d+)?(e[+-]?\d+)?)$/, line);
}));

test('a reload keeps thread state, shared state and counters; a .so first loaded by a reload gets thread_init lazily', { timeout: 40000 }, env.wrap(async () => {
  const before = await ctx.a.get('/v1/sandboxes?reload=0');
  const c0 = Number(before.headers['x-probe-count'].split(',')[0]);
  const cfg = JSON.parse(JSON.stringify(ctx.gw.config));
  cfg.plugins[2].config = Object.assign({}, PROBE_CONF, { tags: ['three'] });
  await ctx.gw.reload(cfg);
  const after = await ctx.a.get('/v1/sandboxes?reload=1');
  assert.equal(after.headers['x-probe-tags'], 'three', 'the new config applies');
  assert.equal(after.headers['x-probe-inits'], '2', 'no new thread_init at a reload');
  assert.equal(Number(after.headers['x-probe-count'].split(',')[0]), c0 + 1, 'counters survive the reload');

  // a gateway that starts without the probe, then loads it with a reload
  const g = await env.gateway(Object.assign({ backends: [h.backend(ctx.sim)], tenants: ctx.tenants, workers: 2, admin: false },
    { plugins: [{ name: 'key-auth' }], routes: { health: { plugins: [] } } }));
  try {
    const none = await h.request(`${g.httpUrl}/v1/sandboxes`, { headers: { 'OPEN-SANDBOX-API-KEY': ctx.kA } });
    assert.equal(none.headers['x-probe-inits'], undefined);
    const cfg2 = JSON.parse(JSON.stringify(g.config));
    cfg2.plugins = chain().plugins;
    await g.reload(cfg2);
    let r;
    await h.waitFor(async () => {
      r = await h.request(`${g.httpUrl}/v1/sandboxes`, { headers: { 'OPEN-SANDBOX-API-KEY': ctx.kA } });
      return r.headers['x-probe-inits'] === '2';
    }, { timeoutMs: 10000, what: 'thread_init on both workers after the reload' });
    assert.ok(['1', '2'].includes(r.headers['x-probe-boot']) || r.headers['x-probe-boot'] === '-2', r.headers['x-probe-boot']);
    assert.equal(r.headers['x-probe-tenant'], 'team-a');
  } finally {
    await g.stop();
  }
}));

test('thread_dispose runs once per worker at exit, after the thread timers were cancelled (clean exit)', { timeout: 30000 }, env.wrap(async () => {
  try { fs.unlinkSync(ctx.disposeFile); } catch (_) { /* none yet */ }
  await ctx.gw.stop();
  const lines = fs.readFileSync(ctx.disposeFile, 'utf8').trim().split('\n');
  assert.equal(lines.length, 2, lines.join('|'));
  for (const l of lines) assert.match(l, /^dispose \d+$/);
}));

// ---------------------------------------------------------------- Redis

test('store counters (redis): one namespace per plugin, shared by two gateways, expiry set, store_is_shared', { timeout: 60000 }, env.wrap(async () => {
  ctx.redis = await T.startRedis();
  const prefix = `abi2-${Date.now()}:`;
  const opts = Object.assign({ backends: [h.backend(ctx.sim)], tenants: ctx.tenants, workers: 2, admin: true,
    redis: { address: ctx.redis.address, prefix, command_timeout: '300ms' } }, chain());
  ctx.g1 = await env.gateway(opts);
  ctx.g2 = await env.gateway(opts);
  const c1 = T.client(ctx.g1.httpUrl, ctx.kA);
  const c2 = T.client(ctx.g2.httpUrl, ctx.kA);
  const a = await c1.get('/v1/sandboxes?r=1');
  assert.equal(a.status, 200, a.text);
  assert.equal(a.headers['x-probe-shared'], '1');
  assert.equal(a.headers['x-probe-count'], '1,1');
  const b = await c2.get('/v1/sandboxes?r=2');
  assert.equal(b.headers['x-probe-count'], '2,2', 'the second gateway sees the first one\'s count');
  const key = `${prefix}plugin:abi2-probe:hits:team-a`;
  assert.equal(await ctx.redis.cmd('GET', key), '2');
  const pttl = await ctx.redis.cmd('PTTL', key);
  assert.ok(pttl > 50000 && pttl <= 60000, `PTTL ${pttl}`);
  // thread_counters at thread_init: one "boot" increment per worker of both gateways
  assert.equal(await ctx.redis.cmd('GET', `${prefix}plugin:abi2-probe:boot`), '4');
  // concurrent batches from both gateways: every increment counted once
  const all = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? c1 : c2).get('/v1/sandboxes?r=par')));
  const values = all.map((x) => Number(x.headers['x-probe-count'].split(',')[0])).sort((x, y) => x - y);
  assert.deepEqual(values, Array.from({ length: 20 }, (_, i) => 3 + i));
}));

test('store counters (redis): killed mid-run -> err -1 quickly and counted in sandgate_store_errors_total; stalled -> err after the command timeout; recovery', { timeout: 90000 }, env.wrap(async () => {
  const c1 = T.client(ctx.g1.httpUrl, ctx.kA);
  // stalled (SIGSTOP): the batch fails after command_timeout (300ms), the request still completes
  ctx.redis.proc.kill('SIGSTOP');
  try {
    // with it, clients that go away while their batch waits on the stalled Redis: the callback must never run
    // for them (under ASan a late callback into a freed request is a use-after-free)
    const t0 = Date.now();
    // HTTP/2 streams reset by the client: h2o disposes each request at once, its batch still pending
    const http2 = require('node:http2');
    const session = http2.connect(ctx.g1.httpsUrl, { ca: fs.readFileSync(h.certs().ca) });
    session.on('error', () => {});
    let s;
    try {
      [s] = await Promise.all([c1.get('/v1/sandboxes?stall=1'), ...Array.from({ length: 10 }, (_, i) => new Promise((resolve) => {
        const st = session.request({ ':method': 'GET', ':path': `/v1/sandboxes?gone=${i}`, 'open-sandbox-api-key': ctx.kA });
        st.on('error', () => resolve());
        st.on('close', resolve);
        st.resume();
        st.end();
        setTimeout(() => st.close(http2.constants.NGHTTP2_CANCEL), 30 + i * 15);
      }))]);
    } finally {
      session.close();
    }
    assert.equal(s.headers['x-probe-count'], 'err');
    assert.ok(Date.now() - t0 < 3000, `answered after ${Date.now() - t0} ms`);
    await h.sleep(500); // past the command timeout: the stalled batches failed, for live requests only
  } finally {
    ctx.redis.proc.kill('SIGCONT');
  }
  await ctx.redis.kill();
  // the connection loss is noticed at the latest at the next command; from then on failures are immediate
  const errs = [];
  for (let i = 0; i < 5; i++) {
    const t0 = Date.now();
    const r = await c1.get(`/v1/sandboxes?down=${i}`);
    errs.push({ count: r.headers['x-probe-count'], ms: Date.now() - t0 });
  }
  for (const e of errs) assert.equal(e.count, 'err', JSON.stringify(errs));
  assert.ok(errs.slice(1).every((e) => e.ms < 1000), JSON.stringify(errs));
  const m = await h.metrics(ctx.g1);
  assert.ok(h.metricValue(m, 'sandgate_store_errors_total', { op: 'counters' }) >= 5, m.split('\n').filter((l) => l.includes('store_errors')).join('\n'));
  // recovery without a restart (same port; the data is gone with the process: counting starts over)
  ctx.redis = await ctx.redis.restart();
  let last;
  await h.waitFor(async () => {
    last = await c1.get('/v1/sandboxes?up=1');
    return last.headers['x-probe-count'] !== 'err';
  }, { timeoutMs: 15000, what: 'counters work again after redis restarted' });
  const [v, r] = last.headers['x-probe-count'].split(',').map(Number);
  assert.ok(v >= 1 && v === r, last.headers['x-probe-count']);
  await ctx.g1.stop();
  await ctx.g2.stop();
}));
