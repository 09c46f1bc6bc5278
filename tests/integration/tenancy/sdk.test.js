'use strict';
// The official OpenSandbox JS SDK (@alibaba-group/opensandbox) against sandgate with a tenant key:
// create, wait ready, streaming command output, files, endpoints (the gateway's address), pause
// (wait for Paused) / resume, renew, list, kill — over plain HTTP and over TLS (the test CA trusted
// through NODE_EXTRA_CA_CERTS in a child process, see sdk-flow.js), plus the server-proxy mode.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const env = h.env();
const ctx = {};

test.before(async () => {
  ctx.sim = await env.sim({ name: 'sdk-a', args: ['--ready-delay-ms', '300', '--transition-delay-ms', '100', '--command-grace-ms', '200'] });
  ctx.sim2 = await env.sim({ name: 'sdk-b', args: ['--ready-delay-ms', '300', '--transition-delay-ms', '100', '--command-grace-ms', '200'] });
  ctx.kA = T.newKey('sdk');
  ctx.kB = T.newKey('other');
  ctx.gw = await T.startGateway({
    backends: [h.backend(ctx.sim), h.backend(ctx.sim2)],
    tenants: [
      { id: 'sdk-tenant', keys: [T.keyHash(ctx.kA)], policy: { allowed_images: ['python:*'], max_timeout: '1h', max_cpu: '2', max_memory: '4Gi' } },
      { id: 'other-tenant', keys: [T.keyHash(ctx.kB)] },
    ],
  });
  env.gateways.push(ctx.gw);
}, { timeout: 60000 });

test.after(() => env.cleanup());

function runFlow(extraEnv, timeoutMs) {
  return T.runNodeChild(path.join(__dirname, 'sdk-flow.js'), Object.assign({ SG_KEY: ctx.kA, SG_OTHER_KEY: ctx.kB }, extraEnv), timeoutMs);
}

const ALL_STEPS = ['created', 'streamed', 'files', 'endpoints', 'pause-resume', 'renewed', 'listed', 'killed'];

async function assertNoSandboxLeft() {
  const left = (await T.simState(ctx.sim)).sandboxes.concat((await T.simState(ctx.sim2)).sandboxes).filter((s) => s.metadata[T.TAG] === 'sdk-tenant');
  assert.deepEqual(left.map((s) => `${s.id} ${s.state}`), [], 'the SDK flow left sandboxes behind');
}

test('SDK over plain HTTP: the whole flow with a tenant key', { timeout: 90000 }, env.wrap(async () => {
  const r = await runFlow({ SG_DOMAIN: `127.0.0.1:${ctx.gw.ports.http}`, SG_PROTOCOL: 'http', SG_FLOW: 'full' }, 80000);
  assert.equal(r.code, 0, `SDK flow failed after steps [${r.steps.map((s) => s.step)}]:\n${r.stderr}`);
  assert.deepEqual(r.steps.map((s) => s.step), ALL_STEPS);
  const created = r.steps[0];
  const all = await T.allSandboxes([ctx.sim, ctx.sim2]);
  assert.equal(all[created.id], undefined, 'killed sandbox still on a backend');
  await assertNoSandboxLeft();
}));

test('SDK over TLS (test CA via NODE_EXTRA_CA_CERTS): the whole flow with a tenant key', { timeout: 90000 }, env.wrap(async () => {
  const r = await runFlow({ SG_DOMAIN: `127.0.0.1:${ctx.gw.ports.https}`, SG_PROTOCOL: 'https', SG_FLOW: 'full', NODE_EXTRA_CA_CERTS: h.certs().ca }, 80000);
  assert.equal(r.code, 0, `SDK flow over TLS failed after steps [${r.steps.map((s) => s.step)}]:\n${r.stderr}`);
  assert.deepEqual(r.steps.map((s) => s.step), ALL_STEPS);
  await assertNoSandboxLeft();
}));

test('SDK with useServerProxy (execd through /v1/sandboxes/{id}/proxy/44772), HTTP and TLS', { timeout: 60000 }, env.wrap(async () => {
  for (const [proto, port, extra] of [['http', ctx.gw.ports.http, {}], ['https', ctx.gw.ports.https, { NODE_EXTRA_CA_CERTS: h.certs().ca }]]) {
    const r = await runFlow(Object.assign({ SG_DOMAIN: `127.0.0.1:${port}`, SG_PROTOCOL: proto, SG_FLOW: 'server-proxy' }, extra), 40000);
    assert.equal(r.code, 0, `${proto}: ${r.stderr}`);
    assert.deepEqual(r.steps.map((s) => s.step), ['server-proxy']);
  }
  await assertNoSandboxLeft();
}));

test('SDK: a policy refusal surfaces as the gateway\'s error to the SDK user', { timeout: 30000 }, env.wrap(async () => {
  // Same flow helper is not needed: the SDK is used in-process over plain HTTP.
  process.env.OPENSANDBOX_DISABLE_METRICS = '1';
  const { ConnectionConfig, Sandbox, SandboxApiException } = require('@alibaba-group/opensandbox');
  const conn = new ConnectionConfig({ domain: `127.0.0.1:${ctx.gw.ports.http}`, protocol: 'http', apiKey: ctx.kA, requestTimeoutSeconds: 10, disableMetrics: true });
  await assert.rejects(
    Sandbox.create({ connectionConfig: conn, image: 'ubuntu:22.04', timeoutSeconds: 600, readyTimeoutSeconds: 5 }),
    (e) => e instanceof SandboxApiException && e.statusCode === 403 && /IMAGE_NOT_ALLOWED|allowed_images/.test(JSON.stringify(e) + e.message),
  );
  const bad = new ConnectionConfig({ domain: `127.0.0.1:${ctx.gw.ports.http}`, protocol: 'http', apiKey: 'not-a-key', requestTimeoutSeconds: 10, disableMetrics: true });
  await assert.rejects(
    Sandbox.create({ connectionConfig: bad, image: 'python:3.11', timeoutSeconds: 600, readyTimeoutSeconds: 5 }),
    (e) => e instanceof SandboxApiException && e.statusCode === 401,
  );
}));
