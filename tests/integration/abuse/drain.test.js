'use strict';
// Drain (issue 11, section 3): SIGTERM during 100 MB downloads (HTTP/1.1 with Content-Length, and
// HTTP/2 over TLS) read at ~20 MB/s (the last 5 MB at full speed): both finish complete and intact within
// limits.graceful_shutdown_timeout, new connections are refused from soon after the signal until
// the exit, and the process exits 0 once they are done (not at the timeout).
// operations.test.js covers the drain of SSE streams; this file covers a long transfer.
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const L = require('../lib/load');

const env = h.env();
const SIZE = 100 * 1024 * 1024;
const RATE = 20 * 1024 * 1024;
const GRACE_MS = 12000;

test.after(() => env.cleanup());

test('SIGTERM during 100 MB downloads (HTTP/1.1, HTTP/2): complete within graceful_shutdown_timeout, new connections refused, exit 0', { timeout: 60000 }, env.wrap(async (t) => {
  const sim = await env.sim({ name: 'drain-dl' });
  const sbx = await h.createSandbox(sim);
  const gw = await env.gateway({ backends: [h.backend(sim)], plugins: [], limits: { graceful_shutdown_timeout: `${GRACE_MS}ms` } });
  const p = h.portPath(sbx, 8080, `/bytes/${SIZE}`);
  // read at RATE until the last 5 MB, then at full speed: a Node HTTP/2 stream paused when the connection
  // closes (after the last stream ended, which the drain does) loses what it buffered but had not emitted
  const o = { rate: RATE, rateBytes: SIZE - 5 * 1024 * 1024, timeoutMs: 30000 };
  const dls = [L.stream(gw, 'h1', p, {}, o), L.stream(gw, 'h2', p, {}, o)];
  await Promise.all(dls.map((d) => d.started));
  await h.sleep(1000); // ~20 MB in
  const termAt = Date.now();
  gw.proc.kill('SIGTERM');
  await h.waitFor(async () => (await h.connectRefused(gw.ports.http)) && (await h.connectRefused(gw.ports.https)),
    { timeoutMs: 1500, intervalMs: 50, what: 'new connections to be refused after SIGTERM' });
  const refusedAfter = Date.now() - termAt;
  // refused for as long as the downloads run
  let checks = 0;
  let accepted = 0;
  let finished = false;
  const results = Promise.all(dls.map((d) => d.done)).then((r) => { finished = true; return r; });
  while (!finished && gw.alive()) {
    if (!(await h.connectRefused(gw.ports.http))) accepted += 1;
    checks += 1;
    await h.sleep(200);
  }
  const [a, b] = await results;
  const exit = await Promise.race([gw.exited, h.sleep(GRACE_MS + 3000).then(() => null)]);
  const exitAfter = Date.now() - termAt;
  for (const r of [a, b]) t.diagnostic(`${r.proto}: ${r.bytes} bytes (content-length ${r.contentLength}) in ${r.ms} ms, ended ${r.ended}, error ${r.error}, rst ${r.rstCode}, goaway ${r.goaway}, buffered at session close ${r.bufferedAtSessionClose}, finished ${r.endAt - termAt} ms after SIGTERM`);
  t.diagnostic(`new connections refused ${refusedAfter} ms after SIGTERM; ${checks} connects during the drain, ${accepted} accepted; exit ${exitAfter} ms after SIGTERM: ${JSON.stringify(exit)}`);
  for (const r of [a, b]) {
    assert.equal(r.status, 200, r.proto);
    assert.equal(r.error, null, `${r.proto}: the drain broke the download: ${r.error}`);
    assert.ok(r.ended && !r.aborted, `${r.proto}: no clean end`);
    assert.equal(r.bytes, SIZE, `${r.proto}: body length`);
    assert.equal(Number(r.contentLength), SIZE, `${r.proto}: content-length`);
    assert.equal(r.firstBad, -1, `${r.proto}: corrupted at ${r.firstBad}`);
    assert.ok(r.endAt - termAt < GRACE_MS, `${r.proto}: finished ${r.endAt - termAt} ms after SIGTERM (graceful_shutdown_timeout ${GRACE_MS})`);
    assert.ok(r.endAt - termAt > 1000, `${r.proto}: finished only ${r.endAt - termAt} ms after SIGTERM: the signal did not come mid-download`);
  }
  assert.ok(checks >= 3, `only ${checks} connect attempts during the drain`);
  assert.equal(accepted, 0, `${accepted} of ${checks} new connections were accepted during the drain`);
  assert.ok(exit, `sandgate still running ${exitAfter} ms after SIGTERM`);
  assert.ok(exitAfter < Math.max(a.endAt, b.endAt) - termAt + 2000, `exit ${exitAfter} ms after SIGTERM: it waited past the last download`);
  await gw.stop(); // exit code 0 (ASan: no leak)
}));
