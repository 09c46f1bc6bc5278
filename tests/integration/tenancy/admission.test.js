'use strict';
// Admission policy (issue 6 item 2) through a real gateway and the simulator: every create body
// that would take over the backend host gets 403 with its GATEWAY::ADMISSION_* code and never
// reaches a backend (the simulator's request log and sandbox list are checked); what the official
// SDKs send on an ordinary create passes under the defaults (the JS SDK itself, and the Python
// SDK's body); a tenant allowed one host prefix gets it, forced read-only in what reaches the
// backend; metadata patches and the networkpolicy route of newer servers are checked too.
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const env = h.env();
const ctx = {};
const BASE = { image: { uri: 'python:3.11' }, entrypoint: ['tail', '-f', '/dev/null'], timeout: 600, resourceLimits: { cpu: '500m', memory: '512Mi' } };
const body = (over) => Object.assign({}, BASE, over || {});

test.before(async () => {
  ctx.sim = await env.sim({ name: 'adm' });
  ctx.kA = T.newKey('team-a');
  ctx.kB = T.newKey('team-b');
  ctx.gw = await T.startGateway({
    backends: [h.backend(ctx.sim)],
    tenants: [
      {
        id: 'team-a', keys: [T.keyHash(ctx.kA)],
        admission: {
          host_path_prefixes: ['/srv/demo-data'],
          entrypoints: ['tail -f /dev/null', 'python /app/main.py'],
          egress_allow: ['*.pypi.org'],
          default_network_policy: { defaultAction: 'deny', egress: [{ action: 'allow', target: 'files.pypi.org' }] },
          max_metadata_keys: 3,
        },
      },
      { id: 'team-b', keys: [T.keyHash(ctx.kB)] }, // the defaults
    ],
  });
  env.gateways.push(ctx.gw);
  ctx.a = T.client(ctx.gw.httpUrl, ctx.kA);
  ctx.b = T.client(ctx.gw.httpUrl, ctx.kB);
}, { timeout: 60000 });

test.after(() => env.cleanup());

async function lastSeq() { return (await ctx.sim.requests('/__none__')).lastSeq; }
async function requestsSince(since, prefix) { return (await ctx.sim.requests(prefix || '/v1/', since)).items; }
async function sandboxIds() { return (await T.simState(ctx.sim)).sandboxes.map((s) => s.id).sort(); }

const ATTACKS = [
  ['host mount of /', { volumes: [{ name: 'root', host: { path: '/' }, mountPath: '/host' }] }, 'GATEWAY::ADMISSION_HOST_VOLUME', /host_path_prefixes/, "'/'"],
  ['host mount of /etc', { volumes: [{ name: 'etc', host: { path: '/etc' }, mountPath: '/etc-host', readOnly: true }] }, 'GATEWAY::ADMISSION_HOST_VOLUME', /host_path_prefixes/, "'/etc'"],
  ['docker socket', { volumes: [{ name: 'sock', host: { path: '/var/run/docker.sock' }, mountPath: '/var/run/docker.sock' }] }, 'GATEWAY::ADMISSION_HOST_VOLUME', /host_path_prefixes/, '/var/run/docker.sock'],
  ['pvc naming any claim', { volumes: [{ name: 'data', pvc: { claimName: 'team-a-data' }, mountPath: '/data' }] }, 'GATEWAY::ADMISSION_PVC_VOLUME', /pvc_claims/, 'team-a-data'],
  ['networkPolicy allow-all', { networkPolicy: { defaultAction: 'allow' } }, 'GATEWAY::ADMISSION_NETWORK_POLICY', /network_allow_all/, "'allow'"],
  ['networkPolicy allow *', { networkPolicy: { defaultAction: 'deny', egress: [{ action: 'allow', target: '*' }] } }, 'GATEWAY::ADMISSION_NETWORK_POLICY', /egress_allow/, "'*'"],
  ['credentialProxy', { networkPolicy: { defaultAction: 'deny' }, credentialProxy: { enabled: true } }, 'GATEWAY::ADMISSION_CREDENTIAL_PROXY', /allow_credential_proxy/, 'credentialProxy'],
  ['env LD_PRELOAD', { env: { LD_PRELOAD: '/tmp/evil.so' } }, 'GATEWAY::ADMISSION_ENV', /env_deny/, 'LD_PRELOAD'],
  ['extensions', { extensions: { 'storage.id': 'x' } }, 'GATEWAY::ADMISSION_EXTENSIONS', /extension_keys/, 'storage.id'],
  ['platform', { platform: { os: 'linux', arch: 'amd64' } }, 'GATEWAY::ADMISSION_PLATFORM', /platform_os/, "'linux'"],
  ['gpu', { resourceLimits: { cpu: '500m', memory: '512Mi', 'nvidia.com/gpu': '8' } }, 'GATEWAY::ADMISSION_RESOURCE', /max_resources/, 'nvidia.com/gpu'],
  ['unknown field', { hostNetwork: true }, 'GATEWAY::ADMISSION_UNKNOWN_FIELD', /unknown_fields/, 'hostNetwork'],
  ['.. in subPath', { volumes: [{ name: 'up', pvc: { claimName: 'x' }, mountPath: '/up', subPath: '../../../etc' }] }, 'GATEWAY::ADMISSION_VOLUME_PATH', /'\.\.'/, '../../../etc'],
  ['registry credentials', { image: { uri: 'python:3.11', auth: { username: 'u', password: 'p' } } }, 'GATEWAY::ADMISSION_IMAGE_AUTH', /allow_image_auth/, 'image.auth'],
  ['ossfs bucket', { volumes: [{ name: 'o', ossfs: { bucket: 'any-bucket', endpoint: 'oss.example.com', accessKeyId: 'a', accessKeySecret: 's' }, mountPath: '/o' }] }, 'GATEWAY::ADMISSION_OSSFS_VOLUME', /ossfs_buckets/, 'any-bucket'],
];

test('every attack of issue 6 item 2 gets 403 with its code under the defaults, and the backend sees no create', { timeout: 30000 }, env.wrap(async () => {
  const since = await lastSeq();
  const before = await sandboxIds();
  for (const [what, over, code, rule, value] of ATTACKS) {
    const r = await ctx.b.post('/v1/sandboxes', body(over));
    assert.equal(r.status, 403, `${what}: ${r.status} ${r.text}`);
    assert.ok(T.isJsonError(r), `${what}: ${r.text}`);
    assert.equal(r.json.code, code, `${what}: ${r.text}`);
    assert.match(r.json.message, rule, `${what}: the message names the rule: ${r.json.message}`);
    assert.ok(r.json.message.includes(value), `${what}: the message names the value ${value}: ${r.json.message}`);
    assert.match(r.json.message, /team-b/, what);
  }
  assert.deepEqual(await requestsSince(since), [], 'a refused create reached the backend');
  assert.deepEqual(await sandboxIds(), before);
}));

test('a restricted entrypoint (nsenter) and a `..` host path are refused for team-a, nothing reaches the backend', { timeout: 30000 }, env.wrap(async () => {
  const since = await lastSeq();
  const cases = [
    [{ entrypoint: ['nsenter', '-t', '1', '-m', '-u', '-i', '-n', '-p', 'sh'] }, 'GATEWAY::ADMISSION_ENTRYPOINT', /entrypoints/],
    [{ volumes: [{ name: 'd', host: { path: '/srv/demo-data/../../etc' }, mountPath: '/d' }] }, 'GATEWAY::ADMISSION_VOLUME_PATH', /'\.\.'/],
    [{ volumes: [{ name: 'd', host: { path: '/srv/demo-data-evil' }, mountPath: '/d' }] }, 'GATEWAY::ADMISSION_HOST_VOLUME', /tenant team-a \(admission.host_path_prefixes: \/srv\/demo-data\)/],
    [{ volumes: [{ name: 'd', host: { path: '/srv/demo-data' }, mountPath: '/d', subPath: '/etc' }] }, 'GATEWAY::ADMISSION_VOLUME_PATH', /relative/],
    [{ networkPolicy: { defaultAction: 'deny', egress: [{ action: 'allow', target: 'evil.example.com' }] } }, 'GATEWAY::ADMISSION_NETWORK_POLICY', /evil\.example\.com/],
    [{ metadata: { a: '1', b: '2', c: '3', d: '4' } }, 'GATEWAY::ADMISSION_METADATA', /max_metadata_keys/],
  ];
  for (const [over, code, pattern] of cases) {
    const r = await ctx.a.post('/v1/sandboxes', body(over));
    assert.equal(r.status, 403, `${JSON.stringify(over)}: ${r.status} ${r.text}`);
    assert.equal(r.json.code, code, r.text);
    assert.match(r.json.message, pattern, r.json.message);
  }
  assert.deepEqual(await requestsSince(since), []);
}));

test("team-a's read-only host prefix passes, forced read-only in what reaches the backend; its default network policy is inserted", { timeout: 30000 }, env.wrap(async () => {
  const sb = await ctx.a.create(body({ volumes: [{ name: 'demo', host: { path: '/srv/demo-data/reports' }, mountPath: '/data', readOnly: false }] }));
  const seen = (await T.simState(ctx.sim)).sandboxes.find((s) => s.id === sb.id);
  assert.ok(seen, 'the sandbox exists on the backend');
  assert.deepEqual(seen.volumes, [{ name: 'demo', host: { path: '/srv/demo-data/reports' }, mountPath: '/data', readOnly: true }]);
  assert.deepEqual(seen.networkPolicy, { defaultAction: 'deny', egress: [{ action: 'allow', target: 'files.pypi.org' }] });
  assert.equal(seen.metadata[T.TAG], 'team-a');
  // a request may narrow the allowlist: its own policy replaces the default
  const narrow = { defaultAction: 'deny', egress: [{ action: 'allow', target: 'pypi.pypi.org' }, { action: 'deny', target: '*' }] };
  const sb2 = await ctx.a.create(body({ networkPolicy: narrow, entrypoint: ['python', '/app/main.py'] }), false);
  assert.deepEqual((await T.simState(ctx.sim)).sandboxes.find((s) => s.id === sb2.id).networkPolicy, narrow);
  for (const id of [sb.id, sb2.id]) assert.equal((await ctx.a.del(`/v1/sandboxes/${id}`)).status, 204);
}));

test('the Python SDK create body passes under the defaults', { timeout: 30000 }, env.wrap(async () => {
  // CreateSandboxRequest.to_dict() of opensandbox (sdks/sandbox/python) for Sandbox.create("python:3.11"):
  // empty env/metadata/extensions are left out, resource defaults to cpu 1 / memory 2Gi, timeout 10 min.
  const py = { image: { uri: 'python:3.11' }, resourceLimits: { cpu: '1', memory: '2Gi' }, entrypoint: ['tail', '-f', '/dev/null'], timeout: 600 };
  const r = await ctx.b.post('/v1/sandboxes', py);
  assert.equal(r.status, 202, r.text);
  // and with env, metadata and resourceRequests as the newer Python SDK can send them
  const r2 = await ctx.b.post('/v1/sandboxes', Object.assign({}, py, { env: { DEBUG: 'true' }, metadata: { project: 'x' }, resourceRequests: { cpu: '500m', memory: '1Gi' } }));
  assert.equal(r2.status, 202, r2.text);
  for (const id of [r.json.id, r2.json.id]) assert.equal((await ctx.b.del(`/v1/sandboxes/${id}`)).status, 204);
}));

test("the JS SDK's default create passes under the defaults", { timeout: 60000 }, env.wrap(async () => {
  const { Sandbox, ConnectionConfig } = require('@alibaba-group/opensandbox');
  const since = await lastSeq();
  const sb = await Sandbox.create({
    connectionConfig: new ConnectionConfig({ domain: ctx.gw.httpUrl.replace(/^http:\/\//, ''), protocol: 'http', apiKey: ctx.kB, disableMetrics: true, requestTimeoutSeconds: 20 }),
    image: 'python:3.11',
    skipHealthCheck: true,
  });
  try {
    const posts = (await requestsSince(since, '/v1/sandboxes')).filter((e) => e.method === 'POST' && e.url === '/v1/sandboxes');
    assert.equal(posts.length, 1, 'the SDK create reached the backend');
    assert.equal(posts[0].status, 202);
    const info = await sb.getInfo();
    assert.equal(info.id, sb.id);
  } finally {
    await sb.kill();
    await sb.close();
  }
}));

test('metadata PATCH: the tenant tag and the key count are checked; the networkpolicy route is tenant-aware and checked', { timeout: 30000 }, env.wrap(async () => {
  const sb = await ctx.a.create(body(), false);
  const since = await lastSeq();
  let r = await ctx.a.patch(`/v1/sandboxes/${sb.id}/metadata`, { [T.TAG]: 'team-b' });
  assert.equal(r.status, 403, r.text);
  assert.equal(r.json.code, 'GATEWAY::RESERVED_METADATA');
  r = await ctx.a.patch(`/v1/sandboxes/${sb.id}/metadata`, { a: '1', b: '2', c: '3', d: null });
  assert.equal(r.status, 403, r.text);
  assert.equal(r.json.code, 'GATEWAY::ADMISSION_METADATA');
  r = await ctx.a.req('PATCH', `/v1/sandboxes/${sb.id}/networkpolicy`, { json: { defaultAction: 'allow' } });
  assert.equal(r.status, 403, r.text);
  assert.equal(r.json.code, 'GATEWAY::ADMISSION_NETWORK_POLICY');
  r = await ctx.a.req('PUT', `/v1/sandboxes/${sb.id}/networkpolicy`, { json: { defaultAction: 'deny', egress: [{ action: 'allow', target: 'evil.example.com' }] } });
  assert.equal(r.status, 403, r.text);
  assert.equal(r.json.code, 'GATEWAY::ADMISSION_NETWORK_POLICY');
  r = await ctx.a.req('PATCH', `/v1/sandboxes/${sb.id}/networkpolicy`, { json: {} });
  assert.equal(r.status, 403, r.text);
  r = await ctx.a.del(`/v1/sandboxes/${sb.id}/networkpolicy`);
  assert.equal(r.status, 403, r.text);
  assert.equal(r.json.code, 'GATEWAY::ADMISSION_NETWORK_POLICY');
  // another tenant's sandbox is the usual 404, before any admission
  r = await ctx.b.req('PATCH', `/v1/sandboxes/${sb.id}/networkpolicy`, { json: { defaultAction: 'deny' } });
  assert.equal(r.status, 404, r.text);
  assert.deepEqual(r.json, T.sandboxNotFound(sb.id));
  // (B's lookup of A's id probes the backends with a GET, exactly as for an unknown id: docs/ARCHITECTURE.md, "Probing ids")
  const changes = async () => (await requestsSince(since)).filter((e) => e.method !== 'GET');
  assert.deepEqual(await changes(), [], 'a refused change reached the backend');

  // admitted changes are forwarded to the owning backend
  r = await ctx.a.patch(`/v1/sandboxes/${sb.id}/metadata`, { a: '1', b: null });
  assert.equal(r.status, 200, r.text);
  const np = { defaultAction: 'deny', egress: [{ action: 'allow', target: 'x.pypi.org' }] };
  r = await ctx.a.req('PATCH', `/v1/sandboxes/${sb.id}/networkpolicy`, { json: np });
  const seen = (await changes()).map((e) => `${e.method} ${e.url}`);
  assert.deepEqual(seen, [`PATCH /v1/sandboxes/${sb.id}/metadata`, `PATCH /v1/sandboxes/${sb.id}/networkpolicy`]);
  // the simulator (like the OSS server of tests/specs) has no such route: its 404 is relayed as the sandbox's
  assert.equal(r.status, 404, r.text);
  assert.equal((await ctx.a.del(`/v1/sandboxes/${sb.id}`)).status, 204);
}));
