'use strict';
// Bad input on tenancy routes: malformed JSON, wrong types, bodies near and over
// lifecycle.max_json_body, odd ids (/, .., %2F, unicode, raw non-ASCII bytes, empty, too long).
// Each answer is a 4xx JSON error {code, message}, and the gateway keeps serving (/health after
// each request).
const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const env = h.env();
const ctx = {};
const MAX = 64 * 1024;

test.before(async () => {
  ctx.sim = await env.sim({ name: 'bad-a' });
  ctx.k = T.newKey('a');
  ctx.gw = await T.startGateway({
    backends: [h.backend(ctx.sim)],
    tenants: [{ id: 'tenant-a', keys: [T.keyHash(ctx.k)], policy: { allow_manual_cleanup: true } }],
    lifecycle: { max_json_body: '64k' },
  });
  env.gateways.push(ctx.gw);
  ctx.A = T.client(ctx.gw.httpUrl, ctx.k);
  ctx.sbx = (await ctx.A.create({})).id;
}, { timeout: 60000 });

test.after(() => env.cleanup());

const VALID = { image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], timeout: 600, resourceLimits: { cpu: '100m', memory: '64Mi' } };
const withField = (k, v) => JSON.stringify(Object.assign({}, VALID, { [k]: v }));

async function healthy(after) {
  const r = await h.request(`${ctx.gw.httpUrl}/health`, { timeoutMs: 3000 });
  assert.equal(r.status, 200, `/health after ${after}`);
  assert.ok(ctx.gw.alive(), `sandgate died after ${after}`);
}

// Sends raw bytes as the body; collects what is wrong instead of stopping at the first.
async function expect4xx(failures, what, method, p, bodyBytes, expectStatus) {
  let r;
  try {
    r = await ctx.A.req(method, p, bodyBytes === undefined ? {} : { body: Buffer.isBuffer(bodyBytes) ? bodyBytes : Buffer.from(bodyBytes), headers: { 'content-type': 'application/json' } });
  } catch (e) {
    failures.push(`${what}: request failed: ${e.message}`);
    await healthy(what);
    return null;
  }
  const okStatus = expectStatus ? r.status === expectStatus : r.status >= 400 && r.status < 500;
  if (!okStatus || !T.isJsonError(r)) failures.push(`${what}: ${method} ${p.slice(0, 120)} -> ${r.status} ${r.headers['content-type']} ${r.text.slice(0, 300)}`);
  await healthy(what);
  return r;
}

test('create: malformed JSON and wrong types are 4xx JSON errors; nothing is created', { timeout: 60000 }, env.wrap(async () => {
  const before = Object.keys(await T.allSandboxes([ctx.sim])).length;
  const failures = [];
  const cases = [
    ['truncated JSON', '{'],
    ['empty body', ''],
    ['not JSON', 'hello'],
    ['array', '[]'],
    ['string', '"x"'],
    ['number', '123'],
    ['null', 'null'],
    ['trailing garbage', JSON.stringify(VALID) + 'x'],
    ['duplicate keys', JSON.stringify(VALID).replace('"timeout":600', '"timeout":600,"timeout":700')],
    ['timeout "abc"', withField('timeout', 'abc')],
    ['timeout 1.5', withField('timeout', 1.5)],
    ['timeout -5', withField('timeout', -5)],
    ['timeout 1e400', JSON.stringify(VALID).replace('"timeout":600', '"timeout":1e400')],
    ['timeout huge integer', JSON.stringify(VALID).replace('"timeout":600', '"timeout":99999999999999999999999')],
    ['timeout true', withField('timeout', true)],
    ['metadata array', withField('metadata', [1, 2])],
    ['metadata string', withField('metadata', 'x')],
    ['metadata number value', withField('metadata', { a: 1 })],
    ['metadata object value', withField('metadata', { a: { b: 'c' } })],
    ['metadata bad key', withField('metadata', { 'bad key!': 'v' })],
    ['metadata reserved key', withField('metadata', { 'opensandbox.io/x': 'v' })],
    ['image string', withField('image', 'python:3.11')],
    ['image without uri', withField('image', {})],
    ['image uri number', withField('image', { uri: 5 })],
    ['image and snapshotId', withField('snapshotId', 'abc')],
    ['snapshotId number', JSON.stringify({ snapshotId: 5, timeout: 600, resourceLimits: VALID.resourceLimits })],
    ['snapshotId with slash', JSON.stringify({ snapshotId: '../../etc', timeout: 600, resourceLimits: VALID.resourceLimits })],
    ['resourceLimits string', withField('resourceLimits', 'x')],
    ['resourceLimits cpu number', withField('resourceLimits', { cpu: 5, memory: '64Mi' })],
    ['resourceLimits cpu words', withField('resourceLimits', { cpu: 'lots', memory: '64Mi' })],
    ['resourceLimits memory negative', withField('resourceLimits', { cpu: '1', memory: '-1Gi' })],
    ['invalid UTF-8 in a string', Buffer.concat([Buffer.from('{"image":{"uri":"python:3.11'), Buffer.from([0xff, 0xfe]), Buffer.from('"},"entrypoint":["/bin/sh"],"timeout":600,"resourceLimits":{"cpu":"1","memory":"1Gi"}}')])],
    ['NUL escape in a key', JSON.stringify(VALID).replace('"timeout"', '"time\\u0000out"')],
    ['deep nesting', '['.repeat(20000) + ']'.repeat(20000)],
  ];
  for (const [what, raw] of cases) await expect4xx(failures, `create, ${what}`, 'POST', '/v1/sandboxes', raw);
  assert.deepEqual(failures, [], failures.join('\n'));
  assert.equal(Object.keys(await T.allSandboxes([ctx.sim])).length, before, 'a bad create created a sandbox');
}));

test('PATCH metadata and renew: malformed bodies are 4xx JSON errors; the sandbox is unchanged', { timeout: 60000 }, env.wrap(async () => {
  const fp = async () => T.fingerprint((await T.allSandboxes([ctx.sim]))[ctx.sbx].sb);
  const before = await fp();
  const failures = [];
  const p = `/v1/sandboxes/${ctx.sbx}/metadata`;
  for (const [what, raw] of [['truncated', '{'], ['empty', ''], ['array', '[]'], ['string', '"x"'], ['number value', '{"k":5}'],
    ['object value', '{"k":{"a":"b"}}'], ['bad key', '{"bad key!":"v"}'], ['value too long', JSON.stringify({ k: 'v'.repeat(64) })], ['duplicate keys', '{"k":"a","k":"b"}']]) {
    await expect4xx(failures, `PATCH metadata, ${what}`, 'PATCH', p, raw);
  }
  const rp = `/v1/sandboxes/${ctx.sbx}/renew-expiration`;
  for (const [what, raw] of [['truncated', '{'], ['empty', ''], ['expiresAt abc', '{"expiresAt":"abc"}'], ['expiresAt number', '{"expiresAt":5}'],
    ['expiresAt in the past', JSON.stringify({ expiresAt: '2001-01-01T00:00:00Z' })], ['array', '[]']]) {
    await expect4xx(failures, `renew, ${what}`, 'POST', rp, raw);
  }
  for (const [what, raw] of [['truncated', '{'], ['name number', '{"name":5}'], ['array', '[]']]) {
    await expect4xx(failures, `snapshot, ${what}`, 'POST', `/v1/sandboxes/${ctx.sbx}/snapshots`, raw);
  }
  assert.deepEqual(failures, [], failures.join('\n'));
  assert.equal(await fp(), before, 'a bad request changed the sandbox');
  assert.equal((await T.simState(ctx.sim)).snapshots.length, 0, 'a bad snapshot request created a snapshot');
}));

// A JSON body of exactly `size` bytes: a create with many metadata labels, padded with spaces.
function createBodyOfSize(size) {
  const head = JSON.stringify(VALID).slice(0, -1) + ',"metadata":{';
  const tail = '}}';
  const parts = [];
  let len = head.length + tail.length;
  for (let n = 0; ; n++) {
    const entry = `${n ? ',' : ''}"k${String(n).padStart(6, '0')}":"${'v'.repeat(60)}"`;
    if (len + entry.length > size) break;
    parts.push(entry);
    len += entry.length;
  }
  const s = head + parts.join('') + tail;
  assert.ok(s.length <= size && JSON.parse(s));
  return Buffer.from(s + ' '.repeat(size - s.length));
}

test('bodies near and over lifecycle.max_json_body: at the limit accepted, one byte over 413 JSON', { timeout: 60000 }, env.wrap(async () => {
  const at = createBodyOfSize(MAX);
  assert.equal(at.length, MAX);
  const ok = await ctx.A.req('POST', '/v1/sandboxes', { body: at, headers: { 'content-type': 'application/json' } });
  assert.equal(ok.status, 202, `a body of exactly max_json_body: ${ok.status} ${ok.text.slice(0, 300)}`);
  const md = (await T.allSandboxes([ctx.sim]))[ok.json.id].sb.metadata;
  assert.equal(md[T.TAG], 'tenant-a');
  assert.ok(Object.keys(md).length > 800, `${Object.keys(md).length} labels`);
  await healthy('a create at the limit');
  const failures = [];
  for (const [what, size] of [['one byte over', MAX + 1], ['twice the limit', 2 * MAX], ['2 MB', 2 * 1024 * 1024]]) {
    const r = await expect4xx(failures, `create, ${what}`, 'POST', '/v1/sandboxes', createBodyOfSize(size), 413);
    if (r && r.json && !/PAYLOAD_TOO_LARGE|TOO_LARGE/.test(r.json.code)) failures.push(`${what}: code ${r.json.code}`);
  }
  const patch = Buffer.from(JSON.stringify({ k: 'v' }) + ' '.repeat(MAX));
  await expect4xx(failures, 'PATCH over the limit', 'PATCH', `/v1/sandboxes/${ctx.sbx}/metadata`, patch, 413);
  const patchAt = Buffer.from('{"k":"v"}' + ' '.repeat(MAX - 9));
  const pa = await ctx.A.req('PATCH', `/v1/sandboxes/${ctx.sbx}/metadata`, { body: patchAt, headers: { 'content-type': 'application/json' } });
  if (pa.status !== 200) failures.push(`PATCH of exactly max_json_body: ${pa.status} ${pa.text}`);
  assert.deepEqual(failures, [], failures.join('\n'));
}));

test('odd sandbox and snapshot ids are 4xx JSON errors (never a 5xx), and the gateway keeps serving', { timeout: 60000 }, env.wrap(async () => {
  const failures = [];
  const ids = ['a%2Fb', '%2F', '..', '.', '%2e%2e', '%2E', 'a%00b', '%C3%A9t%C3%A9', '%F0%9F%98%80', '%FF%FE', 'x'.repeat(129), 'x'.repeat(5000),
    'a%20b', 'a+b', 'a;b', 'a%3Fb', "a'b", 'a%22b', '%25', `${ctx.sbx}%00`, `${ctx.sbx}%2F..`, ` ${ctx.sbx}`.replace(' ', '%20')];
  for (const id of ids) {
    for (const [m, p] of [['GET', `/v1/sandboxes/${id}`], ['DELETE', `/v1/sandboxes/${id}`], ['POST', `/v1/sandboxes/${id}/pause`],
      ['GET', `/v1/sandboxes/${id}/endpoints/8080`], ['GET', `/v1/snapshots/${id}`], ['DELETE', `/v1/snapshots/${id}`],
      ['GET', `/sandboxes/${id}/port/8080/echo`], ['GET', `/v1/sandboxes/${id}/proxy/8080/echo`]]) {
      await expect4xx(failures, `id ${id.slice(0, 40)}`, m, p, m === 'POST' ? '{}' : undefined);
    }
  }
  // empty ids and broken route shapes
  for (const [m, p] of [['DELETE', '/v1/sandboxes/'], ['PATCH', '/v1/sandboxes//metadata'], ['POST', '/v1/sandboxes//pause'],
    ['GET', '/v1/sandboxes//endpoints/8080'], ['GET', '/sandboxes//port/8080/x'], ['GET', `/sandboxes/${ctx.sbx}/port//x`],
    ['GET', `/sandboxes/${ctx.sbx}/port/0/x`], ['GET', `/sandboxes/${ctx.sbx}/port/65536/x`], ['GET', `/sandboxes/${ctx.sbx}/port/-1/x`],
    ['GET', `/sandboxes/${ctx.sbx}/port/abc/x`], ['GET', `/v1/sandboxes/${ctx.sbx}/endpoints/0`], ['GET', `/v1/sandboxes/${ctx.sbx}/endpoints/99999`],
    ['GET', `/v1/sandboxes/${ctx.sbx}/endpoints/abc`], ['GET', `/v1/sandboxes/${ctx.sbx}/diagnostics/other`], ['GET', '/v1/snapshots//'],
    ['DELETE', '/v1/snapshots/'], ['GET', '/v1/sandboxes?page=99999999999999999999'], ['GET', '/v1/sandboxes?pageSize=-3'],
    ['GET', '/v1/sandboxes?metadata=%ZZ'], ['GET', '/v1/sandboxes?state=%ZZ']]) {
    await expect4xx(failures, `route ${m} ${p}`, m, p, undefined);
  }
  assert.deepEqual(failures, [], `${failures.length} bad answers:\n${failures.join('\n')}`);
}));

test('raw non-ASCII and invalid UTF-8 bytes in the id: a 4xx JSON error (valid JSON), not a 5xx', { timeout: 30000 }, env.wrap(async () => {
  const failures = [];
  const port = ctx.gw.ports.http;
  for (const idBytes of [Buffer.from('été'), Buffer.from([0xff, 0xfe]), Buffer.from([0xc3]), Buffer.from('\u00e9'.repeat(70))]) {
    for (const prefix of ['/v1/sandboxes/', '/v1/snapshots/', '/sandboxes/']) {
      const suffix = prefix === '/sandboxes/' ? '/port/8080/echo' : '';
      const req = Buffer.concat([Buffer.from(`GET ${prefix}`), idBytes, Buffer.from(`${suffix} HTTP/1.1\r\nHost: 127.0.0.1\r\nOPEN-SANDBOX-API-KEY: ${ctx.k}\r\nConnection: close\r\n\r\n`)]);
      const r = await T.rawRequest(port, req);
      const what = `${prefix}<${idBytes.toString('hex').slice(0, 20)}>${suffix}`;
      if (!(r.status >= 400 && r.status < 500) || !r.json || typeof r.json.code !== 'string') failures.push(`${what}: ${r.status} ${r.text.slice(0, 200)}`);
      await healthy(what);
    }
  }
  assert.deepEqual(failures, [], failures.join('\n'));
}));

test('after all that, the tenant still works normally', { timeout: 30000 }, env.wrap(async () => {
  const g = await ctx.A.get(`/v1/sandboxes/${ctx.sbx}`);
  assert.equal(g.status, 200, g.text);
  const e = await ctx.A.get(`/sandboxes/${ctx.sbx}/port/8080/echo/still`);
  assert.equal(e.status, 200, e.text);
  const c = await ctx.A.create({});
  assert.equal((await ctx.A.del(`/v1/sandboxes/${c.id}`)).status, 204);
}));
