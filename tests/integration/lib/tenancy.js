'use strict';
// Helpers for the tenancy integration tests (tests/integration/tenancy/): tenant keys and configs,
// a sandgate process with the tenancy sections (tenants:, redis:, lifecycle:) that the generic
// harness does not write, a real redis-server, simulator state helpers, and a small lifecycle
// client. Builds on ./harness (free ports, certificates, simulators, HTTP helpers).
//
// Everything binds 127.0.0.1; every wait is bounded; every process started here is killed when the
// test process exits (and by cleanup()).

const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const YAML = require('yaml');
const h = require('./harness');

const DEBUG = process.env.SANDGATE_IT_DEBUG === '1';
const TAG = 'sandgate.io/tenant';

// Every child started by this module; SIGKILLed on exit whatever happens.
const children = new Set();
process.on('exit', () => {
  for (const p of children) { try { p.kill('SIGKILL'); } catch (_) { /* gone */ } }
});

// ---------------------------------------------------------------- keys and tenants

const newKey = (label) => `sk-${label || 'key'}-${crypto.randomBytes(12).toString('hex')}`;
const keyHash = (key) => 'sha256:' + crypto.createHash('sha256').update(key).digest('hex');

// The plugin chain tenancy needs: key-auth on lifecycle and port routes, none on /health.
function tenancyPlugins(extra) {
  return {
    plugins: [{ name: 'request-id' }, { name: 'key-auth', config: { positive_ttl: '2s', negative_ttl: '1s' } }, ...(extra || [])],
    routes: { health: { plugins: [] }, admin: { plugins: [{ name: 'request-id' }] } },
  };
}

// ---------------------------------------------------------------- sandgate with tenancy sections

// Starts sandgate. opts: everything h.buildConfig takes (backends, http, https, admin, workers,
// limits, health_check, log, ports, plugins, routes) plus tenants, redis, lifecycle (written as
// given). Resolves a gateway object like the harness's: httpUrl, httpsUrl, adminUrl, ports,
// stderr(), stderrTail(), stop(), kill(), restart().
async function startGateway(opts) {
  return h.startGateway(Object.assign({}, tenancyPlugins(), opts || {}));
}

// ---------------------------------------------------------------- redis-server

// A real redis-server on a free port. opts: {persist: true} = AOF with fsync always in a temp dir
// (a restart keeps the data). Resolves {port, address, dir, stop(), kill(), restart(), cmd(...args)}.
async function startRedis(opts) {
  const o = Object.assign({ persist: false }, opts || {});
  const bin = spawnSync('which', ['redis-server'], { encoding: 'utf8' }).stdout.trim();
  if (!bin) throw new Error('redis-server is not installed (Debian package redis-server)');
  const port = o.port || await h.freePort();
  const dir = o.dir || fs.mkdtempSync(path.join(h.tmpDir(), 'redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--protected-mode', 'no'];
  if (o.persist) args.push('--appendonly', 'yes', '--appendfsync', 'always');
  else args.push('--appendonly', 'no');
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let log = '';
  proc.stdout.on('data', (c) => { log += c; });
  proc.stderr.on('data', (c) => { log += c; });
  let exitInfo = null;
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => { children.delete(proc); exitInfo = { code, signal }; resolve(exitInfo); }));
  const r = {
    port,
    address: `127.0.0.1:${port}`,
    dir,
    proc,
    log: () => log,
    alive: () => exitInfo === null,
    cmd: (...a) => redisCommand(port, a),
    kill() { if (exitInfo === null) proc.kill('SIGKILL'); return exited; },
    async stop() {
      if (exitInfo !== null) return exitInfo;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      const e = await exited;
      clearTimeout(t);
      return e;
    },
    // Same port, same dir (with persist: the AOF is replayed).
    restart: () => startRedis(Object.assign({}, o, { port, dir })),
  };
  await h.waitFor(async () => {
    if (exitInfo !== null) throw new Error(`redis-server exited (${exitInfo.code}): ${log}`);
    try { return (await r.cmd('PING')) === 'PONG'; } catch (_) { return false; }
  }, { timeoutMs: 10000, what: 'redis-server PING' });
  return r;
}

// One RESP command over a fresh connection. Resolves the decoded reply (arrays as JS arrays).
function redisCommand(port, args) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`redis ${args[0]} timed out`)); }, 3000);
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('connect', () => {
      let out = `*${args.length}\r\n`;
      for (const a of args) { const s = String(a); out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`; }
      sock.write(out);
    });
    sock.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      const parsed = parseResp(buf, 0);
      if (parsed) { clearTimeout(timer); sock.end(); if (parsed.value instanceof Error) reject(parsed.value); else resolve(parsed.value); }
    });
  });
}

function parseResp(buf, i) {
  const eol = buf.indexOf('\r\n', i);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[i]);
  const line = buf.slice(i + 1, eol).toString();
  if (type === '+') return { value: line, next: eol + 2 };
  if (type === '-') return { value: new Error(line), next: eol + 2 };
  if (type === ':') return { value: Number(line), next: eol + 2 };
  if (type === '$') {
    const n = Number(line);
    if (n < 0) return { value: null, next: eol + 2 };
    if (buf.length < eol + 2 + n + 2) return null;
    return { value: buf.slice(eol + 2, eol + 2 + n).toString(), next: eol + 2 + n + 2 };
  }
  if (type === '*') {
    const n = Number(line);
    if (n < 0) return { value: null, next: eol + 2 };
    const arr = [];
    let p = eol + 2;
    for (let k = 0; k < n; k++) {
      const e = parseResp(buf, p);
      if (!e) return null;
      arr.push(e.value);
      p = e.next;
    }
    return { value: arr, next: p };
  }
  return { value: new Error(`bad RESP type ${type}`), next: eol + 2 };
}

// ---------------------------------------------------------------- simulators

async function simState(sim) {
  const r = await h.request(`${sim.base}/_sim/state`);
  if (r.status !== 200) throw new Error(`${sim.name} /_sim/state: ${r.status} ${r.text}`);
  return r.json;
}

// {id: {sim, sb}} over every simulator.
async function allSandboxes(sims) {
  const out = {};
  for (const s of sims) for (const sb of (await simState(s)).sandboxes) out[sb.id] = { sim: s.name, sb };
  return out;
}

async function allSnapshots(sims) {
  const out = {};
  for (const s of sims) for (const sn of (await simState(s)).snapshots) out[sn.id] = { sim: s.name, sn };
  return out;
}

// A sandbox as the lifecycle API shows it (the control API adds runtime fields).
const STATE_ONLY = ['state', 'snapshotIds', 'hostPort', 'httpPort', 'dir', 'rootDir', 'env', 'resourceLimits', 'extensions', 'volumes', 'networkPolicy', 'timeout', 'renewCalls', 'renewals', 'commands'];
function apiView(sb) {
  const o = Object.assign({}, sb);
  for (const k of STATE_ONLY) delete o[k];
  return o;
}

// What an observer may compare before/after an attack on a sandbox: everything the simulator keeps.
function fingerprint(sb) {
  return JSON.stringify({
    id: sb.id, state: sb.state, status: sb.status, metadata: sb.metadata, expiresAt: sb.expiresAt, snapshotIds: sb.snapshotIds,
    commands: (sb.commands || []).map((c) => c.id + ':' + c.content),
  });
}

async function simFaults(sims, patch) {
  for (const s of sims) {
    const r = await s.faults(patch);
    if (r.status !== 200) throw new Error(`faults on ${s.name}: ${r.status} ${r.text}`);
  }
}

async function resetFaults(sims) {
  for (const s of sims) await h.request(`${s.base}/_sim/faults`, { method: 'DELETE' });
}

// ---------------------------------------------------------------- lifecycle client

// client(base, key).get('/v1/sandboxes') etc. Resolves h.request's result.
function client(base, key, extraHeaders) {
  const hdrs = (more) => Object.assign(key === null || key === undefined ? {} : { 'OPEN-SANDBOX-API-KEY': key }, extraHeaders || {}, more || {});
  const c = {
    base,
    key,
    req: (method, p, o) => h.request(`${base}${p}`, Object.assign({ method }, o || {}, { headers: hdrs((o || {}).headers) })),
    get: (p, o) => c.req('GET', p, o),
    del: (p, o) => c.req('DELETE', p, o),
    post: (p, json, o) => c.req('POST', p, Object.assign({}, o || {}, json === undefined ? {} : { json })),
    patch: (p, json, o) => c.req('PATCH', p, Object.assign({}, o || {}, json === undefined ? {} : { json })),
    // POST /v1/sandboxes; asserts 202 and waits until the sandbox is Running. Resolves the create body.
    async create(body, waitRunning) {
      const b = Object.assign({ image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], timeout: 600, resourceLimits: { cpu: '500m', memory: '512Mi' } }, body || {});
      const r = await c.post('/v1/sandboxes', b);
      if (r.status !== 202 && r.status !== 200) throw new Error(`create through the gateway: ${r.status} ${r.text}`);
      if (waitRunning !== false) await c.waitState(r.json.id, 'Running');
      return r.json;
    },
    async waitState(id, state, timeoutMs) {
      let last;
      await h.waitFor(async () => {
        last = await c.get(`/v1/sandboxes/${id}`);
        return last.status === 200 && last.json.status.state === state;
      }, { timeoutMs: timeoutMs || 10000, what: `sandbox ${id} ${state} (last: ${last && last.status} ${last && last.text})` });
      return last.json;
    },
    async snapshot(id, name) {
      const r = await c.post(`/v1/sandboxes/${id}/snapshots`, name ? { name } : {});
      if (r.status !== 202 && r.status !== 200 && r.status !== 201) throw new Error(`snapshot of ${id}: ${r.status} ${r.text}`);
      const sid = r.json.id;
      let last;
      await h.waitFor(async () => {
        last = await c.get(`/v1/snapshots/${sid}`);
        return last.status === 200 && last.json.status && last.json.status.state === 'Ready';
      }, { timeoutMs: 10000, what: `snapshot ${sid} Ready (last: ${last && last.status} ${last && last.text})` });
      return last.json;
    },
    // Every page of GET /v1/sandboxes (query without page/pageSize).
    async listAll(query, pageSize) {
      const items = [];
      for (let page = 1; page < 100; page++) {
        const sep = query ? `${query}&` : '';
        const r = await c.get(`/v1/sandboxes?${sep}page=${page}&pageSize=${pageSize || 200}`);
        if (r.status !== 200) throw new Error(`list: ${r.status} ${r.text}`);
        items.push(...r.json.items);
        if (!r.json.pagination.hasNextPage) break;
      }
      return items;
    },
  };
  return c;
}

// The gateway's 404 for an unknown or foreign sandbox, as the issue fixes it.
const sandboxNotFound = (id) => ({ code: 'GATEWAY::SANDBOX_NOT_FOUND', message: `Sandbox ${id} not found.` });

// Asserts that r is a JSON error {code, message} (string fields) with a 4xx status.
function isJsonError(r) {
  return r && typeof r.status === 'number' && /application\/json/.test(String(r.headers['content-type']))
    && r.json && typeof r.json.code === 'string' && r.json.code.length > 0 && typeof r.json.message === 'string';
}

// Raw HTTP/1.1 request over a socket (bytes exactly as given). Resolves {status, head, body, raw}.
function rawRequest(port, bytes, timeoutMs) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('raw request timed out')); }, timeoutMs || 5000);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks);
      const sep = raw.indexOf('\r\n\r\n');
      const head = sep >= 0 ? raw.slice(0, sep).toString('latin1') : raw.toString('latin1');
      let body = sep >= 0 ? raw.slice(sep + 4) : Buffer.alloc(0);
      if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) body = dechunk(body);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      let json;
      try { json = JSON.parse(body.toString('utf8')); } catch (_) { json = undefined; }
      resolve({ status: m ? Number(m[1]) : 0, head, body, text: body.toString('utf8'), json, raw });
    });
  });
}

function dechunk(b) {
  const out = [];
  let i = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', i);
    if (eol < 0) break;
    const n = parseInt(b.slice(i, eol).toString(), 16);
    if (!(n > 0)) break;
    out.push(b.slice(eol + 2, eol + 2 + n));
    i = eol + 2 + n + 2;
  }
  return Buffer.concat(out);
}

// ---------------------------------------------------------------- store parameterization

// Checks that the Redis store works at all with this build: a gateway with `redis:` starts, a
// create through it is recorded under the configured prefix in Redis, and the sandbox can be read
// back. Resolves null when it works, else a reason (used to skip the Redis variants with a clear
// message while gateway/store/store_redis.c is not ready). Everything else is asserted by the tests.
async function probeRedisStore(redis) {
  const sim = await h.startSim({ name: 'redis-probe' });
  const key = newKey('probe');
  const prefix = `sg-probe-${crypto.randomBytes(3).toString('hex')}:`;
  let gw = null;
  try {
    const opts = {
      backends: [h.backend(sim)], https: false, admin: false, workers: 1,
      tenants: [{ id: 'probe', keys: [keyHash(key)], policy: { allow_manual_cleanup: true } }],
      redis: { address: redis.address, prefix },
    };
    try { gw = await startGateway(opts); } catch (e) { return `sandgate does not start with a redis: section: ${e.message.slice(0, 1500)}`; }
    const c = client(gw.httpUrl, key);
    const r = await c.post('/v1/sandboxes', { image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], timeout: 600, resourceLimits: { cpu: '100m', memory: '64Mi' } });
    if (r.status !== 202) return `create through a gateway with the Redis store failed: ${r.status} ${r.text}
${gw.stderrTail(1500)}`;
    const keys = await redis.cmd('KEYS', `${prefix}*`);
    if (!Array.isArray(keys) || keys.length === 0) return `a create through the gateway wrote nothing under ${prefix}* in Redis
${gw.stderrTail(1500)}`;
    const g = await c.get(`/v1/sandboxes/${r.json.id}`);
    if (g.status !== 200) return `GET of a sandbox recorded in Redis failed: ${g.status} ${g.text}`;
    await c.del(`/v1/sandboxes/${r.json.id}`);
    return null;
  } catch (e) {
    return `Redis store probe failed: ${e.message}`;
  } finally {
    if (gw) await gw.kill();
    await sim.kill();
  }
}

// {kind, redis, conf, skip}: what a suite needs to run on the memory store or on Redis. conf is
// the `redis:` section (undefined for memory); skip is a reason to skip (redis-server cannot run).
async function storeFor(kind) {
  if (kind === 'memory') return { kind, redis: null, conf: undefined, skip: null };
  let redis;
  try {
    redis = await startRedis({ persist: false });
  } catch (e) {
    return { kind, redis: null, conf: undefined, skip: `cannot start redis-server: ${e.message}` };
  }
  /* only a missing redis-server skips; a gateway that cannot use it fails the suite */
  const reason = await probeRedisStore(redis);
  if (reason) throw new Error(`the Redis store does not work: ${reason}`);
  return { kind, redis, conf: { address: redis.address, prefix: `sg-it-${crypto.randomBytes(3).toString('hex')}:` }, skip: null };
}

// Runs a Node script (an SDK flow) as a child with env added to the test's own; it prints one JSON
// line per step. Resolves {code, signal, steps, stdout, stderr}; SIGKILLed after timeoutMs.
function runNodeChild(script, env, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script], { env: Object.assign({}, process.env, env), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => { stderr += `\n[killed after ${timeoutMs} ms]`; child.kill('SIGKILL'); }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const steps = stdout.split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch (_) { return { raw: l }; } });
      resolve({ code, signal, steps, stdout, stderr });
    });
  });
}

// A redis-server for one test file: sets ctx.redis, or ctx.skip when redis-server cannot start
// (the tests then skip through skippable()). Resolves whether Redis is up.
async function redisFor(ctx, opts) {
  try {
    ctx.redis = await startRedis(opts);
    return true;
  } catch (e) {
    ctx.skip = `cannot start redis-server: ${e.message}`;
    return false;
  }
}

// Wraps a test so that it is skipped (with ctx.skip as the reason) when its suite could not
// set up, e.g. when the Redis store is not usable.
function skippable(env, ctx) {
  return (fn) => env.wrap(async (t) => {
    if (ctx.skip) { t.skip(ctx.skip); return; }
    await fn(t);
  });
}

module.exports = {
  skippable, TAG, children, newKey, keyHash, tenancyPlugins, startGateway, startRedis, redisCommand,
  simState, allSandboxes, allSnapshots, apiView, fingerprint, simFaults, resetFaults, client,
  sandboxNotFound, isJsonError, rawRequest, probeRedisStore, storeFor, redisFor, runNodeChild,
};
