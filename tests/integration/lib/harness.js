'use strict';
// Integration-test harness for sandgate: free ports, test certificates, OpenSandbox simulators,
// sandgate configs (YAML from JS objects), sandgate processes, and small HTTP helpers.
//
// Typical use in a test file:
//
//   const h = require('./lib/harness');
//   const env = h.env();                       // tracks every process of this file
//   test.before(async () => {
//     const sim = await env.sim({ name: 'a' });
//     const gw = await env.gateway({ backends: [h.backend(sim)] });
//   });
//   test.after(() => env.cleanup());           // kills whatever is still running
//   ...
//   test('sandgate exits 0 on SIGTERM', () => env.gw.stop());   // last test of the file
//
// Environment:
//   SANDGATE_BIN      gateway binary (default <repo>/build/sandgate)
//   SANDGATE_PLUGIN   example plugin (default next to the binary: lua-free-plugins/sg_example_plugin.so)
//   SANDGATE_IT_DEBUG=1  echo gateway/simulator stderr live
// Everything binds 127.0.0.1. Every wait is bounded.

const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const YAML = require('yaml');

const REPO = path.resolve(__dirname, '..', '..', '..');
const SIM_SERVER = path.join(REPO, 'tests', 'simulator', 'server.js');
const SANDGATE_BIN = path.resolve(process.env.SANDGATE_BIN || path.join(REPO, 'build', 'sandgate'));
const PLUGIN_SO = path.resolve(process.env.SANDGATE_PLUGIN
  || path.join(path.dirname(SANDGATE_BIN), 'lua-free-plugins', 'sg_example_plugin.so'));
const DEBUG = process.env.SANDGATE_IT_DEBUG === '1';
const ADMIN_KEY = 'it-admin-key-0123456789';
const ADMIN_KEY_HASH = 'sha256:' + crypto.createHash('sha256').update(ADMIN_KEY).digest('hex');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every child process started by this file; killed on exit whatever happens.
const children = new Set();
process.on('exit', () => {
  for (const p of children) { try { p.kill('SIGKILL'); } catch (_) { /* gone */ } }
});

// ---------------------------------------------------------------- temp dirs, ports

let tmpRoot = null;
function tmpDir() {
  if (!tmpRoot) {
    tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'sandgate-it-'));
    process.on('exit', () => {
      if (process.env.SANDGATE_IT_KEEP !== '1') fs.rmSync(tmpRoot, { recursive: true, force: true });
    });
  }
  return tmpRoot;
}

const handedOut = new Set();
// A port that was free a moment ago (and not handed out before by this process).
async function freePort() {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    });
    if (!handedOut.has(port)) { handedOut.add(port); return port; }
  }
  throw new Error('no free port');
}

// ---------------------------------------------------------------- certificates

// Generated once per test run: the directory is keyed by the `node --test` runner's pid (every
// test file is a child of it), written under a temporary name and renamed into place.
let certsCache = null;
function certs() {
  if (certsCache) return certsCache;
  const dir = path.join(os.tmpdir(), `sandgate-it-certs-${process.ppid}`);
  removeStaleCertDirs();
  const files = ['ca.crt', 'server.crt', 'server.key', 'alt.crt', 'alt.key'];
  const complete = (d) => files.every((f) => fs.existsSync(path.join(d, f)) && fs.statSync(path.join(d, f)).size > 0);
  if (!complete(dir)) {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sandgate-it-certs-tmp-'));
    const script = path.join(REPO, 'scripts', 'gen-certs.sh');
    let ok = false;
    if (fs.existsSync(script)) {
      const r = spawnSync('bash', [script, work], { encoding: 'utf8', timeout: 60000 });
      ok = r.status === 0 && complete(work);
      if (!ok) process.stderr.write(`[harness] scripts/gen-certs.sh failed (${r.status}): ${r.stderr}\n; using openssl directly\n`);
    }
    if (!ok) genCertsWithOpenssl(work);
    try {
      fs.renameSync(work, dir);
    } catch (e) {
      // Another file of the same run won the race (or dir exists but incomplete): use ours.
      if (!complete(dir)) { certsCache = mapCerts(work); return certsCache; }
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
  certsCache = mapCerts(dir);
  return certsCache;
}

// Cert dirs of earlier runs whose runner process is gone.
function removeStaleCertDirs() {
  try {
    for (const name of fs.readdirSync(os.tmpdir())) {
      const m = /^sandgate-it-certs-(\d+)$/.exec(name);
      if (!m || Number(m[1]) === process.ppid) continue;
      let alive = true;
      try { process.kill(Number(m[1]), 0); } catch (e) { alive = e.code === 'EPERM'; }
      if (!alive) fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
  } catch (_) { /* best effort */ }
}

function mapCerts(d) {
  return {
    dir: d,
    ca: path.join(d, 'ca.crt'),
    serverCrt: path.join(d, 'server.crt'),
    serverKey: path.join(d, 'server.key'),
    altCrt: path.join(d, 'alt.crt'),
    altKey: path.join(d, 'alt.key'),
  };
}

function genCertsWithOpenssl(d) {
  const run = (args, input) => {
    const r = spawnSync('openssl', args, { cwd: d, encoding: 'utf8', input, timeout: 30000 });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
  };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30',
    '-subj', '/O=sandgate/CN=sandgate test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const leaf = (name, cn, san) => {
    fs.writeFileSync(path.join(d, `${name}.ext`),
      `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`);
    run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/O=sandgate/CN=${cn}`]);
    run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30',
      '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  };
  leaf('server', 'localhost', 'IP:127.0.0.1,IP:::1,DNS:localhost,DNS:*.sandbox.localhost');
  leaf('alt', 'alt.localhost', 'DNS:alt.localhost');
}

// ---------------------------------------------------------------- simulator

// Starts one OpenSandbox server simulator. opts: {name, apiKey, port, args: [...]}
async function startSim(opts) {
  const o = Object.assign({ name: 'sim', apiKey: `backend-key-${crypto.randomBytes(4).toString('hex')}`, port: 0, args: [] }, opts || {});
  const argv = [SIM_SERVER, '--port', String(o.port), '--api-key', o.apiKey, '--name', o.name,
    '--ready-delay-ms', '20', '--exit-with-parent', ...o.args];
  const proc = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  proc.on('error', () => {});
  let stderr = '';
  proc.stderr.on('data', (c) => { stderr += c; if (DEBUG) process.stderr.write(`[sim ${o.name}] ${c}`); });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => { children.delete(proc); resolve({ code, signal }); }));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`simulator ${o.name} did not start within 15 s: ${stderr}`)); }, 15000);
    const rl = readline.createInterface({ input: proc.stdout });
    rl.once('line', (line) => {
      clearTimeout(timer);
      try {
        const ev = JSON.parse(line);
        if (ev.event !== 'listening' || !ev.port) throw new Error('not a listening event');
        resolve(ev.port);
      } catch (e) {
        reject(new Error(`simulator ${o.name}: unexpected first stdout line ${line}`));
      }
      rl.on('line', () => {});
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`simulator ${o.name} exited (${code}) before listening: ${stderr}`)); });
  });
  const sim = {
    name: o.name,
    apiKey: o.apiKey,
    port,
    base: `http://127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    proc,
    exited,
    opts: o,
    stderr: () => stderr,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    headers: (h) => Object.assign({ 'OPEN-SANDBOX-API-KEY': o.apiKey }, h || {}),
    kill(signal) {
      if (sim.alive()) proc.kill(signal || 'SIGKILL');
      return exited;
    },
    async stop() {
      if (!sim.alive()) return exited;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
    // A new simulator process on the same port (after kill); same key and name.
    restart(extra) {
      return startSim(Object.assign({}, o, { port }, extra || {}));
    },
    // Control API
    faults: (patch) => request(`${sim.base}/_sim/faults`, { method: 'POST', json: patch }),
    requests: (pathPrefix, since) => request(`${sim.base}/_sim/requests?since=${since || 0}${pathPrefix ? '&pathPrefix=' + encodeURIComponent(pathPrefix) : ''}`)
      .then((r) => r.json),
    clearRequests: () => request(`${sim.base}/_sim/requests`, { method: 'DELETE' }),
  };
  return sim;
}

// Creates a sandbox directly on the simulator and waits until it is Running. Returns its id.
async function createSandbox(sim) {
  const c = await request(`${sim.base}/v1/sandboxes`, {
    method: 'POST',
    headers: sim.headers(),
    json: { image: { uri: 'python:3.11' }, entrypoint: ['/bin/sh'], resourceLimits: { cpu: '500m', memory: '512Mi' }, timeout: 3600 },
  });
  if (c.status !== 202 && c.status !== 200) throw new Error(`create sandbox on ${sim.name}: ${c.status} ${c.text}`);
  const id = c.json.id;
  await waitFor(async () => {
    const r = await request(`${sim.base}/v1/sandboxes/${id}`, { headers: sim.headers() });
    return r.status === 200 && r.json.status && r.json.status.state === 'Running';
  }, { timeoutMs: 10000, what: `sandbox ${id} Running` });
  return id;
}

// ---------------------------------------------------------------- sandgate config

function backend(sim, extra) {
  return Object.assign({ name: sim.name, url: sim.url, api_key: sim.apiKey }, extra || {});
}

// Builds a full sandgate config object. opts:
//   http: true          plain listener (default true)
//   https: true         TLS listener with server.crt (default) and alt.crt (SNI) (default true)
//   admin: true         admin listener (default true)
//   backends, plugins, routes, limits, health_check, log, workers: copied as given
//   asanOptions: appended to ASAN_OPTIONS when SANDGATE_BIN is a sanitizer build (startGateway)
//   configure(config, ports): called last, may change anything (e.g. add a section or a certificate)
// Returns {config, ports:{http, https, admin}}.
async function buildConfig(opts) {
  const o = Object.assign({ http: true, https: true, admin: true }, opts || {});
  const ports = {};
  const listen = [];
  if (o.https) {
    ports.https = o.ports && o.ports.https ? o.ports.https : await freePort();
    const c = certs();
    listen.push({
      address: `127.0.0.1:${ports.https}`,
      tls: { certificates: [{ cert: c.serverCrt, key: c.serverKey }, { cert: c.altCrt, key: c.altKey }], min_version: 'TLSv1.2' },
    });
  }
  if (o.http) {
    ports.http = o.ports && o.ports.http ? o.ports.http : await freePort();
    listen.push({ address: `127.0.0.1:${ports.http}` });
  }
  const config = { workers: o.workers || 2, listen };
  if (o.admin) {
    ports.admin = o.ports && o.ports.admin ? o.ports.admin : await freePort();
    config.admin = { address: `127.0.0.1:${ports.admin}`, api_key_hash: ADMIN_KEY_HASH };
  }
  config.limits = Object.assign({ graceful_shutdown_timeout: '5s' }, o.limits || {});
  config.health_check = Object.assign({ interval: '500ms', timeout: '300ms', healthy_threshold: 1, unhealthy_threshold: 2 }, o.health_check || {});
  config.backends = o.backends || [];
  if (o.plugins !== undefined) config.plugins = o.plugins;
  if (o.routes !== undefined) config.routes = o.routes;
  for (const k of ['tenants', 'redis', 'lifecycle', 'port_tokens']) if (o[k] !== undefined) config[k] = o[k];
  // the config's `ports:` section (sandbox domain, endpoint form, signed URLs): `ports` here names the listener ports
  if (o.portsConf !== undefined) config.ports = o.portsConf;
  config.log = o.log || { level: 'info' };
  // configure(config, ports): last word on the config object (sections this builder does not know, extra certificates)
  if (typeof o.configure === 'function') o.configure(config, ports);
  return { config, ports };
}

function writeConfig(obj, name) {
  const file = path.join(tmpDir(), name || `sandgate-${crypto.randomBytes(4).toString('hex')}.yaml`);
  fs.writeFileSync(file, typeof obj === 'string' ? obj : YAML.stringify(obj));
  return file;
}

// Runs `sandgate -t -c FILE`; returns {code, stdout, stderr}.
function checkConfig(file) {
  const r = spawnSync(SANDGATE_BIN, ['-t', '-c', file], { encoding: 'utf8', timeout: 20000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

// ---------------------------------------------------------------- sandgate process

// Starts sandgate with a config built by buildConfig(opts) and waits until /health answers.
async function startGateway(opts) {
  const { config, ports } = await buildConfig(opts);
  const file = writeConfig(config);
  const childEnv = Object.assign({}, process.env);
  if (opts && opts.asanOptions && isSanitizerBuild()) {
    childEnv.ASAN_OPTIONS = [process.env.ASAN_OPTIONS, opts.asanOptions].filter(Boolean).join(':');
  }
  return spawnGateway(config, ports, file, childEnv);
}

// Runs sandgate on an already written config file; resolves once /health answers.
async function spawnGateway(config, ports, file, childEnv) {
  const proc = spawn(SANDGATE_BIN, ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv });
  children.add(proc);
  let stderr = '';
  let stdout = '';
  proc.stderr.on('data', (c) => { stderr += c; if (DEBUG) process.stderr.write(`[sandgate] ${c}`); });
  proc.stdout.on('data', (c) => { stdout += c; });
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      children.delete(proc);
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
    proc.on('error', (err) => {
      stderr += `[harness] cannot run ${SANDGATE_BIN}: ${err.message}\n`;
      if (proc.pid === undefined && exitInfo === null) { exitInfo = { code: null, signal: null, error: err.message }; resolve(exitInfo); }
    });
  });
  const gw = {
    proc,
    pid: proc.pid,
    config,
    configFile: file,
    ports,
    httpUrl: ports.http ? `http://127.0.0.1:${ports.http}` : null,
    httpsUrl: ports.https ? `https://127.0.0.1:${ports.https}` : null,
    adminUrl: ports.admin ? `http://127.0.0.1:${ports.admin}` : null,
    exited,
    stderr: () => stderr,
    stdout: () => stdout,
    stderrTail: (n) => stderr.slice(-(n || 6000)),
    alive: () => exitInfo === null,
    // Rewrites the config file (object or YAML text) and sends SIGHUP. Waits for the reload to be
    // logged (success or failure) unless wait === false.
    async reload(newConfig, wait) {
      if (newConfig !== undefined) fs.writeFileSync(file, typeof newConfig === 'string' ? newConfig : YAML.stringify(newConfig));
      const before = stderr.length;
      proc.kill('SIGHUP');
      if (wait === false) return '';
      await waitFor(() => /reload|reloaded/i.test(stderr.slice(before)), { timeoutMs: 10000, what: 'reload log line' });
      await sleep(100);
      return stderr.slice(before);
    },
    // SIGTERM, then SIGKILL after timeoutMs; asserts a clean exit (code 0). Under ASan a leak or
    // memory error makes the exit code non-zero, which fails here with the captured stderr.
    async stop(timeoutMs) {
      const limit = timeoutMs || 20000;
      if (exitInfo === null) proc.kill('SIGTERM');
      let killed = false;
      const t = setTimeout(() => { killed = true; proc.kill('SIGKILL'); }, limit);
      const r = await exited;
      clearTimeout(t);
      if (killed) throw new Error(`sandgate did not exit within ${limit} ms of SIGTERM (SIGKILLed)\n--- sandgate stderr ---\n${stderr}`);
      if (r.code !== 0) throw new Error(`sandgate exited with code ${r.code} signal ${r.signal} (expected 0)\n--- sandgate stderr ---\n${stderr}`);
      return r;
    },
    kill() { if (exitInfo === null) proc.kill('SIGKILL'); return exited; },
    // A clean stop, then a new process on the same config file (same ports).
    async restart() {
      await gw.stop();
      return spawnGateway(config, ports, file, childEnv);
    },
  };
  const probe = gw.httpUrl ? `${gw.httpUrl}/health` : `${gw.httpsUrl}/health`;
  try {
    await waitFor(async () => {
      if (exitInfo !== null) throw new Error(`sandgate exited early (${exitInfo.code}/${exitInfo.signal})`);
      try {
        const r = await request(probe, { timeoutMs: 1000 });
        return r.status === 200;
      } catch (_) { return false; }
    }, { timeoutMs: 15000, intervalMs: 50, what: 'sandgate /health' });
  } catch (e) {
    proc.kill('SIGKILL');
    throw new Error(`${e.message}\n--- config ---\n${YAML.stringify(config)}\n--- sandgate stderr ---\n${stderr}`);
  }
  return gw;
}

// True if SANDGATE_BIN was built with AddressSanitizer (its allocator changes what RSS means).
let sanitizerBuild = null;
function isSanitizerBuild() {
  if (sanitizerBuild === null) {
    try { sanitizerBuild = fs.readFileSync(SANDGATE_BIN).includes('AddressSanitizer'); } catch (_) { sanitizerBuild = false; }
  }
  return sanitizerBuild;
}

// ---------------------------------------------------------------- per-file environment

function env() {
  const e = {
    sims: [],
    gateways: [],
    gw: null,
    async sim(opts) { const s = await startSim(opts); e.sims.push(s); return s; },
    async restartSim(sim, extra) { const s = await sim.restart(extra); e.sims.push(s); return s; },
    async gateway(opts) { const g = await startGateway(opts); e.gateways.push(g); if (!e.gw) e.gw = g; return g; },
    // Wraps a test body: on failure the gateway's stderr tail is appended to the error.
    wrap(fn) {
      return async (t) => {
        const first = e.gateways.length;
        try {
          return await fn(t);
        } catch (err) {
          // the gateways this test started, or else the file's main one
          let gws = e.gateways.slice(first);
          if (gws.length === 0 && e.gw) gws = [e.gw];
          const tails = gws.map((g) => `--- sandgate pid ${g.pid} stderr (tail) ---\n${g.stderrTail(4000)}`).join('\n');
          if (err && typeof err === 'object') {
            try { err.message = `${err.message}\n${tails}`; } catch (_) { /* read-only */ }
          }
          throw err;
        }
      };
    },
    async cleanup() {
      for (const g of e.gateways) await g.kill();
      for (const s of e.sims) await s.kill();
    },
  };
  return e;
}

// ---------------------------------------------------------------- HTTP helpers

// HTTP(S)/1.1 request keeping the request target byte-exact. opts: {method, headers, body, json,
// ca, servername, timeoutMs, agent}. Resolves {status, headers, rawHeaders, buf, text, json, ms}.
function request(url, opts) {
  const o = opts || {};
  const u = new URL(url);
  const isHttps = u.protocol === 'https:';
  const mod = isHttps ? https : http;
  const slash = url.indexOf('/', u.protocol.length + 2);
  const rawPath = o.path || (slash < 0 ? '/' : url.slice(slash));
  const headers = Object.assign({}, o.headers || {});
  let body = o.body;
  if (o.json !== undefined) {
    body = Buffer.from(JSON.stringify(o.json));
    headers['content-type'] = 'application/json';
  }
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const req = mod.request({
      host: u.hostname,
      port: u.port,
      path: rawPath,
      method: o.method || 'GET',
      headers,
      agent: o.agent === undefined ? false : o.agent,
      ca: isHttps ? (o.ca || fs.readFileSync(certs().ca)) : undefined,
      servername: isHttps ? (o.servername || (net.isIP(u.hostname) ? undefined : u.hostname)) : undefined,
      setHost: o.setHost,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        const buf = Buffer.concat(chunks);
        const text = buf.toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch (_) { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, buf, text, json, ms: Date.now() - t0 });
      });
      res.on('error', (err) => { clearTimeout(timer); reject(err); });
    });
    const timer = setTimeout(() => req.destroy(new Error(`request ${o.method || 'GET'} ${url} timed out after ${o.timeoutMs || 10000} ms`)), o.timeoutMs || 10000);
    req.on('error', (err) => { clearTimeout(timer); reject(err); });
    if (body !== undefined) req.end(body); else req.end();
  });
}

// Runs curl; resolves {code, stdout, stderr}. Bounded by --max-time and a kill timer.
function curl(args, timeoutMs) {
  return new Promise((resolve) => {
    const p = spawn('curl', ['--silent', '--show-error', '--max-time', String(Math.ceil((timeoutMs || 10000) / 1000)), ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(p);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => { stdout += c; });
    p.stderr.on('data', (c) => { stderr += c; });
    const t = setTimeout(() => p.kill('SIGKILL'), (timeoutMs || 10000) + 5000);
    p.on('exit', (code) => { clearTimeout(t); children.delete(p); resolve({ code, stdout, stderr }); });
  });
}

async function waitFor(fn, opts) {
  const o = Object.assign({ timeoutMs: 10000, intervalMs: 50, what: 'condition' }, opts || {});
  const deadline = Date.now() + o.timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${o.timeoutMs} ms waiting for ${o.what}`);
    await sleep(o.intervalMs);
  }
}

// Admin API helpers.
function admin(gw, p, key) {
  return request(`${gw.adminUrl}${p}`, { headers: { Authorization: `Bearer ${key === undefined ? ADMIN_KEY : key}` } });
}

async function metrics(gw) {
  const r = await admin(gw, '/metrics');
  if (r.status !== 200) throw new Error(`/metrics: ${r.status} ${r.text}`);
  return r.text;
}

// Value of one Prometheus sample, e.g. metricValue(text, 'sandgate_backend_up', {backend: 'a'}). null if absent.
function metricValue(text, name, labels) {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = {};
    if (m[3]) for (const kv of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[kv[1]] = kv[2];
    if (Object.entries(labels || {}).every(([k, v]) => got[k] === String(v))) return Number(m[4]);
  }
  return null;
}

async function backendState(gw, name) {
  const r = await admin(gw, '/admin/v1/backends');
  const b = r.json && r.json.backends && r.json.backends.find((x) => x.name === name);
  return b ? b.state : null;
}

// Resident set size of a process in KiB (Linux /proc).
function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch (_) { return null; }
}

// Samples the RSS of pid every intervalMs until stop(); stop() returns {peak, samples} (KiB).
function sampleRss(pid, intervalMs) {
  const samples = [];
  const take = () => { const v = rssKiB(pid); if (v !== null) samples.push(v); };
  take();
  const timer = setInterval(take, intervalMs || 50);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peak: Math.max(...samples), samples };
    },
  };
}

// Resolves true if a TCP connect to 127.0.0.1:port is refused (false if it connects or hangs 1 s).
function connectRefused(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', (e) => resolve(e.code === 'ECONNREFUSED'));
    s.setTimeout(1000, () => { s.destroy(); resolve(false); });
  });
}

// Opens an SSE stream over plain HTTP/1.1 to gw and counts events. Returns {firstEvent, done}:
// firstEvent resolves at the first event (or the end), done with {status, events, ended, error}.
function sseStream(gw, reqPath, timeoutMs) {
  let first;
  const firstEvent = new Promise((r) => { first = r; });
  const done = new Promise((resolve) => {
    const out = { status: null, events: 0, ended: false, error: null };
    const req = http.get({ host: '127.0.0.1', port: gw.ports.http, path: reqPath, agent: false }, (res) => {
      out.status = res.statusCode;
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        buf += c;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) { out.events += 1; buf = buf.slice(i + 2); first(); }
      });
      res.on('end', () => { out.ended = true; });
      res.on('aborted', () => { out.error = out.error || 'aborted'; });
      res.on('error', (e) => { out.error = e.code || e.message; });
      res.on('close', () => { first(); resolve(out); });
    });
    req.on('error', (e) => { out.error = e.code || e.message; first(); resolve(out); });
    req.setTimeout(timeoutMs || 20000, () => req.destroy(new Error('SSE timed out')));
  });
  return { firstEvent, done };
}

// The simulator's byte pattern (byte i = i % 256) check, incremental.
function patternChecker() {
  let offset = 0;
  let firstBad = -1;
  return {
    push(chunk) {
      if (firstBad < 0) {
        for (let i = 0; i < chunk.length; i++) {
          if (chunk[i] !== ((offset + i) & 0xff)) { firstBad = offset + i; break; }
        }
      }
      offset += chunk.length;
    },
    get bytes() { return offset; },
    get firstBad() { return firstBad; },
  };
}

// Path of sandbox port traffic through the gateway (default form).
function portPath(sandboxId, port, rest, form) {
  const r = rest === undefined ? '' : rest;
  if (form === 'proxy') return `/sandboxes/${sandboxId}/proxy/${port}${r}`;
  if (form === 'v1proxy') return `/v1/sandboxes/${sandboxId}/proxy/${port}${r}`;
  return `/sandboxes/${sandboxId}/port/${port}${r}`;
}

module.exports = {
  REPO, SANDGATE_BIN, PLUGIN_SO, ADMIN_KEY, ADMIN_KEY_HASH,
  sleep, tmpDir, freePort, certs, startSim, createSandbox, backend, buildConfig, writeConfig, checkConfig,
  startGateway, isSanitizerBuild, env, request, curl, waitFor, admin, metrics, metricValue, backendState, rssKiB, sampleRss, connectRefused, sseStream, patternChecker, portPath,
};
