'use strict';
// Reload under load (issue 11, section 3): 20 SIGHUPs, alternating two configs (a response-header
// plugin on and off), during a 30 s wrk run (32 keep-alive connections) through the proxy path
// give 0 failed requests: no non-2xx answer and no socket error (connect, read, write, timeout).
// Without wrk, the Node keep-alive loop of lib/load.js does the same count.
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const L = require('../lib/load');

const env = h.env();
const DURATION_S = 30;
const RELOADS = 20;

test.after(() => env.cleanup());

test(`${RELOADS} SIGHUPs during a ${DURATION_S} s load run: 0 failed requests`, { timeout: (DURATION_S + 60) * 1000 }, env.wrap(async (t) => {
  const sim = await env.sim({ name: 'reload-load' });
  const sbx = await h.createSandbox(sim);
  const gw = await env.gateway({ https: false, backends: [h.backend(sim)], plugins: [{ name: 'request-id' }] });
  const stamped = JSON.parse(JSON.stringify(gw.config));
  stamped.plugins = [{ name: 'request-id' }, { name: 'header-stamp', path: h.PLUGIN_SO, config: { header: 'x-reload-stamp' } }];
  const plain = JSON.parse(JSON.stringify(gw.config));
  const url = `${gw.httpUrl}${h.portPath(sbx, 8080, '/echo/load')}`;
  assert.equal((await h.request(url)).status, 200);

  const wrk = L.wrkPath();
  const load = wrk
    ? L.runWrk(url, { threads: 1, connections: 32, durationS: DURATION_S })
    : L.keepAliveLoad(url, { connections: 32, durationMs: DURATION_S * 1000 }).done;
  // the reloads spread over the run, leaving 2 s of load before the first and after the last
  const t0 = Date.now();
  const logs = [];
  for (let i = 0; i < RELOADS; i++) {
    const due = 2000 + (i * (DURATION_S - 4) * 1000) / (RELOADS - 1);
    await h.sleep(Math.max(0, due - (Date.now() - t0)));
    logs.push(await gw.reload(i % 2 === 0 ? stamped : plain));
  }
  const r = await load;
  const reloaded = logs.filter((l) => /configuration reloaded/.test(l)).length;
  if (wrk) {
    t.diagnostic(`wrk: ${r.requests} requests, ${r.rps} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, non-2xx/3xx ${r.non2xx3xx}, socket errors ${JSON.stringify(r.socketErrors)}; ${reloaded} reloads`);
    assert.equal(r.non2xx3xx, 0, `non-2xx/3xx answers during the reloads\n${r.raw}`);
    assert.deepEqual(r.socketErrors, { connect: 0, read: 0, write: 0, timeout: 0 }, `socket errors during the reloads\n${r.raw}`);
    assert.ok(r.requests > DURATION_S * 100, `only ${r.requests} requests in ${DURATION_S} s\n${r.raw}`);
  } else {
    t.diagnostic(`node load (no wrk): ${JSON.stringify(r)}; ${reloaded} reloads`);
    assert.equal(r.non2xx, 0, JSON.stringify(r));
    assert.equal(r.errors, 0, JSON.stringify(r));
    assert.ok(r.ok > DURATION_S * 100, JSON.stringify(r));
  }
  assert.equal(reloaded, RELOADS, `every SIGHUP reloaded:\n${logs.join('\n')}`);
  // the last config (plain) is in force
  const last = await h.request(url);
  assert.equal(last.status, 200);
  assert.equal(last.headers['x-reload-stamp'], undefined);
  await gw.stop();
}));
