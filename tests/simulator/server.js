#!/usr/bin/env node
'use strict';
// OpenSandbox server simulator: CLI + main HTTP server (lifecycle API, server proxy, /health,
// control API). See README.md in this directory.

const http = require('node:http');
const { Store } = require('./store');
const { Faults, RequestLog } = require('./faults');
const { handleLifecycle } = require('./lifecycle');
const { handleControl } = require('./control');
const { makeRuntimeAdapter, rejectUpgrade } = require('./sandboxhost');
const { sendError, splitUrl, uuid, log } = require('./util');

const USAGE = `usage: node tests/simulator/server.js --port P --api-key KEY [options]
  --host 127.0.0.1            bind address (loopback only)
  --name sim                  name reported in the listening line and /_sim/state
  --ready-delay-ms 200        Pending -> Running delay
  --transition-delay-ms 100   Pausing -> Paused and Resuming -> Running delay
  --snapshot-delay-ms 200     snapshot Creating -> Ready delay
  --terminated-retention-ms 0 keep deleted/expired sandboxes visible as Terminated this long
  --ttl-scale 1               multiply create timeouts (e.g. 0.01 turns 60 s into 0.6 s)
  --max-timeout-seconds N     reject create timeouts above N (server.max_sandbox_timeout_seconds)
  --endpoint-header NAME=VAL  endpoint headers returned and required by sandbox listeners (repeatable)
  --public-host HOST[:PORT]   host used in use_server_proxy endpoints (default 127.0.0.1:<port>)
  --sandbox-host HOST         host used in direct endpoints (default 127.0.0.1)
  --server-proxy-prefix /v1   path prefix of use_server_proxy endpoints ("" = real server form)
  --endpoints-via-proxy       every endpoint has the server-proxy form (one host, routed by path,
                              like a Kubernetes ingress in uri mode), not only use_server_proxy ones
  --proxy-auth required|none  API key on the server proxy route (the real server: none)
  --direct-8080               port 8080 gets its own host port (real Docker bridge mode)
  --paused-behavior 503|refuse  port traffic while not Running: 503 JSON, or connection refused
  --command-grace-ms 1000     POST /command keeps its stream open this long after the last event
  --sse-framing raw|data      execd stream framing: raw JSON + blank line (real execd) or "data: "
  --diagnostics inline|501    diagnostics with scope: inline descriptor, or 501 like the OSS server
  --state-file PATH           persist sandboxes and snapshots (JSON) across restarts
  --exit-with-parent          exit when the parent process goes away
  --verbose                   log to stderr`;

function parseArgs(argv) {
  const o = {
    port: null, apiKey: null, host: '127.0.0.1', name: 'sim', readyDelayMs: 200, transitionDelayMs: 100,
    snapshotDelayMs: 200, terminatedRetentionMs: 0, ttlScale: 1, maxTimeoutSeconds: null, endpointHeaders: {},
    publicHost: null, sandboxHost: '127.0.0.1', serverProxyPrefix: '/v1', proxyAuth: 'required', direct8080: false, endpointsViaProxy: false,
    pausedBehavior: '503', commandGraceMs: 1000, sseFraming: 'raw', diagnostics: 'inline', stateFile: null,
    exitWithParent: false, verbose: false,
  };
  const num = (name, v) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`${name} needs a non-negative number`);
    return n;
  };
  for (let i = 2; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0 && a !== '--endpoint-header') { v = a.slice(eq + 1); a = a.slice(0, eq); }
    const next = () => (v !== undefined ? v : argv[++i]);
    switch (a) {
      case '--port': o.port = num(a, next()); break;
      case '--api-key': o.apiKey = next(); break;
      case '--host': o.host = next(); break;
      case '--name': o.name = next(); break;
      case '--ready-delay-ms': o.readyDelayMs = num(a, next()); break;
      case '--transition-delay-ms': o.transitionDelayMs = num(a, next()); break;
      case '--snapshot-delay-ms': o.snapshotDelayMs = num(a, next()); break;
      case '--terminated-retention-ms': o.terminatedRetentionMs = num(a, next()); break;
      case '--ttl-scale': o.ttlScale = num(a, next()); break;
      case '--max-timeout-seconds': o.maxTimeoutSeconds = num(a, next()); break;
      case '--endpoint-header': {
        const kv = next() || '';
        const j = kv.indexOf('=');
        if (j <= 0) throw new Error('--endpoint-header needs NAME=VALUE');
        o.endpointHeaders[kv.slice(0, j)] = kv.slice(j + 1);
        break;
      }
      case '--public-host': o.publicHost = next(); break;
      case '--endpoints-via-proxy': o.endpointsViaProxy = true; break;
      case '--sandbox-host': o.sandboxHost = next(); break;
      case '--server-proxy-prefix': o.serverProxyPrefix = (next() || '').replace(/\/+$/, ''); break;
      case '--proxy-auth': o.proxyAuth = next(); break;
      case '--direct-8080': o.direct8080 = true; break;
      case '--paused-behavior': o.pausedBehavior = next(); break;
      case '--command-grace-ms': o.commandGraceMs = num(a, next()); break;
      case '--sse-framing': o.sseFraming = next(); break;
      case '--diagnostics': o.diagnostics = next(); break;
      case '--state-file': o.stateFile = next(); break;
      case '--exit-with-parent': o.exitWithParent = true; break;
      case '--verbose': o.verbose = true; break;
      case '-h': case '--help': process.stdout.write(USAGE + '\n'); process.exit(0); break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  if (o.port === null) throw new Error('--port is required (0 picks a free port)');
  if (o.apiKey === null || o.apiKey === undefined || o.apiKey === '') throw new Error('--api-key is required');
  if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(o.host)) throw new Error('--host must be a loopback address');
  if (!['required', 'none'].includes(o.proxyAuth)) throw new Error('--proxy-auth must be required or none');
  if (!['503', 'refuse'].includes(o.pausedBehavior)) throw new Error('--paused-behavior must be 503 or refuse');
  if (!['raw', 'data'].includes(o.sseFraming)) throw new Error('--sse-framing must be raw or data');
  if (!['inline', '501'].includes(o.diagnostics)) throw new Error('--diagnostics must be inline or 501');
  if (o.serverProxyPrefix && !o.serverProxyPrefix.startsWith('/')) o.serverProxyPrefix = '/' + o.serverProxyPrefix;
  return o;
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'upgrade', 'proxy-connection'];
const SENSITIVE = ['authorization', 'cookie', 'open-sandbox-api-key'];
const PROXY_RE = /^(?:\/v1)?\/sandboxes\/([^/]+)\/proxy\/(\d+)(\/.*)?$/s;

// Rewrites request headers the way the real server proxy does before forwarding to a sandbox.
function filterProxyHeaders(req, keepUpgrade) {
  const drop = new Set([...SENSITIVE, ...HOP_BY_HOP.filter((h) => !(keepUpgrade && (h === 'connection' || h === 'upgrade')))]);
  if (!keepUpgrade) {
    for (const h of String(req.headers.connection || '').split(',')) if (h.trim()) drop.add(h.trim().toLowerCase());
  }
  const raw = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (!drop.has(req.rawHeaders[i].toLowerCase())) raw.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  for (const h of drop) delete req.headers[h];
  const add = (name, value) => {
    if (req.headers[name.toLowerCase()] === undefined && value) { req.headers[name.toLowerCase()] = value; raw.push(name, value); }
  };
  add('X-Forwarded-Proto', 'http');
  add('X-Forwarded-Host', req.headers.host);
  add('X-Forwarded-For', req.socket.remoteAddress);
  req.rawHeaders = raw;
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv);
  } catch (e) {
    process.stderr.write(`error: ${e.message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (opts.verbose) process.env.SIM_VERBOSE = '1';

  const faults = new Faults();
  const requestLog = new RequestLog(2000);
  const sockets = new Set();
  let boundPort = null;
  const sim = { opts, faults, requestLog, mainPort: () => boundPort };
  sim.store = new Store(opts, makeRuntimeAdapter(sim), faults);

  const checkKey = (req, res) => {
    const key = req.headers['open-sandbox-api-key'];
    if (!key) {
      sendError(res, 401, 'MISSING_API_KEY', 'Authentication credentials are missing. Provide API key via OPEN-SANDBOX-API-KEY header.');
      return false;
    }
    if (key !== opts.apiKey) {
      sendError(res, 401, 'INVALID_API_KEY', 'Authentication credentials are invalid. Check your API key and try again.');
      return false;
    }
    return true;
  };

  async function onRequest(req, res) {
    const { path, query } = splitUrl(req.url);
    const isControl = path === '/_sim' || path.startsWith('/_sim/');
    if (!isControl) {
      const entry = requestLog.record(req);
      res.once('finish', () => { entry.status = res.statusCode; });
      res.once('close', () => { if (entry.status === null) entry.status = res.headersSent ? res.statusCode : 0; });
    }
    const rid = String(req.headers['x-request-id'] || '').trim() || uuid();
    res.setHeader('X-Request-ID', rid);
    if (isControl) return handleControl(sim, req, res, path, query);
    await faults.delay();
    if (path === '/health') { req.resume(); return faults.health(res); }

    const pm = PROXY_RE.exec(path);
    if (pm) {
      if (opts.proxyAuth === 'required' && !checkKey(req, res)) { req.resume(); return undefined; }
      const sb = sim.store.get(decodeURIComponent(pm[1]));
      if (!sb || !sb.rt) { req.resume(); return sendError(res, 404, 'DOCKER::SANDBOX_NOT_FOUND', `Sandbox ${pm[1]} not found.`); }
      filterProxyHeaders(req, false);
      return sb.rt.onServerProxy(Number(pm[2]), req, res, (pm[3] || '') + (query ? '?' + query : ''));
    }

    if (!checkKey(req, res)) { req.resume(); return undefined; }
    if (faults.inject(req, res)) return undefined;
    faults.delayResponse(res);
    let p = path;
    if (p === '/v1' || p.startsWith('/v1/')) p = p.slice(3) || '/';
    const handled = await handleLifecycle(sim, req, res, p, query);
    if (!handled) {
      req.resume();
      sendError(res, 404, 'GENERAL::UNKNOWN_ERROR', 'Not Found');
    }
    return undefined;
  }

  const server = http.createServer({ keepAliveTimeout: 30000 }, (req, res) => {
    onRequest(req, res).catch((e) => {
      process.stderr.write(`[sim] request error: ${e && e.stack}\n`);
      if (!res.headersSent) sendError(res, 500, 'SANDBOX::UNKNOWN_ERROR', String(e && e.message));
      else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });
  server.on('upgrade', (req, socket, head) => {
    const { path, query } = splitUrl(req.url);
    const pm = PROXY_RE.exec(path);
    if (!pm) return rejectUpgrade(socket, 404, 'GENERAL::UNKNOWN_ERROR', 'Not Found');
    const key = req.headers['open-sandbox-api-key'];
    if (opts.proxyAuth === 'required' && key !== opts.apiKey) {
      return rejectUpgrade(socket, 401, key ? 'INVALID_API_KEY' : 'MISSING_API_KEY', 'Authentication credentials are missing or invalid.');
    }
    const sb = sim.store.get(decodeURIComponent(pm[1]));
    if (!sb || !sb.rt) return rejectUpgrade(socket, 404, 'DOCKER::SANDBOX_NOT_FOUND', `Sandbox ${pm[1]} not found.`);
    filterProxyHeaders(req, true);
    return sb.rt.upgrade(Number(pm[2]), req, socket, head, (pm[3] || '/') + (query ? '?' + query : ''), true);
  });

  const listen = (port) => new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, opts.host, () => { server.removeListener('error', reject); resolve(server.address().port); });
  });

  sim.goDown = (ms, alsoSandboxes) => {
    log('down for', ms, 'ms');
    server.close();
    for (const s of sockets) s.destroy();
    sockets.clear();
    const sbs = alsoSandboxes ? sim.store.list().filter((sb) => sb.rt) : [];
    for (const sb of sbs) { sb.rt.host.close(); if (sb.rt.direct) sb.rt.direct.close(); }
    setTimeout(async () => {
      try {
        await listen(boundPort);
        for (const sb of sbs) {
          if (!sb.rt) continue;
          await sb.rt.host.open(sb.rt.host.port);
          if (sb.rt.direct) await sb.rt.direct.open(sb.rt.direct.port);
          await sb.rt.onState();
        }
        log('back up on', boundPort);
      } catch (e) {
        process.stderr.write(`[sim] cannot re-listen on ${boundPort}: ${e.message}\n`);
      }
    }, ms);
  };

  let shuttingDown = false;
  const shutdown = async (code) => {
    if (shuttingDown) return;
    shuttingDown = true;
    server.close();
    for (const s of sockets) s.destroy();
    const force = setTimeout(() => process.exit(code), 5000);
    try { await sim.store.close(); } catch (e) { process.stderr.write(`[sim] shutdown: ${e.message}\n`); }
    clearTimeout(force);
    process.exit(code);
  };
  process.on('SIGTERM', () => shutdown(0));
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGHUP', () => shutdown(0));
  process.on('uncaughtException', (e) => process.stderr.write(`[sim] uncaught: ${e && e.stack}\n`));
  process.on('unhandledRejection', (e) => process.stderr.write(`[sim] unhandled rejection: ${e && e.stack}\n`));
  if (opts.exitWithParent) {
    const ppid = process.ppid;
    setInterval(() => {
      let alive = true;
      try { process.kill(ppid, 0); } catch (_) { alive = false; }
      if (!alive || process.ppid !== ppid) shutdown(0);
    }, 500).unref();
  }

  (async () => {
    boundPort = await listen(opts.port);
    await sim.store.restore();
    process.stdout.write(JSON.stringify({ event: 'listening', name: opts.name, port: boundPort }) + '\n');
  })().catch((e) => {
    process.stderr.write(`[sim] cannot start: ${e.message}\n`);
    sim.store.close().finally(() => process.exit(1));
  });
}

if (require.main === module) main();

module.exports = { parseArgs };
