'use strict';
// List correctness across three backends, defined once and run per store (lists-memory.test.js,
// lists-redis.test.js). Every expectation is computed directly from the simulators' /_sim/state:
// the caller's sandboxes (by the tenant tag), the spec's filters (state, metadata with the
// once-more-encoded k=v&k2=v2 form, parsed like Python's parse_qsl) and pagination
// (page/pageSize/totalItems/totalPages/hasNextPage), newest first.
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const enc = encodeURIComponent;

module.exports = function defineListSuite(storeKind) {
  const env = h.env();
  const ctx = {};
  const guard = T.skippable(env, ctx);

  test.before(async () => {
    ctx.store = await T.storeFor(storeKind);
    if (ctx.store.skip) { ctx.skip = ctx.store.skip; return; }
    ctx.sims = [];
    for (const n of ['list-a', 'list-b', 'list-c']) ctx.sims.push(await env.sim({ name: n, args: ['--transition-delay-ms', '30'] }));
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
      health_check: { interval: '300ms', timeout: '200ms', healthy_threshold: 1, unhealthy_threshold: 1 },
    });
    env.gateways.push(ctx.gw);
    ctx.A = T.client(ctx.gw.httpUrl, ctx.kA);
    ctx.B = T.client(ctx.gw.httpUrl, ctx.kB);
    const created = [];
    for (let i = 0; i < 12; i++) {
      const md = { team: i % 2 ? 'red' : 'blue', 'app.kubernetes.io/name': i % 3 === 0 ? 'web' : 'db', ver: `1.0_rc-${i}` };
      created.push((await ctx.A.create({ metadata: md }, false)).id);
    }
    for (let i = 0; i < 4; i++) await ctx.B.create({ metadata: { team: 'red', 'app.kubernetes.io/name': 'web' } }, false);
    for (const id of created) await ctx.A.waitState(id, 'Running');
    for (const i of [1, 5, 9]) {
      const p = await ctx.A.post(`/v1/sandboxes/${created[i]}/pause`);
      assert.ok(p.status < 300, `pause: ${p.status} ${p.text}`);
    }
    for (const i of [1, 5, 9]) await ctx.A.waitState(created[i], 'Paused');
    // Sandboxes of nobody and of an unknown tenant, with the same labels, directly on the backends.
    for (const [sim, md] of [[ctx.sims[0], { team: 'red' }], [ctx.sims[1], { team: 'red', [T.TAG]: 'tenant-z' }], [ctx.sims[2], { team: 'blue', [T.TAG]: 'Tenant-A' }]]) {
      const r = await h.request(`${sim.base}/v1/sandboxes`, {
        method: 'POST', headers: sim.headers(),
        json: { image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], timeout: 600, resourceLimits: { cpu: '100m', memory: '64Mi' }, metadata: md },
      });
      assert.equal(r.status, 202, r.text);
    }
    ctx.created = created;
  }, { timeout: 120000 });

  test.after(async () => {
    await env.cleanup();
    if (ctx.store && ctx.store.redis) await ctx.store.redis.kill();
  });

  // parse_qsl(keep_blank_values=True, strict_parsing=True), as the backends parse the metadata filter.
  function parseQsl(s) {
    const out = {};
    for (const seg of s.split('&')) {
      const i = seg.indexOf('=');
      if (i < 0) throw new Error(`bad field ${seg}`);
      const dec = (x) => decodeURIComponent(x.replace(/\+/g, ' '));
      out[dec(seg.slice(0, i))] = dec(seg.slice(i + 1));
    }
    return out;
  }

  // The caller's sandboxes on the given simulators, filtered and sorted as the gateway must.
  async function expected(tenant, { states, inner, sims }) {
    const md = inner ? parseQsl(inner) : {};
    delete md[T.TAG]; // the gateway owns that key: a client filter on it cannot widen or narrow
    const st = (states || []).map((s) => s.toLowerCase());
    const items = [];
    for (const s of sims || ctx.sims) {
      for (const sb of (await T.simState(s)).sandboxes) {
        if (sb.metadata[T.TAG] !== tenant) continue;
        if (st.length && !st.includes(sb.status.state.toLowerCase())) continue;
        if (!Object.entries(md).every(([k, v]) => sb.metadata[k] === v)) continue;
        items.push(T.apiView(sb));
      }
    }
    items.sort((x, y) => (y.createdAt.localeCompare(x.createdAt)) || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    return items;
  }

  const pagination = (page, pageSize, total) => {
    const totalPages = Math.ceil(total / pageSize);
    return { page, pageSize, totalItems: total, totalPages, hasNextPage: page < totalPages };
  };

  test(`[${storeKind}] unfiltered list: exactly the caller's sandboxes over the three backends, newest first`, { timeout: 30000 }, guard(async () => {
    const exp = await expected('tenant-a', {});
    assert.equal(exp.length, 12);
    // the caller's sandboxes really are spread over the three backends
    const all = await T.allSandboxes(ctx.sims);
    assert.equal(new Set(exp.map((x) => all[x.id].sim)).size, 3, 'placement did not use all three backends');
    const r = await ctx.A.get('/v1/sandboxes?pageSize=200');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-sandgate-unavailable-backends'], undefined);
    assert.deepEqual(r.json.items, exp);
    assert.deepEqual(r.json.pagination, pagination(1, 200, 12));
    const d = await ctx.A.get('/v1/sandboxes');
    assert.deepEqual(d.json.pagination, pagination(1, 20, 12), 'default page size is 20');
    assert.deepEqual(d.json.items.map((x) => x.id), exp.map((x) => x.id));
    const rb = await ctx.B.get('/v1/sandboxes');
    assert.deepEqual(rb.json.items, await expected('tenant-b', {}));
    assert.equal(rb.json.pagination.totalItems, 4);
  }));

  test(`[${storeKind}] state filters`, { timeout: 30000 }, guard(async () => {
    const cases = [
      ['state=Running', ['Running']], ['state=Paused', ['Paused']], ['state=running', ['running']], ['state=PAUSED', ['PAUSED']],
      ['state=Running&state=Paused', ['Running', 'Paused']], ['state=Terminated', ['Terminated']], ['state=Pending', ['Pending']],
    ];
    for (const [q, states] of cases) {
      const exp = await expected('tenant-a', { states });
      const r = await ctx.A.get(`/v1/sandboxes?${q}&pageSize=200`);
      assert.equal(r.status, 200, `${q}: ${r.text}`);
      assert.deepEqual(r.json.items.map((x) => x.id), exp.map((x) => x.id), q);
      assert.deepEqual(r.json.pagination, pagination(1, 200, exp.length), q);
    }
    assert.equal((await expected('tenant-a', { states: ['Paused'] })).length, 3);
  }));

  test(`[${storeKind}] metadata filters, including URL-encoding subtleties`, { timeout: 60000 }, guard(async () => {
    // [query, inner k=v string the backend must see (after one decoding), extra states]
    const cases = [
      [`metadata=${enc('team=red')}`, 'team=red'],
      ['metadata=team=red', 'team=red'],
      ['metadata=team%3dred', 'team=red'],
      [`metadata=${enc('team=red&app.kubernetes.io/name=web')}`, 'team=red&app.kubernetes.io/name=web'],
      [`metadata=${enc('app.kubernetes.io%2Fname=db')}`, 'app.kubernetes.io%2Fname=db'],
      [`metadata=app.kubernetes.io%2Fname%3Ddb%26team%3Dblue`, 'app.kubernetes.io/name=db&team=blue'],
      [`metadata=${enc('ver=1.0_rc-3')}`, 'ver=1.0_rc-3'],
      [`metadata=${enc('ver=1.0_rc-3%26team%3Dred')}`, 'ver=1.0_rc-3%26team%3Dred'],
      [`metadata=${enc('team=red+blue')}`, 'team=red+blue'],
      [`metadata=${enc('team=red%2Bblue')}`, 'team=red%2Bblue'],
      [`metadata=${enc('team=red blue')}`, 'team=red blue'],
      [`metadata=${enc('team=rød')}`, 'team=rød'],
      [`metadata=${enc('tëam=red')}`, 'tëam=red'],
      [`metadata=${enc('nokey=')}`, 'nokey='],
      ['metadata=', ''],
      [`metadata=${enc(`${T.TAG}=tenant-b`)}`, `${T.TAG}=tenant-b`],
      [`metadata=${enc(`team=red&${T.TAG}=tenant-b`)}`, `team=red&${T.TAG}=tenant-b`],
      [`metadata=${enc(`${enc(T.TAG)}=tenant-b&team=blue`)}`, `${enc(T.TAG)}=tenant-b&team=blue`],
      [`metadata=${enc(`${T.TAG}=Tenant-A`)}`, `${T.TAG}=Tenant-A`],
      [`metadata=${enc('team=red')}&state=Paused`, 'team=red', ['Paused']],
      [`state=running&metadata=${enc('app.kubernetes.io/name=web')}`, 'app.kubernetes.io/name=web', ['running']],
    ];
    const failures = [];
    for (const [q, inner, states] of cases) {
      const exp = await expected('tenant-a', { inner, states });
      const r = await ctx.A.get(`/v1/sandboxes?${q}&pageSize=200`);
      try {
        assert.equal(r.status, 200, `${q}: ${r.text}`);
        assert.deepEqual(r.json.items.map((x) => x.id), exp.map((x) => x.id), `${q} (inner ${inner})`);
        assert.deepEqual(r.json.pagination, pagination(1, 200, exp.length), q);
        assert.equal(r.headers['x-sandgate-unavailable-backends'], undefined, `${q}: a backend was counted unavailable`);
      } catch (e) { failures.push(e.message); }
    }
    assert.deepEqual(failures, [], failures.join('\n\n'));
    // the filters are not vacuous
    assert.equal((await expected('tenant-a', { inner: 'team=red' })).length, 6);
    assert.equal((await expected('tenant-a', { inner: 'team=red&app.kubernetes.io/name=web' })).length, 2);
  }));

  test(`[${storeKind}] pagination over the merged list`, { timeout: 60000 }, guard(async () => {
    const exp = await expected('tenant-a', {});
    const cases = [];
    for (const size of [1, 5, 7, 12, 13, 200]) {
      const pages = Math.ceil(12 / size);
      for (let page = 1; page <= pages + 1; page++) cases.push([page, size]);
    }
    for (const [page, size] of cases) {
      const r = await ctx.A.get(`/v1/sandboxes?page=${page}&pageSize=${size}`);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.pagination, pagination(page, size, 12), `page ${page} size ${size}`);
      assert.deepEqual(r.json.items.map((x) => x.id), exp.slice((page - 1) * size, page * size).map((x) => x.id), `page ${page} size ${size}`);
    }
    // walking the pages yields every item once
    const walked = await ctx.A.listAll('', 5);
    assert.deepEqual(walked.map((x) => x.id), exp.map((x) => x.id));
    // with a filter
    const run = await expected('tenant-a', { states: ['Running'] });
    for (let page = 1; page <= 4; page++) {
      const r = await ctx.A.get(`/v1/sandboxes?state=Running&page=${page}&pageSize=4`);
      assert.deepEqual(r.json.pagination, pagination(page, 4, run.length));
      assert.deepEqual(r.json.items.map((x) => x.id), run.slice((page - 1) * 4, page * 4).map((x) => x.id));
    }
    // invalid paging is a 400 JSON error
    for (const q of ['page=0', 'pageSize=0', 'page=-1', 'page=abc', 'pageSize=1.5', 'page=']) {
      const r = await ctx.A.get(`/v1/sandboxes?${q}`);
      assert.equal(r.status, 400, `${q}: ${r.status} ${r.text}`);
      assert.ok(T.isJsonError(r), `${q}: ${r.text}`);
    }
  }));

  test(`[${storeKind}] a malformed metadata filter is a 400 for the client, not backends reported unavailable`, { timeout: 30000 }, guard(async () => {
    for (const q of ['metadata=novalue', `metadata=${enc('team=red&broken')}`, `metadata=${enc('team=%ZZ')}`]) {
      const r = await ctx.A.get(`/v1/sandboxes?${q}`);
      assert.equal(r.status, 400, `${q}: ${r.status} X-Sandgate-Unavailable-Backends=${r.headers['x-sandgate-unavailable-backends']} ${r.text}`);
      assert.ok(T.isJsonError(r), r.text);
    }
  }));

  test(`[${storeKind}] a backend down or failing: the list answers with the others and says 1`, { timeout: 60000 }, guard(async () => {
    const [a, b, c] = ctx.sims;
    // c is down (listener closed): items of a and b only.
    const expAB = await expected('tenant-a', { sims: [a, b] });
    const expB = await expected('tenant-b', { sims: [a, b] });
    const down = await h.request(`${c.base}/_sim/down`, { method: 'POST', json: { ms: 4000 } });
    assert.equal(down.status, 200);
    await h.sleep(100);
    for (let i = 0; i < 3; i++) {
      const r = await ctx.A.get('/v1/sandboxes?pageSize=200');
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers['x-sandgate-unavailable-backends'], '1', `attempt ${i}: header ${r.headers['x-sandgate-unavailable-backends']}`);
      assert.deepEqual(r.json.items.map((x) => x.id), expAB.map((x) => x.id));
      assert.deepEqual(r.json.pagination, pagination(1, 200, expAB.length));
      const rb = await ctx.B.get('/v1/sandboxes?pageSize=200');
      assert.equal(rb.headers['x-sandgate-unavailable-backends'], '1');
      assert.deepEqual(rb.json.items.map((x) => x.id), expB.map((x) => x.id));
      await h.sleep(400);
    }
    // back: the full list again, and no header
    const exp = await expected('tenant-a', {}).catch(() => null);
    await h.waitFor(async () => {
      const r = await ctx.A.get('/v1/sandboxes?pageSize=200');
      return r.status === 200 && r.headers['x-sandgate-unavailable-backends'] === undefined && r.json.items.length === 12;
    }, { timeoutMs: 15000, what: 'full list after the backend came back' });
    const full = await ctx.A.get('/v1/sandboxes?pageSize=200');
    assert.deepEqual(full.json.items.map((x) => x.id), (exp || await expected('tenant-a', {})).map((x) => x.id));

    // b answers 500 to every lifecycle call: items of a and c only.
    await b.faults({ errorRate: 1, errorStatus: 500 });
    try {
      const expAC = await expected('tenant-a', { sims: [a, c] });
      const r = await ctx.A.get('/v1/sandboxes?pageSize=200');
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers['x-sandgate-unavailable-backends'], '1');
      assert.deepEqual(r.json.items.map((x) => x.id), expAC.map((x) => x.id));
      const p = await ctx.A.get('/v1/sandboxes?page=2&pageSize=3');
      assert.deepEqual(p.json.pagination, pagination(2, 3, expAC.length));
      assert.deepEqual(p.json.items.map((x) => x.id), expAC.slice(3, 6).map((x) => x.id));
    } finally {
      await T.resetFaults([b]);
    }
    await h.waitFor(async () => (await ctx.A.get('/v1/sandboxes')).headers['x-sandgate-unavailable-backends'] === undefined,
      { timeoutMs: 15000, what: 'no unavailable backend after the faults were reset' });
  }));
};
