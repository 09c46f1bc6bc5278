'use strict';
// execd API of simulated sandboxes, validated against execd-api.yaml.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const crypto = require('node:crypto');
const { startSimulator, loadSpecs, httpCall, waitFor, parseExecdStream } = require('../simulator/testkit');

const specs = loadSpecs();
let sim;
let base; // http://127.0.0.1:<hostport>/proxy/44772

async function x(method, url, template, opts = {}) {
  const r = await httpCall(base + url, Object.assign({}, opts, { method }));
  if (template) {
    const errs = specs.execd.check(method, template, r);
    assert.deepEqual(errs, [], `${method} ${url}: ${errs.join('; ')}`);
  }
  return r;
}

function run(json) {
  return x('POST', '/command', '/command', { json });
}

// Streams POST /command and records when each event arrives.
function streamCommand(json) {
  return new Promise((resolve, reject) => {
    const u = new URL(base + '/command');
    const t0 = Date.now();
    const events = [];
    let raw = '';
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        raw += c;
        buf += c;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (block.trim()) events.push({ at: Date.now() - t0, ev: JSON.parse(block) });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, events, raw, total: Date.now() - t0 }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(json));
  });
}

function upload(files) {
  const form = new FormData();
  for (const f of files) {
    form.append('metadata', new Blob([JSON.stringify(f.meta)], { type: 'application/json' }), 'metadata');
    form.append('file', new Blob([f.data]), 'blob');
  }
  return x('POST', '/files/upload', '/files/upload', { body: form });
}

test.before(async () => {
  sim = await startSimulator(['--ready-delay-ms', '50', '--command-grace-ms', '0'], { name: 'ex1' });
  const c = await httpCall(sim.base + '/v1/sandboxes', {
    method: 'POST', headers: sim.headers(),
    json: { image: { uri: 'ubuntu' }, entrypoint: ['sleep', 'infinity'], resourceLimits: {}, env: { FROM_CREATE: 'yes' } },
  });
  await waitFor(async () => (await httpCall(`${sim.base}/v1/sandboxes/${c.json.id}`, { headers: sim.headers() })).json.status.state === 'Running');
  const ep = await httpCall(`${sim.base}/v1/sandboxes/${c.json.id}/endpoints/44772`, { headers: sim.headers() });
  base = `http://${ep.json.endpoint}`;
});
test.after(async () => { if (sim) await sim.stop(); });

test('ping and metrics', { timeout: 10000 }, async () => {
  const r = await x('GET', '/ping', '/ping');
  assert.equal(r.status, 200);
  const m = await x('GET', '/metrics', '/metrics');
  assert.equal(m.status, 200);
  assert.ok(m.json.cpu_count >= 1);
});

test('foreground command streams each line as it is produced', { timeout: 15000 }, async () => {
  const s = await streamCommand({ command: 'echo one; sleep 1; echo two >&2; sleep 0.2; printf "a\\n\\nb\\r\\nc"' });
  assert.equal(s.status, 200);
  assert.equal(s.headers['content-type'], 'text/event-stream');
  assert.match(s.raw, /^\{"type":"init".*\}\n\n/, 'raw execd framing: JSON + blank line, no data: prefix');
  const errs = specs.execd.check('POST', '/command', { status: 200, headers: s.headers, body: s.raw });
  assert.deepEqual(errs, []);
  const types = s.events.map((e) => e.ev.type);
  assert.equal(types[0], 'init');
  assert.match(s.events[0].ev.text, /^[0-9a-f]{32}$/);
  assert.equal(types[types.length - 1], 'execution_complete');
  const out = s.events.filter((e) => e.ev.type === 'stdout');
  assert.deepEqual(out.map((e) => e.ev.text), ['one', 'a', '\n', 'b', 'c']);
  const err = s.events.filter((e) => e.ev.type === 'stderr');
  assert.deepEqual(err.map((e) => e.ev.text), ['two']);
  assert.ok(out[0].at < 600, `first line arrived after ${out[0].at} ms`);
  assert.ok(err[0].at - out[0].at >= 800, 'second line arrives only after the sleep');
  assert.ok(typeof s.events[s.events.length - 1].ev.execution_time === 'number');

  const status = await x('GET', `/command/status/${s.events[0].ev.text}`, '/command/status/{id}');
  assert.equal(status.json.running, false);
  assert.equal(status.json.exit_code, 0);
});

test('non-zero exit and timeout produce error events', { timeout: 15000 }, async () => {
  let r = await run({ command: 'echo partial; exit 7' });
  let evs = parseExecdStream(r.body);
  const e = evs.find((v) => v.type === 'error');
  assert.deepEqual(e.error, { ename: 'CommandExecError', evalue: '7', traceback: ['exit status 7'] });
  assert.ok(!evs.some((v) => v.type === 'execution_complete'));
  const t0 = Date.now();
  r = await run({ command: 'sleep 10', timeout: 300 });
  assert.ok(Date.now() - t0 < 3000);
  evs = parseExecdStream(r.body);
  assert.deepEqual(evs.find((v) => v.type === 'error').error, { ename: 'CommandExecError', evalue: '-1', traceback: ['signal: killed'] });
});

test('command options: cwd, envs, sandbox env, validation', { timeout: 10000 }, async () => {
  await x('POST', '/directories', '/directories', { json: { '/work/sub': { mode: 755 } } });
  let r = await run({ command: 'pwd; echo "$FOO $FROM_CREATE"', cwd: '/work/sub', envs: { FOO: 'bar' } });
  const out = parseExecdStream(r.body).filter((v) => v.type === 'stdout').map((v) => v.text);
  assert.match(out[0], /\/root\/work\/sub$/);
  assert.equal(out[1], 'bar yes');
  for (const body of [{}, { command: '' }, { command: 'true', gid: 1 }, { command: 'true', cwd: '/nope' }, { command: 'true', timeout: -1 }]) {
    r = await run(body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.code, 'INVALID_REQUEST_BODY');
  }
  r = await x('POST', '/command', '/command', { body: 'nope', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400);
});

test('background command, status, incremental logs, interrupt', { timeout: 15000 }, async () => {
  const t0 = Date.now();
  let r = await run({ command: 'echo first; sleep 0.5; echo second', background: true });
  assert.ok(Date.now() - t0 < 1000, 'background returns immediately');
  const evs = parseExecdStream(r.body);
  assert.deepEqual(evs.map((v) => v.type), ['init', 'execution_complete']);
  const id = evs[0].text;
  r = await x('GET', `/command/status/${id}`, '/command/status/{id}');
  assert.equal(r.json.running, true);
  assert.equal(r.json.exit_code, undefined);
  await waitFor(async () => (await x('GET', `/command/status/${id}`, '/command/status/{id}')).json.running === false, { what: 'bg done' });
  r = await x('GET', `/command/${id}/logs`, '/command/{id}/logs');
  assert.equal(r.body, 'first\nsecond\n');
  assert.equal(r.headers.get('execd-commands-tail-cursor'), String(Buffer.byteLength('first\nsecond\n')));
  r = await x('GET', `/command/${id}/logs?cursor=6`, '/command/{id}/logs');
  assert.equal(r.body, 'second\n');

  r = await run({ command: 'sleep 30', background: true });
  const sid = parseExecdStream(r.body)[0].text;
  r = await x('DELETE', `/command?id=${sid}`, '/command');
  assert.equal(r.status, 200);
  r = await x('GET', `/command/status/${sid}`, '/command/status/{id}');
  assert.equal(r.json.running, false);
  assert.equal(r.json.exit_code, -1);
  assert.equal(r.json.error, 'signal: terminated');
  r = await x('DELETE', `/command?id=${sid}`, '/command');
  assert.equal(r.status, 500);
  r = await x('DELETE', '/command', '/command');
  assert.equal(r.status, 400);
  r = await x('GET', '/command/status/nope', '/command/status/{id}');
  assert.equal(r.status, 404);
  const fg = parseExecdStream((await run({ command: 'true' })).body)[0].text;
  r = await x('GET', `/command/${fg}/logs`, '/command/{id}/logs');
  assert.equal(r.status, 400);
});

test('upload, info, download with ranges', { timeout: 15000 }, async () => {
  let r = await upload([{ meta: { path: '/data/a.txt', mode: 640 }, data: '0123456789' }, { meta: { path: 'data/b.log' }, data: 'bee' }]);
  assert.equal(r.status, 200);
  r = await x('GET', '/files/info?path=/data/a.txt&path=data/b.log', '/files/info');
  assert.equal(r.json['/data/a.txt'].size, 10);
  assert.equal(r.json['/data/a.txt'].mode, 640);
  assert.equal(r.json['/data/a.txt'].type, 'file');
  assert.equal(r.json['data/b.log'].path, '/data/b.log');
  assert.equal(r.json['data/b.log'].mode, 755);
  r = await x('GET', '/files/info?path=/data/missing', '/files/info');
  assert.equal(r.status, 404);
  assert.equal(r.json.code, 'FILE_NOT_FOUND');

  r = await x('GET', '/files/download?path=/data/a.txt', '/files/download');
  assert.equal(r.status, 200);
  assert.equal(r.body, '0123456789');
  assert.equal(r.headers.get('content-length'), '10');
  assert.equal(r.headers.get('content-disposition'), 'attachment; filename="a.txt"');
  const ranges = [['bytes=0-3', '0123', 'bytes 0-3/10'], ['bytes=-3', '789', 'bytes 7-9/10'], ['bytes=5-', '56789', 'bytes 5-9/10'], ['bytes=8-100', '89', 'bytes 8-9/10']];
  for (const [h, body, cr] of ranges) {
    r = await x('GET', '/files/download?path=/data/a.txt', '/files/download', { headers: { Range: h } });
    assert.equal(r.status, 206, h);
    assert.equal(r.body, body, h);
    assert.equal(r.headers.get('content-range'), cr);
    assert.equal(r.headers.get('content-length'), String(body.length));
  }
  for (const h of ['bytes=10-', 'bytes=50-60', 'items=0-1', 'bytes=5-2']) {
    r = await x('GET', '/files/download?path=/data/a.txt', '/files/download', { headers: { Range: h } });
    assert.equal(r.status, 416, h);
    assert.equal(r.headers.get('content-range'), 'bytes */10');
  }
  r = await x('GET', '/files/download?path=/data/nope', '/files/download');
  assert.equal(r.status, 404);
  r = await x('GET', '/files/download', '/files/download');
  assert.equal(r.status, 400);
  // Upload errors.
  const form = new FormData();
  form.append('file', new Blob(['x']), 'x');
  r = await x('POST', '/files/upload', '/files/upload', { body: form });
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'INVALID_FILE_METADATA');
  r = await x('POST', '/files/upload', '/files/upload', { body: 'x', headers: { 'content-type': 'text/plain' } });
  assert.equal(r.status, 400);
});

test('large streaming upload and download', { timeout: 30000 }, async () => {
  const data = crypto.randomBytes(8 * 1024 * 1024 + 123);
  const sha = crypto.createHash('sha256').update(data).digest('hex');
  let r = await upload([{ meta: { path: '/big/blob.bin' }, data }]);
  assert.equal(r.status, 200);
  r = await httpCall(base + '/files/download?path=/big/blob.bin');
  assert.equal(r.buf.length, data.length);
  assert.equal(crypto.createHash('sha256').update(r.buf).digest('hex'), sha);
  r = await httpCall(base + '/files/download?path=/big/blob.bin', { headers: { Range: 'bytes=1000000-1000009' } });
  assert.deepEqual(r.buf, data.subarray(1000000, 1000010));
});

test('search, mv, permissions, replace, delete', { timeout: 10000 }, async () => {
  await upload([
    { meta: { path: '/proj/src/main.py' }, data: 'print("localhost")' },
    { meta: { path: '/proj/src/util.py' }, data: 'x' },
    { meta: { path: '/proj/README.md' }, data: '# readme' },
  ]);
  let r = await x('GET', '/files/search?path=/proj&pattern=*.py', '/files/search');
  assert.deepEqual(r.json.map((f) => f.path), ['/proj/src/main.py', '/proj/src/util.py']);
  r = await x('GET', '/files/search?path=/proj', '/files/search');
  assert.equal(r.json.length, 3);
  r = await x('GET', '/files/search?path=/nowhere', '/files/search');
  assert.equal(r.status, 404);

  r = await x('POST', '/files/mv', '/files/mv', { json: [{ src: '/proj/README.md', dest: '/proj/docs/README.md' }] });
  assert.equal(r.status, 200);
  r = await x('POST', '/files/mv', '/files/mv', { json: [{ src: '/proj/README.md', dest: '/x' }] });
  assert.equal(r.status, 404);
  r = await x('POST', '/files/mv', '/files/mv', { json: [{ src: '/proj/src/util.py', dest: '/proj/src/main.py' }] });
  assert.equal(r.status, 500);
  r = await x('POST', '/files/mv', '/files/mv', { json: { src: 'a' } });
  assert.equal(r.status, 400);

  r = await x('POST', '/files/permissions', '/files/permissions', { json: { '/proj/src/util.py': { mode: 600 } } });
  assert.equal(r.status, 200);
  r = await x('GET', '/files/info?path=/proj/src/util.py', '/files/info');
  assert.equal(r.json['/proj/src/util.py'].mode, 600);

  r = await x('POST', '/files/replace?verbose=true', '/files/replace', { json: { '/proj/src/main.py': { old: 'localhost', new: '0.0.0.0' } } });
  assert.deepEqual(r.json, { '/proj/src/main.py': { replacedCount: 1 } });
  // Without verbose the spec says the body is empty (no JSON to validate).
  r = await x('POST', '/files/replace', null, { json: { '/proj/src/main.py': { old: 'nothing', new: 'x' } } });
  assert.equal(r.status, 200);
  assert.equal(r.body, '');
  assert.equal((await httpCall(base + '/files/download?path=/proj/src/main.py')).body, 'print("0.0.0.0")');

  r = await x('DELETE', '/files?path=/proj/src/util.py&path=/proj/none', '/files');
  assert.equal(r.status, 200);
  r = await x('DELETE', '/files?path=/proj/src', '/files');
  assert.equal(r.status, 500, 'directories are not removed by DELETE /files');
});

test('directories create, list (depth, order), delete', { timeout: 10000 }, async () => {
  let r = await x('POST', '/directories', '/directories', { json: { '/tree/b/deep': { mode: 700 }, '/tree/a': { mode: 755 } } });
  assert.equal(r.status, 200);
  await upload([{ meta: { path: '/tree/c.txt' }, data: 'c' }]);
  r = await x('GET', '/directories/list?path=/tree', '/directories/list');
  assert.deepEqual(r.json.map((f) => [f.path, f.type]), [['/tree/a', 'directory'], ['/tree/b', 'directory'], ['/tree/c.txt', 'file']]);
  r = await x('GET', '/directories/list?path=/tree&depth=2', '/directories/list');
  assert.deepEqual(r.json.map((f) => f.path), ['/tree/a', '/tree/b', '/tree/b/deep', '/tree/c.txt']);
  assert.equal(r.json[2].mode, 700);
  r = await x('GET', '/directories/list?path=/tree&depth=0', '/directories/list');
  assert.deepEqual(r.json, []);
  r = await x('GET', '/directories/list?path=/tree/c.txt', '/directories/list');
  assert.equal(r.status, 400);
  r = await x('GET', '/directories/list?path=/nope', '/directories/list');
  assert.equal(r.status, 404);
  r = await x('DELETE', '/directories?path=/tree/b', '/directories');
  assert.equal(r.status, 200);
  r = await x('GET', '/directories/list?path=/tree', '/directories/list');
  assert.deepEqual(r.json.map((f) => f.path), ['/tree/a', '/tree/c.txt']);
});

test('paths cannot escape the sandbox', { timeout: 10000 }, async () => {
  await run({ command: 'ln -s /etc link-out' });
  for (const p of ['/../etc/passwd', '../../etc/passwd', '/a/../../etc', '/link-out/passwd']) {
    const r = await httpCall(base + '/files/download?path=' + encodeURIComponent(p));
    assert.equal(r.status, 400, p);
    assert.equal(r.json.code, 'INVALID_PATH');
  }
  const r = await upload([{ meta: { path: '/../../tmp/evil' }, data: 'x' }]);
  assert.equal(r.status, 400);
  const r2 = await httpCall(base + '/files/info?path=/a/../ok');
  assert.equal(r2.status, 404, '.. that stays inside is allowed');
});

test('bash sessions keep cwd and exported variables', { timeout: 10000 }, async () => {
  let r = await x('POST', '/session', '/session', { json: {} });
  assert.equal(r.status, 200);
  const id = r.json.session_id;
  r = await x('POST', `/session/${id}/run`, '/session/{sessionId}/run', { json: { command: 'mkdir -p s1 && cd s1 && export GREETING=hi' } });
  assert.equal(parseExecdStream(r.body).pop().type, 'execution_complete');
  r = await x('POST', `/session/${id}/run`, '/session/{sessionId}/run', { json: { command: 'basename "$(pwd)"; echo $GREETING' } });
  assert.deepEqual(parseExecdStream(r.body).filter((v) => v.type === 'stdout').map((v) => v.text), ['s1', 'hi']);
  r = await x('DELETE', `/session/${id}`, '/session/{sessionId}');
  assert.equal(r.status, 200);
  r = await x('DELETE', `/session/${id}`, '/session/{sessionId}');
  assert.equal(r.status, 404);
  r = await x('POST', `/session/${id}/run`, '/session/{sessionId}/run', { json: { command: 'true' } });
  assert.equal(r.status, 500);
});

test('code contexts', { timeout: 15000 }, async () => {
  let r = await x('POST', '/code/context', '/code/context', { json: { language: 'python' } });
  assert.equal(r.status, 200);
  const ctx = r.json;
  r = await x('GET', '/code/contexts?language=python', '/code/contexts');
  assert.ok(r.json.some((c) => c.id === ctx.id));
  r = await x('POST', '/code', '/code', { json: { context: ctx, code: 'print(6*7)' } });
  const evs = parseExecdStream(r.body);
  assert.equal(evs.find((v) => v.type === 'stdout').text, '42');
  assert.equal(evs.find((v) => v.type === 'execution_count').execution_count, 1);
  assert.equal(evs[evs.length - 1].type, 'execution_complete');
  r = await x('GET', `/code/contexts/${ctx.id}`, '/code/contexts/{context_id}');
  assert.equal(r.json.language, 'python');
  r = await x('DELETE', `/code/contexts/${ctx.id}`, '/code/contexts/{context_id}');
  assert.equal(r.status, 200);
  r = await x('GET', `/code/contexts/${ctx.id}`, '/code/contexts/{context_id}');
  assert.equal(r.status, 404);
  r = await x('POST', '/code', '/code', { json: { code: 'echo no-language' } });
  assert.equal(parseExecdStream(r.body).find((v) => v.type === 'stdout').text, 'no-language');
  await x('POST', '/code/context', '/code/context', { json: { language: 'bash' } });
  r = await x('DELETE', '/code/contexts?language=bash', '/code/contexts');
  assert.equal(r.status, 200);
  r = await x('GET', '/code/contexts?language=bash', '/code/contexts');
  assert.deepEqual(r.json, []);
  r = await x('DELETE', '/code/contexts', '/code/contexts');
  assert.equal(r.status, 400);
  r = await x('DELETE', '/code?id=nope', '/code');
  assert.equal(r.status, 500);
});

test('metrics watch streams JSON lines', { timeout: 10000 }, async () => {
  const ac = new AbortController();
  const res = await fetch(base + '/metrics/watch', { signal: ac.signal });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  let text = '';
  while (!text.includes('\n')) text += new TextDecoder().decode((await reader.read()).value);
  const v = specs.execd.componentValidator('Metrics');
  assert.ok(v(JSON.parse(text.split('\n')[0])));
  ac.abort();
});

test('uid/gid and --sse-framing data', { timeout: 15000 }, async () => {
  if (typeof process.getuid === 'function' && process.getuid() === 0) {
    const r = await run({ command: 'id -u; id -g', uid: 65534, gid: 65534 });
    assert.deepEqual(parseExecdStream(r.body).filter((v) => v.type === 'stdout').map((v) => v.text), ['65534', '65534']);
  }
  const sim2 = await startSimulator(['--ready-delay-ms', '0', '--sse-framing', 'data', '--command-grace-ms', '0'], { name: 'ex2' });
  try {
    const c = await httpCall(sim2.base + '/v1/sandboxes', { method: 'POST', headers: sim2.headers(), json: { image: { uri: 'x' }, entrypoint: ['x'], resourceLimits: {} } });
    await waitFor(async () => (await httpCall(`${sim2.base}/v1/sandboxes/${c.json.id}`, { headers: sim2.headers() })).json.status.state === 'Running');
    const ep = await httpCall(`${sim2.base}/v1/sandboxes/${c.json.id}/endpoints/44772`, { headers: sim2.headers() });
    const r = await httpCall(`http://${ep.json.endpoint}/command`, { method: 'POST', json: { command: 'echo framed' } });
    assert.match(r.body, /^data: \{"type":"init"/);
    assert.deepEqual(specs.execd.check('POST', '/command', r), []);
    assert.equal(parseExecdStream(r.body).find((v) => v.type === 'stdout').text, 'framed');
  } finally {
    await sim2.stop();
  }
});
