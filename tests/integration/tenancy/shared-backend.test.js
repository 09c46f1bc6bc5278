'use strict';
// One tenant cannot take a shared backend down (issue 6, item 3). The backend answers 501 to every
// diagnostics call with a scope, as the OSS server does (simulator --diagnostics 501). Tenant B loops
// such calls; tenant A's requests on the same backend, made at the same time, must all succeed, and
// the backend must stay up: passive health counts transport failures only (docs/CONFIG.md).
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const env = h.env();
test.after(() => env.cleanup());

const LOOP_MS = Number(process.env.SANDGATE_IT_SHARED_BACKEND_MS || 8000);

test('tenant B looping a 501-producing call never makes tenant A fail on the shared backend', { timeout: 60000 }, env.wrap(async (t) => {
  const sim = await env.sim({ name: 'shared-501', args: ['--diagnostics', '501'] });
  const kA = T.newKey('a');
  const kB = T.newKey('b');
  const health = { interval: '1s', timeout: '500ms', healthy_threshold: 1, unhealthy_threshold: 3 };
  const gw = await T.startGateway({
    backends: [h.backend(sim)],
    tenants: [
      { id: 'tenant-a', keys: [T.keyHash(kA)], policy: { allow_manual_cleanup: true } },
      { id: 'tenant-b', keys: [T.keyHash(kB)], policy: { allow_manual_cleanup: true } },
    ],
    health_check: health,
  });
  env.gateways.push(gw);
  const A = T.client(gw.httpUrl, kA);
  const B = T.client(gw.httpUrl, kB);
  const aId = (await A.create()).id;
  const bId = (await B.create()).id;

  const one = await B.get(`/v1/sandboxes/${bId}/diagnostics/logs?scope=container`);
  assert.equal(one.status, 501, `the backend's 501 is relayed to B: ${one.text}`);

  const until = Date.now() + LOOP_MS;
  const b = { calls: 0, statuses: {} };
  const a = { calls: 0, failures: [] };
  const loopB = async () => {
    while (Date.now() < until) {
      const r = await B.get(`/v1/sandboxes/${bId}/diagnostics/logs?scope=container`);
      b.calls++;
      b.statuses[r.status] = (b.statuses[r.status] || 0) + 1;
      await h.sleep(5);
    }
  };
  const loopA = async () => {
    const paths = [`/v1/sandboxes/${aId}`, '/v1/sandboxes', `/v1/sandboxes/${aId}/endpoints/8080`, `/sandboxes/${aId}/port/8080/echo/a`];
    let i = 0;
    while (Date.now() < until) {
      const p = paths[i++ % paths.length];
      const r = await A.get(p);
      a.calls++;
      if (r.status !== 200) a.failures.push(`${p}: ${r.status} ${r.text.slice(0, 200)}`);
      await h.sleep(100);
    }
  };
  await Promise.all([loopB(), loopB(), loopB(), loopB(), loopA()]);
  t.diagnostic(`B: ${b.calls} calls ${JSON.stringify(b.statuses)}; A: ${a.calls} calls, ${a.failures.length} failed`);
  assert.ok(b.calls >= 20 * health.unhealthy_threshold, `B made only ${b.calls} calls`);
  assert.deepEqual(a.failures, [], `tenant A's requests failed while B looped 501s (${a.failures.length} of ${a.calls})`);
  assert.ok(a.calls >= 20, `A made only ${a.calls} calls`);
  assert.deepEqual(Object.keys(b.statuses), ['501'], `B gets the backend's 501 every time: ${JSON.stringify(b.statuses)}`);
  const adm = (await h.admin(gw, '/admin/v1/backends')).json.backends.find((x) => x.name === 'shared-501');
  assert.equal(adm.state, 'up', JSON.stringify(adm));
  assert.equal(adm.failures_total, 0, JSON.stringify(adm));
  assert.doesNotMatch(gw.stderr(), /backend shared-501: up -> down/);
  await gw.stop(); // exit code 0 (a leak or memory error under ASan fails here)
}));
