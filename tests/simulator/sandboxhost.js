'use strict';
// Per-sandbox runtime: the "sandbox host port" listener (Docker runtime style: the host port
// mapped to the in-container execd, which also proxies /proxy/{port}/... to other ports),
// the optional direct 8080 listener (--direct-8080), and dispatch to execd / echo.
//
// On the sandbox listener:
//   /proxy/44772/{rest}  -> execd API
//   /proxy/8080/{rest}   -> echo service
//   /proxy/3000/{rest}   -> web app (webapp.js: an HTML page with scripts, fetch and WebSockets)
//   /proxy/{other}/...   -> 502 JSON (nothing listens on that port inside the sandbox)
//   anything else        -> execd API at the root (the listener *is* the execd port)

const http = require('node:http');
const { sendError, log } = require('./util');
const { Execd } = require('./execd');
const echo = require('./echo');
const webapp = require('./webapp');

const EXECD_PORT = 44772;
const ECHO_PORT = 8080;
const WEBAPP_PORT = webapp.WEBAPP_PORT;
// Endpoint headers the real server proxy does not inject on behalf of callers.
const CALLER_ONLY_HEADERS = ['opensandbox-secure-access', 'opensandbox-egress-auth'];

function listen(server, host, port) {
  return new Promise((resolve, reject) => {
    const onErr = (e) => { server.removeListener('listening', onOk); reject(e); };
    const onOk = () => { server.removeListener('error', onErr); resolve(server.address().port); };
    server.once('error', onErr);
    server.once('listening', onOk);
    server.listen(port || 0, host);
  });
}

class Listener {
  constructor(rt, kind) {
    this.rt = rt;
    this.kind = kind; // 'host' (execd + /proxy) or 'direct8080'
    this.sockets = new Set();
    this.server = null;
    this.port = null;
  }

  makeServer() {
    const server = http.createServer({ keepAliveTimeout: 30000 }, (req, res) => this.rt.onRequest(this.kind, req, res));
    server.on('upgrade', (req, socket, head) => this.rt.onUpgrade(this.kind, req, socket, head));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('clientError', (err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    });
    return server;
  }

  async open(preferredPort) {
    if (this.server) return this.port;
    const host = this.rt.sim.opts.host;
    const server = this.makeServer();
    try {
      this.port = await listen(server, host, preferredPort || this.port || 0);
    } catch (e) {
      if (!(preferredPort || this.port)) throw e;
      // Preferred port taken (e.g. after a restart): fall back to a new ephemeral port.
      this.port = await listen(server, host, 0);
    }
    this.server = server;
    return this.port;
  }

  async close() {
    const server = this.server;
    if (!server) return;
    this.server = null;
    await new Promise((resolve) => {
      server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
      this.sockets.clear();
    });
  }
}

class SandboxRuntime {
  constructor(sim, sb) {
    this.sim = sim;
    this.sb = sb;
    this.host = new Listener(this, 'host');
    this.direct = sim.opts.direct8080 ? new Listener(this, 'direct8080') : null;
    this.execd = new Execd(sim, sb);
    this.stopped = false;
  }

  refuseMode() {
    return this.sim.opts.pausedBehavior === 'refuse';
  }

  async start(preferredPort, preferredHttpPort) {
    this.sb.hostPort = await this.host.open(preferredPort);
    if (this.direct) this.sb.httpPort = await this.direct.open(preferredHttpPort);
    this.sim.store.logLine(this.sb, `execd started (sandbox host port ${this.sb.hostPort})`);
    await this.onState();
  }

  // In 'refuse' mode the listeners are only open while the sandbox is Running.
  async onState() {
    if (this.stopped || !this.refuseMode()) return;
    const running = this.sb.status.state === 'Running';
    for (const l of [this.host, this.direct]) {
      if (!l) continue;
      if (running) await l.open(l.port).catch((e) => log('reopen failed', e.message));
      else await l.close();
    }
  }

  async stop() {
    this.stopped = true;
    await this.execd.killAll();
    await this.host.close();
    if (this.direct) await this.direct.close();
  }

  // Checks endpoint headers and state. Returns true if the request was rejected.
  gate(req, res) {
    const required = this.sim.opts.endpointHeaders || {};
    for (const [name, value] of Object.entries(required)) {
      if (req.headers[name.toLowerCase()] !== value) {
        sendError(res, 403, 'FORBIDDEN', `Missing or invalid endpoint header ${name}.`);
        return true;
      }
    }
    const st = this.sb.status.state;
    if (st !== 'Running') {
      sendError(res, 503, 'SANDBOX_NOT_RUNNING', `Sandbox ${this.sb.id} is ${st}; it does not accept traffic.`);
      return true;
    }
    return false;
  }

  // Entry for requests on this sandbox's own listeners.
  onRequest(kind, req, res) {
    if (kind === 'direct8080') {
      if (this.gate(req, res)) { req.resume(); return; }
      this.dispatch(ECHO_PORT, req, res, req.url);
      return;
    }
    const m = /^\/proxy\/(\d*)(.*)$/s.exec(req.url);
    if (m) {
      if (!m[1]) {
        sendError(res, 400, 'INVALID_REQUEST_BODY', 'port is required');
        req.resume();
        return;
      }
      if (this.gate(req, res)) { req.resume(); return; }
      this.dispatch(Number(m[1]), req, res, normalizeRest(m[2]));
      return;
    }
    if (this.gate(req, res)) { req.resume(); return; }
    this.dispatch(EXECD_PORT, req, res, req.url);
  }

  // Entry for the main server's proxy route (/sandboxes/{id}/proxy/{port}/...). The caller has
  // already stripped hop-by-hop and credential headers; endpoint headers are injected like the
  // real server does (except secure-access style headers the caller must send itself).
  onServerProxy(port, req, res, rest) {
    // Like httpx in the real server proxy: Host becomes the sandbox endpoint address.
    setHeader(req, 'Host', `${this.sim.opts.sandboxHost}:${this.sb.hostPort}`);
    for (const [name, value] of Object.entries(this.sim.opts.endpointHeaders || {})) {
      if (!CALLER_ONLY_HEADERS.includes(name.toLowerCase())) setHeader(req, name, value);
    }
    if (this.gate(req, res)) { req.resume(); return; }
    this.dispatch(port, req, res, normalizeRest(rest));
  }

  dispatch(port, req, res, rest) {
    if (port === EXECD_PORT) {
      this.execd.handle(req, res, rest).catch((e) => {
        log('execd error', e && e.stack);
        sendError(res, 500, 'RUNTIME_ERROR', String(e && e.message));
      });
      return;
    }
    if (port === ECHO_PORT) {
      echo.handle(req, res, rest).catch((e) => sendError(res, 500, 'ECHO_ERROR', String(e && e.message)));
      return;
    }
    if (port === WEBAPP_PORT) {
      webapp.handle(req, res, rest).catch((e) => sendError(res, 500, 'WEBAPP_ERROR', String(e && e.message)));
      return;
    }
    req.resume();
    sendError(res, 502, 'BAD_GATEWAY', `Nothing is listening on port ${port} inside sandbox ${this.sb.id}.`);
  }

  // WebSocket / upgrade handling.
  onUpgrade(kind, req, socket, head) {
    let port = EXECD_PORT;
    let rest = req.url;
    if (kind === 'direct8080') {
      port = ECHO_PORT;
    } else {
      const m = /^\/proxy\/(\d+)(.*)$/s.exec(req.url);
      if (m) { port = Number(m[1]); rest = normalizeRest(m[2]); }
    }
    this.upgrade(port, req, socket, head, rest, false);
  }

  upgrade(port, req, socket, head, rest, viaServerProxy) {
    const required = this.sim.opts.endpointHeaders || {};
    for (const [name, value] of Object.entries(required)) {
      if (viaServerProxy && !CALLER_ONLY_HEADERS.includes(name.toLowerCase())) continue;
      if (req.headers[name.toLowerCase()] !== value) return rejectUpgrade(socket, 403, 'FORBIDDEN', `Missing or invalid endpoint header ${name}.`);
    }
    if (this.sb.status.state !== 'Running') {
      return rejectUpgrade(socket, 503, 'SANDBOX_NOT_RUNNING', `Sandbox ${this.sb.id} is ${this.sb.status.state}.`);
    }
    if (port === ECHO_PORT && echo.isWebSocketPath(rest)) {
      echo.handleUpgrade(req, socket, head);
      return;
    }
    if (port === WEBAPP_PORT && webapp.isWebSocketPath(rest)) {
      webapp.handleUpgrade(req, socket, head);
      return;
    }
    if (port === ECHO_PORT || port === EXECD_PORT || port === WEBAPP_PORT) return rejectUpgrade(socket, 404, 'NOT_FOUND', 'No WebSocket endpoint at this path.');
    return rejectUpgrade(socket, 502, 'BAD_GATEWAY', `Nothing is listening on port ${port} inside sandbox ${this.sb.id}.`);
  }
}

// Sets a request header in both req.headers and req.rawHeaders (the echo service reports both).
function setHeader(req, name, value) {
  const lower = name.toLowerCase();
  const raw = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i].toLowerCase() !== lower) raw.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  raw.push(name, value);
  req.rawHeaders = raw;
  req.headers[lower] = value;
}

// "/proxy/8080" -> "/", "/proxy/8080?x" -> "/?x", "/proxy/8080/a/b?q" -> "/a/b?q".
function normalizeRest(rest) {
  if (rest === '' || rest === undefined) return '/';
  if (rest[0] === '?') return '/' + rest;
  if (rest[0] !== '/') return '/' + rest;
  return rest;
}

function rejectUpgrade(socket, status, code, message) {
  const body = JSON.stringify({ code, message });
  const reason = http.STATUS_CODES[status] || 'Error';
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

// Runtime adapter used by the Store.
function makeRuntimeAdapter(sim) {
  return {
    async attach(sb, preferredPort, preferredHttpPort) {
      const rt = new SandboxRuntime(sim, sb);
      Object.defineProperty(sb, 'rt', { value: rt, enumerable: false, configurable: true, writable: true });
      await rt.start(preferredPort, preferredHttpPort);
    },
    async detach(sb) {
      if (sb.rt) {
        const rt = sb.rt;
        sb.rt = null;
        await rt.stop();
      }
    },
    onState(sb) {
      if (sb.rt) sb.rt.onState().catch(() => {});
    },
  };
}

module.exports = { makeRuntimeAdapter, normalizeRest, rejectUpgrade, EXECD_PORT, ECHO_PORT, WEBAPP_PORT };
