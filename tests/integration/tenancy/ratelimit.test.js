'use strict';
// The rate-limit plugin in `local` mode (issue 9, part 2): the RateLimit-Policy / RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers, structured-field syntax) and RateLimit-Limit/-Remaining/-Reset
// on allowed and refused responses, 429 GATEWAY::RATE_LIMITED with exactly one Retry-After, exact
// counting per process under concurrency on 4 workers, a flooding tenant that neither affects another
// tenant nor stays locked out past the window, per-operation (creates) and per-sandbox port limits,
// per-tenant overrides, counts kept across a SIGHUP reload with the changed limit applied, metrics,
// and file:line config errors. Real sandgate, real simulator, Node http clients.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const h = require('../lib/harness');
const T = require('../lib/tenancy');
const RL = require('./ratelimit-lib');

const env = h.env();
const ctx = {};
const HOUR = 3600 * 1000;
const tenants = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

// Long windows (1 h) make the counts deterministic; the tests start away from a window's end.
function limitsConfig(gOverride) {
  return {
    mode: 'local',
    limits: [
      {
        name: 'lifecycle', route: 'lifecycle', by: ['tenant'], rate: 10, per: '1h', burst: 10,
        tenants: {
          'tenant-c': { rate: 20, burst: 20 },
          'tenant-e': { unlimited: true },
          'tenant-f': { rate: 5, per: '1s', burst: 5 },
          'tenant-g': gOverride,
        },
      },
      { name: 'creates', route: 'lifecycle', operations: ['create_sandbox'], by: ['tenant'], tenants: { 'tenant-e': { rate: 2, per: '1h' } } },
      { name: 'sandbox-port', route: 'port', by: ['sandbox'], tenants: { 'tenant-e': { rate: 3, per: '1h' } } },
      { name: 'per-key', route: 'lifecycle', by: ['tenant', 'key'], tenants: { 'tenant-h': { rate: 2, per: '1h' } } },
    ],
  };
}

function gatewayOpts(gOverride) {
  return Object.assign({
    backends: [h.backend(ctx.sim)],
    workers: 4,
    https: false,
    port_tokens: { secrets: [{ id: 'k1', secret: 'rl-secret-0123456789abcdef0123456789abcdef' }] },
    tenants: tenants.map((t) => ({ id: `tenant-${t}`, keys: [T.keyHash(ctx.k[t])].concat(t === 'h' ? [T.keyHash(ctx.k.h2)] : []), policy: { allow_manual_cleanup: true } })),
  }, RL.rlPlugins(limitsConfig(gOverride)));
}

test.before(async () => {
  ctx.sim = await env.sim({ name: 'rl-local' });
  ctx.k = Object.fromEntries(tenants.map((t) => [t, T.newKey(t)]));
  ctx.k.h2 = T.newKey('h2'); // tenant-h's second key
  ctx.gw = await env.gateway(gatewayOpts({ rate: 10, per: '1h', burst: 10 }));
  ctx.c = Object.fromEntries(tenants.map((t) => [t, T.client(ctx.gw.httpUrl, ctx.k[t])]));
  await RL.awayFromWindowEnd(HOUR, 120000);
}, { timeout: 200000 });

test.after(() => env.cleanup());

const list = (c) => c.get('/v1/sandboxes?pageSize=1');

test('allowed responses carry RateLimit-Policy, RateLimit and RateLimit-Limit/-Remaining/-Reset, one field each, exact syntax', { timeout: 30000 }, env.wrap(async () => {
  for (let i = 0; i < 10; i++) {
    const r = await list(ctx.c.a);
    assert.equal(r.status, 200, r.text);
    for (const f of ['ratelimit-policy', 'ratelimit', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']) {
      assert.equal(RL.fieldCount(r, f), 1, `${f} appears once (request ${i + 1})`);
    }
    assert.equal(RL.fieldCount(r, 'retry-after'), 0, 'no Retry-After on an allowed response');
    assert.deepEqual(RL.parseSfList(RL.field(r, 'ratelimit-policy')), [{ name: 'lifecycle', params: { q: 10, w: 3600 } }]);
    const [state] = RL.parseSfList(RL.field(r, 'ratelimit'));
    assert.equal(state.name, 'lifecycle');
    assert.deepEqual(Object.keys(state.params), ['r', 't']);
    assert.equal(state.params.r, 9 - i, 'r counts down');
    assert.ok(state.params.t >= 1 && state.params.t <= 3600, `t ${state.params.t}`);
    assert.equal(RL.field(r, 'ratelimit-limit'), '10');
    assert.equal(RL.field(r, 'ratelimit-remaining'), String(9 - i));
    assert.equal(RL.field(r, 'ratelimit-reset'), String(state.params.t));
  }
}));

test('the request over the limit: 429 GATEWAY::RATE_LIMITED JSON, exactly one Retry-After, the same wait in RateLimit and RateLimit-Reset', { timeout: 30000 }, env.wrap(async () => {
  const r = await list(ctx.c.a);
  assert.equal(r.status, 429, r.text);
  assert.ok(T.isJsonError(r), r.text);
  assert.equal(r.json.code, 'GATEWAY::RATE_LIMITED');
  assert.match(r.json.message, /rate limit 'lifecycle' exceeded.*tenant-a/);
  assert.equal(RL.fieldCount(r, 'retry-after'), 1, 'exactly one Retry-After');
  const wait = Number(RL.field(r, 'retry-after'));
  assert.ok(Number.isInteger(wait) && wait >= 1 && wait <= 3600, `Retry-After ${wait}`);
  for (const f of ['ratelimit-policy', 'ratelimit', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']) assert.equal(RL.fieldCount(r, f), 1, f);
  assert.deepEqual(RL.parseSfList(RL.field(r, 'ratelimit')), [{ name: 'lifecycle', params: { r: 0, t: wait } }]);
  assert.equal(RL.field(r, 'ratelimit-remaining'), '0');
  assert.equal(RL.field(r, 'ratelimit-reset'), String(wait));
  // curl sees one Retry-After too (another client, another parser)
  const c = await h.curl(['-i', '-H', `OPEN-SANDBOX-API-KEY: ${ctx.k.a}`, `${ctx.gw.httpUrl}/v1/sandboxes`]);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /^HTTP\/1\.1 429/);
  assert.equal((c.stdout.match(/^retry-after:/gim) || []).length, 1, c.stdout);
  const m = await h.metrics(ctx.gw);
  assert.equal(h.metricValue(m, 'sandgate_plugin_ratelimit_refused_total', { tenant: 'tenant-a', limit: 'lifecycle' }), 2);
}));

test('local mode is exact per process: 60 concurrent requests on 4 workers for a limit of 20 -> exactly 20 allowed', { timeout: 30000 }, env.wrap(async () => {
  const agent = new (require('node:http').Agent)({ keepAlive: true, maxSockets: 60 });
  const rs = await RL.burst(60, () => h.request(`${ctx.gw.httpUrl}/v1/sandboxes?pageSize=1`, { headers: { 'OPEN-SANDBOX-API-KEY': ctx.k.c }, agent }));
  agent.destroy();
  const counts = RL.statusCount(rs);
  assert.deepEqual(counts, { 200: 20, 429: 40 }, JSON.stringify(counts));
  const remaining = rs.filter((r) => r.status === 200).map((r) => Number(RL.field(r, 'ratelimit-remaining'))).sort((x, y) => x - y);
  assert.deepEqual(remaining, Array.from({ length: 20 }, (_, i) => i), 'each allowed request saw its own remaining count');
}));

test('a flooding tenant does not affect another tenant', { timeout: 30000 }, env.wrap(async () => {
  const flood = await RL.burst(200, () => list(ctx.c.b), 16);
  assert.deepEqual(RL.statusCount(flood), { 200: 10, 429: 190 });
  const other = await RL.burst(10, () => list(ctx.c.d), 4);
  assert.deepEqual(RL.statusCount(other), { 200: 10 }, 'tenant-d has its own 10');
  assert.equal((await list(ctx.c.d)).status, 429);
}));

test('refused requests are not counted: a tenant flooding a 5/s limit gets requests through again as soon as the window allows', { timeout: 30000 }, env.wrap(async () => {
  const W = 1000;
  const until = Date.now() + 2000;
  const rs = [];
  while (Date.now() < until) rs.push(...await RL.burst(8, () => list(ctx.c.f)));
  const counts = RL.statusCount(rs);
  assert.ok(counts[429] > 50, `the flood was refused: ${JSON.stringify(counts)}`);
  assert.ok(counts[200] >= 10 && counts[200] <= 16, `about 5 per window got through: ${JSON.stringify(counts)}`);
  const last = rs[rs.length - 1].status === 429 ? rs[rs.length - 1] : rs.filter((r) => r.status === 429).pop();
  assert.equal(RL.field(last, 'retry-after'), '1');
  // the window after the flood's last one: counting refusals would keep the previous window at ~100+
  await h.sleep(W - (Date.now() % W) + W + 20);
  const after = await list(ctx.c.f);
  assert.equal(after.status, 200, `after the window: ${after.status} ${after.text}`);
}));

test('per-operation and per-sandbox limits: 2 creates per hour, 3 port requests per sandbox, other sandboxes and routes unaffected', { timeout: 40000 }, env.wrap(async () => {
  const E = ctx.c.e;
  const s1 = await E.create();
  const s2 = await E.create();
  const third = await E.post('/v1/sandboxes', { image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], timeout: 600, resourceLimits: { cpu: '100m', memory: '64Mi' } });
  assert.equal(third.status, 429, third.text);
  assert.equal(third.json.code, 'GATEWAY::RATE_LIMITED');
  assert.match(third.json.message, /'creates'/);
  assert.deepEqual(RL.parseSfList(RL.field(third, 'ratelimit-policy')), [{ name: 'creates', params: { q: 2, w: 3600 } }]);
  assert.equal((await list(E)).status, 200, 'other lifecycle operations still work (tenant-e is unlimited there)');
  assert.equal(RL.fieldCount(await list(E), 'ratelimit'), 0, 'no limit applies to them: no RateLimit fields');
  for (let i = 0; i < 3; i++) {
    const r = await E.get(h.portPath(s1.id, 8080, `/echo/${i}`));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(RL.parseSfList(RL.field(r, 'ratelimit')), [{ name: 'sandbox-port', params: { r: 2 - i, t: RL.parseSfList(RL.field(r, 'ratelimit'))[0].params.t } }]);
  }
  const over = await E.get(h.portPath(s1.id, 8080, '/echo/x'));
  assert.equal(over.status, 429, over.text);
  assert.equal(RL.fieldCount(over, 'retry-after'), 1);
  const other = await E.get(h.portPath(s2.id, 8080, '/echo/y', 'proxy'));
  assert.equal(other.status, 200, `another sandbox has its own count: ${other.text}`);
  // an access token is verified before the chain: the tenant's override applies to token traffic as to key traffic
  const ep = await E.get(`/v1/sandboxes/${s2.id}/endpoints/8080`);
  assert.equal(ep.status, 200, ep.text);
  const tok = ep.json.headers['X-Sandgate-Token'];
  assert.ok(tok, ep.text);
  const byToken = (p) => h.request(`${ctx.gw.httpUrl}${h.portPath(s2.id, 8080, p)}`, { headers: { 'X-Sandgate-Token': tok } });
  for (let i = 0; i < 2; i++) {
    const r = await byToken(`/echo/t${i}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(RL.fieldCount(r, 'ratelimit'), 1, 'the limit applies to token traffic');
  }
  const overTok = await byToken('/echo/t2');
  assert.equal(overTok.status, 429, `the fourth request on s2 (one by key, two by token) is refused: ${overTok.text}`);
  const m = await h.metrics(ctx.gw);
  assert.equal(h.metricValue(m, 'sandgate_plugin_ratelimit_refused_total', { tenant: 'tenant-e', limit: 'sandbox-port' }), 2);
  assert.equal(h.metricValue(m, 'sandgate_plugin_ratelimit_refused_total', { tenant: 'tenant-e', limit: 'creates' }), 1);
}));

test('a limit by [tenant, key]: each key of a tenant has its own count; both limits of a request are in RateLimit-Policy', { timeout: 30000 }, env.wrap(async () => {
  const k1 = ctx.c.h;
  const k2 = T.client(ctx.gw.httpUrl, ctx.k.h2);
  const first = await list(k1);
  assert.equal(first.status, 200);
  assert.deepEqual(RL.parseSfList(RL.field(first, 'ratelimit-policy')).map((p) => p.name), ['lifecycle', 'per-key']);
  const state = RL.parseSfList(RL.field(first, 'ratelimit'));
  assert.deepEqual(state.map((x) => [x.name, x.params.r]), [['lifecycle', 9], ['per-key', 1]]);
  assert.equal(RL.field(first, 'ratelimit-limit'), '2', 'the -Limit/-Remaining/-Reset fields follow the limit closest to refusing');
  assert.equal(RL.field(first, 'ratelimit-remaining'), '1');
  assert.equal((await list(k1)).status, 200);
  const over = await list(k1);
  assert.equal(over.status, 429);
  assert.match(over.json.message, /'per-key'/);
  assert.equal((await list(k2)).status, 200, 'the second key has its own count');
  assert.equal((await list(k2)).status, 200);
  assert.equal((await list(k2)).status, 429);
}));

test('SIGHUP reload keeps the counts and applies a changed limit at once', { timeout: 30000 }, env.wrap(async () => {
  for (let i = 0; i < 4; i++) assert.equal((await list(ctx.c.g)).status, 200);
  const before = await list(ctx.c.g);
  assert.equal(RL.field(before, 'ratelimit-remaining'), '5', '5 used of 10');
  // same window (1 h), limit 10 -> 6: 5 are used, so one more request is allowed
  const { config } = await h.buildConfig(Object.assign({}, gatewayOpts({ rate: 6, per: '1h', burst: 6 }), { ports: ctx.gw.ports }));
  const log = await ctx.gw.reload(config);
  assert.match(log, /reload/i);
  assert.doesNotMatch(log, /fail|error/i, log);
  const one = await list(ctx.c.g);
  assert.equal(one.status, 200, one.text);
  assert.deepEqual(RL.parseSfList(RL.field(one, 'ratelimit-policy')), [{ name: 'lifecycle', params: { q: 6, w: 3600 } }]);
  assert.equal(RL.field(one, 'ratelimit-remaining'), '0');
  const refused = await list(ctx.c.g);
  assert.equal(refused.status, 429, 'the 7th request of the hour is over the new limit of 6');
  // the other tenants' counts survived too
  assert.equal((await list(ctx.c.a)).status, 429, 'tenant-a is still at its limit after the reload');
}));

test('sandgate -t: rate-limit config errors name file:line', { timeout: 20000 }, async () => {
  if (RL.withoutPlugin) return;
  const bad = [
    [{ mode: 'fast', limits: [{ name: 'x', rate: 1 }] }, /mode: must be local or redis/],
    [{ limits: [{ name: 'x', rate: 1, by: ['tenant', 'colour'] }] }, /'colour' is not allowed/],
    [{ limits: [{ name: 'x', rate: 1, operations: ['create'] }] }, /'create' is not allowed/],
    [{ limits: [{ name: 'x' }] }, /neither a rate nor tenants/],
    [{ limits: [{ name: 'x', rate: 1, tenants: { t: { rate: 0 } } }] }, /rate: must be between 1/],
    [{ limits: [{ name: 'x', rate: 1, colour: 'red' }] }, /colour/],
    [{ limits: [{ name: 'Bad Name', rate: 1 }] }, /name: must be 1-32 characters/],
    [{ mode: 'redis', sync_interval: '2s', limits: [{ name: 'x', rate: 10, per: '1s' }] }, /shorter than sync_interval/],
    [{ mode: 'local', sync_interval: '100ms', limits: [{ name: 'x', rate: 10 }] }, /sync_interval: only applies to mode: redis/],
  ];
  for (const [conf, re] of bad) {
    const { config } = await h.buildConfig(Object.assign({ backends: [{ name: 'a', url: 'http://127.0.0.1:9', api_key: 'k' }] },
      T.tenancyPlugins([{ name: 'rate-limit', config: conf }])));
    const file = h.writeConfig(config);
    const r = h.checkConfig(file);
    assert.notEqual(r.code, 0, `accepted: ${JSON.stringify(conf)}`);
    assert.equal(r.signal, null, r.stderr);
    const line = r.stderr.split('\n').find((l) => re.test(l));
    assert.ok(line, `no error matching ${re} in:\n${r.stderr}`);
    assert.match(line, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: `), line);
    fs.unlinkSync(file);
  }
});

test('SIGTERM: clean exit (no leak under ASan)', { timeout: 30000 }, env.wrap(async () => {
  await ctx.gw.stop();
}));
