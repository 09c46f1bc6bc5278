'use strict';
// The isolation matrix, defined once and run per store (isolation-memory.test.js,
// isolation-redis.test.js): tenants A and B, every lifecycle, diagnostics, snapshot and port route,
// every way of naming a sandbox or snapshot. B never reads, changes or learns of A's objects: each
// answer B gets for A's object is byte-identical (status, content type, body with the id
// substituted) to the answer for an object that does not exist, and the simulators' state shows
// that nothing changed.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

module.exports = function defineIsolationSuite(storeKind) {
  const env = h.env();
  const ctx = {};
  const guard = T.skippable(env, ctx);

  test.before(async () => {
    ctx.store = await T.storeFor(storeKind);
    if (ctx.store.skip) { ctx.skip = ctx.store.skip; return; }
    ctx.sims = [];
    for (const n of ['iso-a', 'iso-b', 'iso-c']) ctx.sims.push(await env.sim({ name: n, args: ['--transition-delay-ms', '50', '--snapshot-delay-ms', '50'] }));
    ctx.kA = T.newKey('a');
    ctx.kB = T.newKey('b');
    ctx.gw = await T.startGateway({
      backends: ctx.sims.map((s) => h.backend(s)),
      tenants: [
        { id: 'tenant-a', keys: [T.keyHash(ctx.kA)], policy: { allow_manual_cleanup: true } },
        { id: 'tenant-b', keys: [T.keyHash(ctx.kB)], policy: { allow_manual_cleanup: true } },
      ],
      redis: ctx.store.conf,
      lifecycle: { reconcile_interval: '1h' },
    });
    env.gateways.push(ctx.gw);
    ctx.A = T.client(ctx.gw.httpUrl, ctx.kA);
    ctx.B = T.client(ctx.gw.httpUrl, ctx.kB);
    // A: a Running sandbox, a Paused one, a Ready snapshot; B: its own sandbox; nobody: an untagged one.
    ctx.a1 = (await ctx.A.create({ metadata: { team: 'red' } })).id;
    ctx.a2 = (await ctx.A.create({ metadata: { team: 'red' } })).id;
    const p = await ctx.A.post(`/v1/sandboxes/${ctx.a2}/pause`);
    assert.ok(p.status === 202 || p.status === 200 || p.status === 204, `pause: ${p.status} ${p.text}`);
    await ctx.A.waitState(ctx.a2, 'Paused');
    ctx.snapA = (await ctx.A.snapshot(ctx.a1, 'a-snap')).id;
    ctx.b1 = (await ctx.B.create({ metadata: { team: 'red' } })).id;
    ctx.untagged = await h.createSandbox(ctx.sims[0]);
  }, { timeout: 90000 });

  test.after(async () => {
    await env.cleanup();
    if (ctx.store && ctx.store.redis) await ctx.store.redis.kill();
  });

  const missing = () => crypto.randomUUID();
  // Status, content type, length and body of a response, with `id` replaced by `as` in the body.
  const shape = (r, id, as) => ({
    status: r.status,
    contentType: r.headers['content-type'],
    body: id ? r.buf.toString('latin1').split(id).join(as) : r.buf.toString('latin1'),
  });
  function assertSameAsMissing(rReal, rMissing, realId, missingId, what) {
    assert.deepEqual(shape(rReal, realId, missingId), shape(rMissing), `${what}: the answer differs from the answer for an object that does not exist`);
  }

  async function fingerprints() {
    const all = await T.allSandboxes(ctx.sims);
    const snaps = await T.allSnapshots(ctx.sims);
    const fp = {};
    for (const id of [ctx.a1, ctx.a2, ctx.untagged, ctx.b1]) fp[id] = all[id] ? T.fingerprint(all[id].sb) : 'ABSENT';
    fp[ctx.snapA] = snaps[ctx.snapA] ? JSON.stringify(snaps[ctx.snapA].sn) : 'ABSENT';
    fp.snapshotCount = Object.keys(snaps).length;
    fp.sandboxCount = Object.keys(all).length;
    return fp;
  }

  async function lastSeqs() {
    const out = {};
    for (const s of ctx.sims) out[s.name] = (await s.requests('/__none__')).lastSeq;
    return out;
  }

  // Requests the simulators' main ports saw since `since` that could have changed an object of A.
  async function mutationsOf(ids, since) {
    const seen = [];
    for (const s of ctx.sims) {
      const log = await s.requests(null, since[s.name]);
      for (const e of log.items) {
        if (e.method !== 'GET' && ids.some((id) => e.url.toLowerCase().includes(id.toLowerCase()))) seen.push(`${s.name}: ${e.method} ${e.url} -> ${e.status}`);
      }
    }
    return seen;
  }

  // Sandbox-scoped routes, as functions of the id (and of the naming variant's path transform).
  const renewAt = () => new Date(Date.now() + 5 * 3600e3).toISOString();
  const sandboxRoutes = [
    { name: 'GET sandbox', method: 'GET', path: (id) => `/v1/sandboxes/${id}` },
    { name: 'PATCH metadata', method: 'PATCH', path: (id) => `/v1/sandboxes/${id}/metadata`, json: { stolen: 'yes', team: null } },
    { name: 'pause', method: 'POST', path: (id) => `/v1/sandboxes/${id}/pause` },
    { name: 'resume', method: 'POST', path: (id) => `/v1/sandboxes/${id}/resume`, paused: true },
    { name: 'renew-expiration', method: 'POST', path: (id) => `/v1/sandboxes/${id}/renew-expiration`, json: () => ({ expiresAt: renewAt() }) },
    { name: 'create snapshot', method: 'POST', path: (id) => `/v1/sandboxes/${id}/snapshots`, json: { name: 'stolen' } },
    { name: 'endpoint 8080', method: 'GET', path: (id) => `/v1/sandboxes/${id}/endpoints/8080` },
    { name: 'endpoint 44772', method: 'GET', path: (id) => `/v1/sandboxes/${id}/endpoints/44772` },
    { name: 'endpoint server proxy', method: 'GET', path: (id) => `/v1/sandboxes/${id}/endpoints/8080?use_server_proxy=true` },
    { name: 'diagnostics logs', method: 'GET', path: (id) => `/v1/sandboxes/${id}/diagnostics/logs?scope=all` },
    { name: 'diagnostics events', method: 'GET', path: (id) => `/v1/sandboxes/${id}/diagnostics/events?scope=lifecycle` },
    { name: 'diagnostics logs (legacy)', method: 'GET', path: (id) => `/v1/sandboxes/${id}/diagnostics/logs` },
    { name: 'port form GET', method: 'GET', path: (id) => `/sandboxes/${id}/port/8080/echo/x?q=1` },
    { name: 'port form bare', method: 'GET', path: (id) => `/sandboxes/${id}/port/8080` },
    { name: 'proxy form GET', method: 'GET', path: (id) => `/sandboxes/${id}/proxy/8080/echo/x` },
    { name: '/v1 proxy form GET', method: 'GET', path: (id) => `/v1/sandboxes/${id}/proxy/8080/echo/x` },
    { name: 'port form execd command', method: 'POST', path: (id) => `/sandboxes/${id}/port/44772/command`, json: { command: 'touch pwned-by-b-port' } },
    { name: 'proxy form execd command', method: 'POST', path: (id) => `/sandboxes/${id}/proxy/44772/command`, json: { command: 'touch pwned-by-b-proxy' } },
    { name: '/v1 proxy form execd command', method: 'POST', path: (id) => `/v1/sandboxes/${id}/proxy/44772/command`, json: { command: 'touch pwned-by-b-v1proxy' } },
    { name: 'port form file upload', method: 'POST', path: (id) => `/sandboxes/${id}/port/44772/files/upload`, raw: true },
    { name: 'port form PUT echo', method: 'PUT', path: (id) => `/sandboxes/${id}/port/8080/echo/put`, json: { x: 1 } },
    { name: 'DELETE sandbox', method: 'DELETE', path: (id) => `/v1/sandboxes/${id}` },
  ];

  // Ways of naming a sandbox in a path: each maps the canonical id to the string put in the path.
  const namings = [
    { name: 'canonical', id: (id) => id },
    { name: 'upper case', id: (id) => id.toUpperCase() },
    { name: 'first character percent-encoded', id: (id) => `%${id.charCodeAt(0).toString(16)}${id.slice(1)}` },
    { name: 'dashes percent-encoded', id: (id) => id.split('-').join('%2D') },
    { name: 'trailing dot', id: (id) => `${id}.` },
  ];

  async function send(c, route, id) {
    const p = route.path(id);
    if (route.raw) {
      return c.req(route.method, p, { body: Buffer.from('--x\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\nx\r\n--x--\r\n'), headers: { 'content-type': 'multipart/form-data; boundary=x' } });
    }
    const json = typeof route.json === 'function' ? route.json() : route.json;
    return c.req(route.method, p, json === undefined ? {} : { json });
  }

  test(`[${storeKind}] B gets for every route on A's sandboxes exactly what it gets for missing ones, and nothing changes`, { timeout: 120000 }, guard(async () => {
    const before = await fingerprints();
    const since = await lastSeqs();
    const failures = [];
    for (const naming of namings) {
      for (const route of sandboxRoutes) {
        const realId = route.paused ? ctx.a2 : ctx.a1;
        const m = missing();
        const real = naming.id(realId);
        const miss = naming.id(m);
        const rReal = await send(ctx.B, route, real);
        const rMiss = await send(ctx.B, route, miss);
        try {
          assertSameAsMissing(rReal, rMiss, real, miss, `${route.name} (${naming.name})`);
          assert.ok(rMiss.status === 404 || (rMiss.status >= 400 && rMiss.status < 500), `${route.name} (${naming.name}): ${rMiss.status} ${rMiss.text}`);
          assert.ok(T.isJsonError(rMiss), `${route.name} (${naming.name}) is not a JSON error: ${rMiss.text}`);
          if (naming.name === 'canonical') {
            assert.equal(rReal.status, 404, `${route.name}: ${rReal.text}`);
            assert.deepEqual(rReal.json, T.sandboxNotFound(realId), route.name);
          }
        } catch (e) {
          failures.push(`${e.message}`);
        }
      }
    }
    // The untagged sandbox (created on a backend directly) is nobody's: B gets the same 404.
    for (const route of sandboxRoutes.filter((r) => !r.paused)) {
      const m = missing();
      const rU = await send(ctx.B, route, ctx.untagged);
      const rM = await send(ctx.B, route, m);
      try { assertSameAsMissing(rU, rM, ctx.untagged, m, `${route.name} (untagged sandbox)`); } catch (e) { failures.push(e.message); }
    }
    const after = await fingerprints();
    assert.deepEqual(after, before, 'an object of A (or the untagged one) changed on the backends');
    const muts = await mutationsOf([ctx.a1, ctx.a2, ctx.untagged, ctx.snapA], since);
    assert.deepEqual(muts, [], 'a mutating request for an object of A reached a backend');
    const all = await T.allSandboxes(ctx.sims);
    for (const f of ['pwned-by-b-port', 'pwned-by-b-proxy', 'pwned-by-b-v1proxy', 'f']) {
      assert.equal(fs.existsSync(path.join(all[ctx.a1].sb.rootDir, f)), false, `B's request created ${f} in A's sandbox`);
    }
    assert.deepEqual(failures, [], `${failures.length} route/naming combinations leak:\n${failures.join('\n\n')}`);
  }));

  test(`[${storeKind}] B gets for A's snapshot exactly what it gets for a missing one (GET, DELETE, restore)`, { timeout: 60000 }, guard(async () => {
    const before = await fingerprints();
    const since = await lastSeqs();
    const snapRoutes = [
      { name: 'GET snapshot', method: 'GET', path: (id) => `/v1/snapshots/${id}` },
      { name: 'GET snapshot (trailing slash)', method: 'GET', path: (id) => `/v1/snapshots/${id}/` },
      { name: 'GET snapshot (query)', method: 'GET', path: (id) => `/v1/snapshots/${id}?x=1` },
      { name: 'create from snapshot', method: 'POST', path: () => '/v1/sandboxes', json: (id) => ({ snapshotId: id, timeout: 600, resourceLimits: { cpu: '100m', memory: '64Mi' } }) },
      { name: 'DELETE snapshot', method: 'DELETE', path: (id) => `/v1/snapshots/${id}` },
    ];
    const failures = [];
    for (const naming of [{ name: 'canonical', id: (x) => x }, { name: 'upper case', id: (x) => x.toUpperCase() }]) {
      for (const route of snapRoutes) {
        const real = naming.id(ctx.snapA);
        const miss = naming.id(missing());
        const go = (id) => ctx.B.req(route.method, route.path(id), route.json ? { json: route.json(id) } : {});
        const rReal = await go(real);
        const rMiss = await go(miss);
        try {
          assertSameAsMissing(rReal, rMiss, real, miss, `${route.name} (${naming.name})`);
          assert.ok(rMiss.status >= 400 && rMiss.status < 500 && T.isJsonError(rMiss), `${route.name}: ${rMiss.status} ${rMiss.text}`);
          if (naming.name === 'canonical') {
            assert.equal(rReal.status, 404, `${route.name}: ${rReal.text}`);
            assert.equal(rReal.json.code, 'GATEWAY::SNAPSHOT_NOT_FOUND', route.name);
          }
        } catch (e) { failures.push(e.message); }
      }
    }
    assert.deepEqual(await fingerprints(), before, 'A\'s snapshot or sandboxes changed, or a sandbox was restored from it');
    assert.deepEqual(await mutationsOf([ctx.snapA], since), [], 'a mutating request naming A\'s snapshot reached a backend');
    assert.deepEqual(failures, [], failures.join('\n\n'));
  }));

  test(`[${storeKind}] B's lists never show A's objects, whatever the filters`, { timeout: 60000 }, guard(async () => {
    const aIds = [ctx.a1, ctx.a2];
    const queries = ['', 'state=Running', 'state=Paused', 'state=running&state=paused',
      `metadata=${encodeURIComponent(`${T.TAG}=tenant-a`)}`,
      `metadata=${encodeURIComponent(`${encodeURIComponent(T.TAG)}=tenant-a`)}`,
      `metadata=${encodeURIComponent('team=red')}`,
      `metadata=${encodeURIComponent(`team=red&${T.TAG}=tenant-a`)}`,
      `metadata=${T.TAG}%3Dtenant-a`, 'pageSize=1', 'page=2&pageSize=1'];
    for (const q of queries) {
      const r = await ctx.B.get(`/v1/sandboxes${q ? '?' + q : ''}`);
      assert.equal(r.status, 200, `${q}: ${r.text}`);
      const ids = r.json.items.map((x) => x.id);
      for (const id of [...aIds, ctx.untagged]) assert.ok(!ids.includes(id), `B's list (${q}) shows ${id}`);
      for (const it of r.json.items) assert.equal(it.metadata[T.TAG], 'tenant-b', `B's list (${q}) shows a sandbox of ${it.metadata[T.TAG]}`);
      assert.ok(!r.text.includes(ctx.a1) && !r.text.includes(ctx.a2) && !r.text.includes(ctx.snapA), `B's list (${q}) mentions A's ids`);
    }
    // B's own sandbox is in B's list even with a filter naming A's tag (the gateway owns that key).
    const spoof = await ctx.B.get(`/v1/sandboxes?metadata=${encodeURIComponent(`${T.TAG}=tenant-a`)}`);
    assert.deepEqual(spoof.json.items.map((x) => x.id), [ctx.b1]);
    for (const q of ['', `sandboxId=${ctx.a1}`, 'state=Ready', 'pageSize=200']) {
      const r = await ctx.B.get(`/v1/snapshots${q ? '?' + q : ''}`);
      assert.equal(r.status, 200, `${q}: ${r.text}`);
      assert.ok(!r.text.includes(ctx.snapA) && !r.text.includes(ctx.a1), `B's snapshot list (${q}) shows A's snapshot: ${r.text}`);
    }
    // And a filter on A's sandbox id answers exactly like a filter on a missing id.
    const m = missing();
    const rA = await ctx.B.get(`/v1/snapshots?sandboxId=${ctx.a1}`);
    const rM = await ctx.B.get(`/v1/snapshots?sandboxId=${m}`);
    assertSameAsMissing(rA, rM, ctx.a1, m, 'snapshot list by sandboxId');
    // A sees its own.
    const mine = await ctx.A.get('/v1/snapshots');
    assert.ok(mine.json.items.some((s) => s.id === ctx.snapA), `A's snapshot list lacks its snapshot: ${mine.text}`);
  }));

  test(`[${storeKind}] other ways of naming a sandbox (Ingress-To header, host, path tricks) do not reach A's sandbox`, { timeout: 60000 }, guard(async () => {
    const before = await fingerprints();
    const all = await T.allSandboxes(ctx.sims);
    const aHostPort = all[ctx.a1].sb.hostPort;
    const base = ctx.gw.httpUrl;
    const hdr = { 'OPEN-SANDBOX-API-KEY': ctx.kB };
    const m = missing();
    const pairs = [
      ['OpenSandbox-Ingress-To header', (id) => h.request(`${base}/echo/x`, { headers: Object.assign({ 'OpenSandbox-Ingress-To': `${id}-8080` }, hdr) })],
      ['Host {id}-{port}.sandbox.localhost', (id) => h.request(`${base}/echo/x`, { headers: Object.assign({ Host: `${id}-8080.sandbox.localhost` }, hdr), setHost: false })],
      ['/v1 path with a dot segment', (id) => h.request(`${base}/v1/sandboxes/${ctx.b1}/../${id}`, { headers: hdr })],
      ['/v1 path with an encoded dot segment', (id) => h.request(`${base}/v1/sandboxes/${ctx.b1}/%2e%2e/${id}`, { headers: hdr })],
      ['/v1 path with an encoded slash', (id) => h.request(`${base}/v1/sandboxes/${ctx.b1}%2F..%2F${id}`, { headers: hdr })],
      ['double slash', (id) => h.request(`${base}/v1/sandboxes//${id}`, { headers: hdr })],
      ['leading double slash', (id) => h.request(`${base}//v1/sandboxes/${id}`, { headers: hdr })],
      ['id in the query of B\'s own sandbox', (id) => h.request(`${base}/v1/sandboxes/${ctx.b1}?sandboxId=${id}&id=${id}`, { headers: hdr })],
    ];
    const failures = [];
    for (const [name, go] of pairs) {
      const rReal = await go(ctx.a1);
      const rMiss = await go(m);
      try {
        assertSameAsMissing(rReal, rMiss, ctx.a1, m, name);
        assert.ok(!rReal.text.includes(`"${T.TAG}":"tenant-a"`), `${name}: A's sandbox shown: ${rReal.text}`);
      } catch (e) { failures.push(e.message); }
    }
    // Port traffic on B's own sandbox whose rest climbs out: it must stay inside B's sandbox.
    // (every spelling of a dot-segment is refused at the edge: docs/SECURITY.md)
    const climbs = [`/../../../sandboxes/${ctx.a1}/port/8080/echo/x`, `/%2e%2e/%2e%2e/sandboxes/${ctx.a1}/port/8080/echo/x`,
      `/..%2F..%2Fsandboxes%2F${ctx.a1}%2Fport%2F8080%2Fecho`, `/%2E%2e/.%2e/%2e./sandboxes/${ctx.a1}/port/8080/echo/x`,
      `/..%5C..%5Csandboxes%5C${ctx.a1}/port/8080/echo`, `/..\\..\\sandboxes/${ctx.a1}/port/8080/echo`, `/..;/..;/sandboxes/${ctx.a1}/port/8080/echo`,
      `/./../../sandboxes/${ctx.a1}/port/8080/echo/x`];
    for (const rest of climbs) {
      for (const form of ['port', 'proxy', 'v1proxy']) {
        const r = await h.request(`${base}${h.portPath(ctx.b1, 8080, rest, form)}`, { headers: hdr });
        assert.equal(r.status, 400, `${form} ${rest}: ${r.status} ${r.text}`);
        assert.equal(r.json && r.json.code, 'GATEWAY::INVALID_PATH', `${form} ${rest}: ${r.text}`);
        if (r.json && r.json.headers && r.json.headers.host) {
          assert.ok(!r.json.headers.host.endsWith(`:${aHostPort}`), `${form} ${rest} reached A's sandbox listener`);
        }
        assert.ok(!r.text.includes('tenant-a'), `${form} ${rest}: ${r.text}`);
      }
    }
    assert.deepEqual(await fingerprints(), before);
    assert.deepEqual(failures, [], failures.join('\n\n'));
  }));

  test(`[${storeKind}] A still reaches all of its objects, and B its own, after B's attempts`, { timeout: 60000 }, guard(async () => {
    const g = await ctx.A.get(`/v1/sandboxes/${ctx.a1}`);
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.metadata.team, 'red');
    assert.equal(g.json.metadata.stolen, undefined);
    const echo = await ctx.A.get(`/sandboxes/${ctx.a1}/port/8080/echo/from-a`);
    assert.equal(echo.status, 200, echo.text);
    assert.equal(echo.json.path, '/echo/from-a');
    for (const form of ['proxy', 'v1proxy']) {
      const e2 = await ctx.A.get(h.portPath(ctx.a1, 8080, '/echo/f', form));
      assert.equal(e2.status, 200, `${form}: ${e2.text}`);
    }
    assert.equal((await ctx.A.get(`/v1/snapshots/${ctx.snapA}`)).status, 200);
    assert.equal((await ctx.A.get(`/v1/sandboxes/${ctx.a2}`)).json.status.state, 'Paused');
    const gb = await ctx.B.get(`/v1/sandboxes/${ctx.b1}`);
    assert.equal(gb.status, 200, gb.text);
    // A cannot reach B's sandbox either (the matrix is symmetric).
    const m = missing();
    for (const route of sandboxRoutes.filter((r) => r.method === 'GET')) {
      assertSameAsMissing(await send(ctx.A, route, ctx.b1), await send(ctx.A, route, m), ctx.b1, m, `A on B's sandbox: ${route.name}`);
    }
  }));

  test(`[${storeKind}] while the backend holding A's sandbox is down, B still gets the missing-sandbox answer`, { timeout: 60000 }, guard(async () => {
    const all = await T.allSandboxes(ctx.sims);
    const where = all[ctx.a1].sim;
    const sim = ctx.sims.find((s) => s.name === where);
    const r = await h.request(`${sim.base}/_sim/down`, { method: 'POST', json: { ms: 4000 } });
    assert.equal(r.status, 200);
    await h.waitFor(async () => (await h.backendState(ctx.gw, where)) === 'down', { timeoutMs: 4000, what: `${where} marked down` });
    const failures = [];
    for (const route of sandboxRoutes.filter((x) => x.method === 'GET')) {
      const m = missing();
      try { assertSameAsMissing(await send(ctx.B, route, ctx.a1), await send(ctx.B, route, m), ctx.a1, m, `backend down: ${route.name}`); } catch (e) { failures.push(e.message); }
    }
    const own = await ctx.A.get(`/v1/sandboxes/${ctx.a1}`);
    assert.equal(own.status, 503, `the owner while its backend is down: ${own.status} ${own.text}`);
    assert.equal(own.json.code, 'GATEWAY::BACKEND_UNAVAILABLE');
    await h.waitFor(async () => (await h.backendState(ctx.gw, where)) === 'up', { timeoutMs: 15000, what: `${where} back up` });
    assert.equal((await ctx.A.get(`/v1/sandboxes/${ctx.a1}`)).status, 200);
    assert.deepEqual(failures, [], failures.join('\n\n'));
  }));

  test(`[${storeKind}] once A deletes its sandbox, A and B both get the missing-sandbox answer`, { timeout: 60000 }, guard(async () => {
    const d = await ctx.A.del(`/v1/snapshots/${ctx.snapA}`);
    assert.ok(d.status === 204 || d.status === 200, `delete snapshot: ${d.status} ${d.text}`);
    const del = await ctx.A.del(`/v1/sandboxes/${ctx.a1}`);
    assert.ok(del.status === 204 || del.status === 200, `delete: ${del.status} ${del.text}`);
    await h.waitFor(async () => !(await T.allSandboxes(ctx.sims))[ctx.a1], { timeoutMs: 5000, what: 'sandbox gone on the backend' });
    const m = missing();
    const failures = [];
    // Twice each: the gateway has several worker threads, each with its own caches.
    for (let round = 0; round < 2; round++) {
      for (const c of [ctx.A, ctx.B]) {
        for (const route of sandboxRoutes.filter((r) => !r.paused)) {
          try {
            assertSameAsMissing(await send(c, route, ctx.a1), await send(c, route, m), ctx.a1, m, `${c === ctx.A ? 'A' : 'B'} after delete: ${route.name}`);
          } catch (e) { failures.push(e.message); }
        }
        const s = await c.get(`/v1/snapshots/${ctx.snapA}`);
        const sm = await c.get(`/v1/snapshots/${m}`);
        try { assertSameAsMissing(s, sm, ctx.snapA, m, 'deleted snapshot'); } catch (e) { failures.push(e.message); }
      }
    }
    const list = await ctx.A.listAll('');
    assert.ok(!list.some((x) => x.id === ctx.a1), 'deleted sandbox still listed');
    assert.deepEqual([...new Set(failures)], [], failures.join('\n\n'));
  }));
};
