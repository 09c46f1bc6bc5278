'use strict';
// Issue 7: a client that sends the tenant key only to the lifecycle API, as the official Python SDK (and so the Dify
// plugin) does, completes the whole flow through the gateway over TLS: execd and a sandbox's own ports are
// authenticated by the access token the gateway put into Endpoint.headers. Both store modes (memory and a real
// redis-server), with and without use_server_proxy. The backend's endpoints require their own secure-access header
// (simulator --endpoint-header), which the gateway applies and never shows. See sdk-token-flow.js for the client
// and the Python SDK source it follows.
//
// SANDGATE_OLD_BIN (e.g. /work/main/build/sandgate) runs the same client against a binary without tokens and
// expects it to fail while creating (the readiness ping gets 401).
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const env = h.env();
const ctx = {};
const SECURE = 'OpenSandbox-Secure-Access';

test.before(async () => {
  const args = ['--ready-delay-ms', '200', '--transition-delay-ms', '100', '--command-grace-ms', '200',
    '--endpoint-header', `${SECURE}=backend-only-${Date.now()}`];
  ctx.sim = await env.sim({ name: 'tok-a', args });
  ctx.key = T.newKey('tok');
  ctx.tenants = [{ id: 'tok-tenant', keys: [T.keyHash(ctx.key)], policy: { allowed_images: ['python:*'], max_timeout: '1h' } }];
  ctx.store = await T.storeFor('redis');
  ctx.gwMem = await T.startGateway({ backends: [h.backend(ctx.sim)], tenants: ctx.tenants, https: true });
  env.gateways.push(ctx.gwMem);
  if (!ctx.store.skip) {
    ctx.gwRedis = await T.startGateway({ backends: [h.backend(ctx.sim)], tenants: ctx.tenants, https: true, redis: ctx.store.conf });
    env.gateways.push(ctx.gwRedis);
  }
}, { timeout: 60000 });

test.after(async () => { await env.cleanup(); if (ctx.store && ctx.store.redis) await ctx.store.redis.stop(); });

function runFlow(gw, serverProxy, timeoutMs) {
  return T.runNodeChild(path.join(__dirname, 'sdk-token-flow.js'), {
    SG_DOMAIN: `127.0.0.1:${gw.ports.https}`, SG_PROTOCOL: 'https', SG_KEY: ctx.key, SG_SERVER_PROXY: serverProxy ? '1' : '0',
    SG_SECURE_HEADER: SECURE, NODE_EXTRA_CA_CERTS: h.certs().ca,
  }, timeoutMs);
}

const ALL = ['created', 'streamed', 'nonzero-exit', 'files', 'endpoint', 'sse', 'websocket', 'lifecycle', 'killed'];

async function assertNoneLeft() {
  const left = (await T.simState(ctx.sim)).sandboxes.filter((s) => s.metadata[T.TAG] === 'tok-tenant');
  assert.deepEqual(left.map((s) => `${s.id} ${s.state}`), []);
}

for (const [store, key] of [['memory', 'gwMem'], ['redis', 'gwRedis']]) {
  for (const sp of [false, true]) {
    test(`Python-SDK-like client over TLS, ${store} store, use_server_proxy=${sp}: the whole flow on tokens`, { timeout: 90000 }, env.wrap(async (t) => {
      if (store === 'redis' && ctx.store.skip) { t.skip(ctx.store.skip); return; }
      const r = await runFlow(ctx[key], sp, 80000);
      assert.equal(r.code, 0, `flow failed after steps [${r.steps.map((s) => s.step)}]:\n${r.stderr}\n--- sandgate ---\n${ctx[key].stderrTail(3000)}`);
      assert.deepEqual(r.steps.map((s) => s.step), ALL);
      await assertNoneLeft();
    }));
  }
}

test('the same client against a gateway without tokens (SANDGATE_OLD_BIN) never becomes ready', { timeout: 60000 }, env.wrap(async (t) => {
  const old = process.env.SANDGATE_OLD_BIN;
  if (!old || !fs.existsSync(old)) { t.skip('SANDGATE_OLD_BIN not set'); return; }
  const { config, ports } = await h.buildConfig(Object.assign({}, T.tenancyPlugins(), { backends: [h.backend(ctx.sim)], tenants: ctx.tenants, https: true }));
  const file = h.writeConfig(config);
  const proc = spawn(old, ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  T.children.add(proc);
  try {
    await h.waitFor(async () => { try { return (await h.request(`http://127.0.0.1:${ports.http}/health`)).status === 200; } catch (_) { return false; } }, { timeoutMs: 10000, what: 'old gateway' });
    const r = await runFlow({ ports }, false, 50000);
    assert.notEqual(r.code, 0);
    assert.deepEqual(r.steps.map((s) => s.step), [], 'the old gateway got past create');
    process.stderr.write(`[old binary] ${r.stderr.split('\n').slice(0, 3).join(' | ')}\n`);
  } finally {
    proc.kill('SIGKILL');
    T.children.delete(proc);
    const left = (await T.simState(ctx.sim)).sandboxes.filter((s) => s.metadata[T.TAG] === 'tok-tenant' && s.state !== 'Terminated');
    for (const s of left) await h.request(`${ctx.sim.url}/v1/sandboxes/${s.id}`, { method: 'DELETE' }).catch(() => {});
  }
}));
