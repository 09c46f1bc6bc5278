'use strict';
// In-sandbox execd daemon (execd-api.yaml): commands, bash sessions, code contexts, metrics,
// ping; the file-system routes live in files.js.
//
// Streaming format follows the real execd: each ServerStreamEvent is written as one JSON
// object followed by "\n\n" (no "data:" prefix; --sse-framing data adds the prefix), flushed
// immediately. Output is split into lines exactly like execd (a line terminator \n or \r ends
// an event, a blank line is sent as "\n", an unterminated tail is sent when the process ends).
// Foreground events: init(text=command id), ping (immediately, then every 3 s), stdout/stderr,
// then execution_complete{execution_time} on exit code 0, or error{ename:"CommandExecError",
// evalue:"<exit code>", traceback:["exit status N"]} otherwise. POST /command keeps the stream
// open --command-grace-ms (default 1000, like execd's EXECD_API_GRACE_SHUTDOWN) after the last event.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { sendJson, sendError, sendEmpty, readJson, splitUrl, isPlainObject, hexId, nowIso } = require('./util');
const { handleFiles, resolvePath } = require('./files');

const SHELL = fs.existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
const SIGNAL_TEXT = {
  SIGKILL: 'killed', SIGTERM: 'terminated', SIGINT: 'interrupt', SIGHUP: 'hangup', SIGQUIT: 'quit',
  SIGSEGV: 'segmentation fault', SIGABRT: 'aborted', SIGPIPE: 'broken pipe',
};
const INTERPRETERS = {
  python: ['python3', '-c'], javascript: ['node', '-e'], typescript: ['node', '-e'], bash: [SHELL, '-c'], sh: ['/bin/sh', '-c'],
};

class EventStream {
  constructor(res, framing) {
    this.res = res;
    this.framing = framing;
    this.started = false;
  }

  send(ev) {
    const res = this.res;
    if (res.destroyed || res.writableEnded) return;
    if (!this.started) {
      res.writeHead(200, {
        'Content-Type': 'text/event-stream',
        'Cache-Control': 'no-cache',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no',
      });
      this.started = true;
    }
    const json = JSON.stringify(ev);
    res.write(this.framing === 'data' ? `data: ${json}\n\n` : `${json}\n\n`);
  }

  end() {
    if (!this.res.writableEnded) this.res.end();
  }
}

// execd's readFromPos line semantics.
class LineSplitter {
  constructor(emit) {
    this.emit = emit;
    this.pending = Buffer.alloc(0);
    this.cr = false;
  }

  push(chunk) {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b === 0x0a || b === 0x0d) {
        const line = this.pending.length ? Buffer.concat([this.pending, chunk.subarray(start, i)]) : chunk.subarray(start, i);
        if (line.length) this.emit(line.toString('utf8'));
        else if (!(b === 0x0a && this.cr)) this.emit('\n');
        this.cr = b === 0x0d;
        this.pending = Buffer.alloc(0);
        start = i + 1;
      } else {
        this.cr = false;
      }
    }
    if (start < chunk.length) this.pending = Buffer.concat([this.pending, chunk.subarray(start)]);
  }

  flush() {
    if (this.pending.length) this.emit(this.pending.toString('utf8'));
    this.pending = Buffer.alloc(0);
  }
}

function exitInfo(code, signal) {
  if (signal) return { exitCode: -1, text: `signal: ${SIGNAL_TEXT[signal] || signal}` };
  return { exitCode: code, text: code === 0 ? '' : `exit status ${code}` };
}

function killGroup(pid, sig) {
  try { process.kill(-pid, sig); } catch (_) { try { process.kill(pid, sig); } catch (__) { /* gone */ } }
}

class Execd {
  constructor(sim, sb) {
    this.sim = sim;
    this.sb = sb;
    this.commands = new Map();
    this.sessions = new Map();
    this.contexts = new Map();
    this.children = new Map(); // pid -> {child, exited: Promise}
    this.streams = new Set();
  }

  get root() { return path.join(this.sb.dir, 'root'); }

  get tmp() { return path.join(this.sb.dir, 'tmp'); }

  log(text) { this.sim.store.logLine(this.sb, text); }

  env(extra) {
    return Object.assign({
      PATH: process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: this.root,
      LANG: 'C.UTF-8',
      SANDBOX_ROOT: this.root,
      SANDBOX_ID: this.sb.id,
    }, this.sb.env || {}, extra || {});
  }

  spawnProc(argv, opts) {
    const child = spawn(argv[0], argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: opts.stdio || ['ignore', 'pipe', 'pipe'],
      uid: opts.uid,
      gid: opts.gid,
    });
    const exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (err) => resolve({ error: err }));
    });
    if (child.pid) {
      this.children.set(child.pid, { child, exited });
      exited.then(() => this.children.delete(child.pid));
    }
    return { child, exited };
  }

  // Resolves a client cwd (sandbox path) to a host dir; throws a message string on error.
  resolveCwd(cwd) {
    if (cwd === undefined || cwd === null || cwd === '') return this.root;
    let r;
    try {
      r = resolvePath(this.root, cwd);
    } catch (e) {
      throw `cannot resolve working directory ${JSON.stringify(cwd)}: ${e.message}`;
    }
    let st;
    try { st = fs.statSync(r.host); } catch (_) { throw `working directory does not exist: ${cwd}`; }
    if (!st.isDirectory()) throw `working directory path is not a directory: ${cwd}`;
    return r.host;
  }

  async handle(req, res, rest) {
    const { path: p, query } = splitUrl(rest);
    const q = new URLSearchParams(query);
    const m = req.method;
    if (p === '/ping' && m === 'GET') { req.resume(); return sendEmpty(res, 200); }
    if (p.startsWith('/files') || p.startsWith('/directories')) {
      const handled = await handleFiles({ root: this.root, tmp: this.tmp, log: (t) => this.log(t) }, req, res, rest);
      if (handled) return undefined;
    }
    if (p === '/command' && m === 'POST') return this.runCommand(req, res);
    if (p === '/command' && m === 'DELETE') { req.resume(); return this.interrupt(res, q.get('id')); }
    let mm;
    if ((mm = /^\/command\/status\/([^/]+)$/.exec(p)) && m === 'GET') { req.resume(); return this.status(res, decodeURIComponent(mm[1])); }
    if ((mm = /^\/command\/([^/]+)\/logs$/.exec(p)) && m === 'GET') { req.resume(); return this.logs(res, decodeURIComponent(mm[1]), q.get('cursor')); }
    if (p === '/session' && m === 'POST') return this.createSession(req, res);
    if ((mm = /^\/session\/([^/]+)\/run$/.exec(p)) && m === 'POST') return this.runInSession(req, res, decodeURIComponent(mm[1]));
    if ((mm = /^\/session\/([^/]+)$/.exec(p)) && m === 'DELETE') { req.resume(); return this.deleteSession(res, decodeURIComponent(mm[1])); }
    if (p.startsWith('/code')) return this.code(req, res, p, q);
    if (p === '/metrics' && m === 'GET') { req.resume(); return sendJson(res, 200, this.metrics()); }
    if (p === '/metrics/watch' && m === 'GET') { req.resume(); return this.watchMetrics(res); }
    req.resume();
    return sendError(res, 404, 'NOT_FOUND', `execd: no route for ${m} ${p}`);
  }

  // ---------- commands ----------
  async runCommand(req, res) {
    const r = await readJson(req);
    const b = r.ok ? r.value : undefined;
    if (!r.ok || !isPlainObject(b)) {
      return sendError(res, 400, 'INVALID_REQUEST_BODY', `error parsing request, MAYBE invalid body format. ${r.error || 'expected a JSON object'}`);
    }
    const bad = (msg) => sendError(res, 400, 'INVALID_REQUEST_BODY', `invalid request, validation error ${msg}`);
    if (typeof b.command !== 'string' || b.command === '') return bad("Key: 'RunCommandRequest.Command' Error:Field validation for 'Command' failed on the 'required' tag");
    if (b.cwd !== undefined && typeof b.cwd !== 'string') return bad('cwd must be a string');
    if (b.background !== undefined && typeof b.background !== 'boolean') return bad('background must be a boolean');
    if (b.timeout !== undefined && (!Number.isInteger(b.timeout) || b.timeout < 0)) return bad('timeout must be an integer >= 1 (milliseconds)');
    for (const k of ['uid', 'gid']) {
      if (b[k] !== undefined && b[k] !== null && (!Number.isInteger(b[k]) || b[k] < 0)) return bad(`${k} must be a non-negative integer`);
    }
    if (b.gid != null && b.uid == null) return bad('uid is required when gid is provided');
    if (b.envs !== undefined && b.envs !== null && (!isPlainObject(b.envs) || Object.values(b.envs).some((v) => typeof v !== 'string'))) return bad('envs must be an object of strings');
    let cwd;
    try { cwd = this.resolveCwd(b.cwd); } catch (msg) { return bad(String(msg)); }
    const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    const spec = {
      argv: [SHELL, '-c', b.command],
      content: b.command,
      cwd,
      env: this.env(b.envs || {}),
      timeoutMs: b.timeout || 0,
      uid: asRoot && b.uid != null ? b.uid : undefined,
      gid: asRoot && b.gid != null ? b.gid : undefined,
    };
    if (b.background) return this.runBackground(res, spec);
    return this.runForeground(res, spec, { graceMs: this.sim.opts.commandGraceMs, record: true });
  }

  newRecord(id, content, background) {
    const rec = {
      id, content, background, running: true, exitCode: null, error: '', startedAt: nowIso(), finishedAt: null, pid: 0,
      outFile: background ? path.join(this.tmp, `${id}.output`) : null, exited: null,
    };
    this.commands.set(id, rec);
    return rec;
  }

  finish(rec, info) {
    rec.running = false;
    rec.exitCode = info.exitCode;
    rec.error = info.text;
    rec.finishedAt = nowIso();
    rec.pid = 0;
    this.log(`command ${rec.id} finished exit_code=${info.exitCode}`);
  }

  // Runs a process and streams ServerStreamEvents. opts: {graceMs, record, id, countEvent(), errorFrom}
  async runForeground(res, spec, opts) {
    const id = opts.id || hexId();
    const es = new EventStream(res, this.sim.opts.sseFraming);
    this.streams.add(es);
    const started = Date.now();
    const rec = opts.record ? this.newRecord(id, spec.content, false) : null;
    this.log(`command ${id} started: ${spec.content}`);
    const { child, exited } = this.spawnProc(spec.argv, spec);
    if (rec) { rec.pid = child.pid || 0; rec.exited = exited; }
    if (opts.onSpawn) opts.onSpawn(child, exited);
    es.send({ type: 'init', text: id, timestamp: Date.now() });
    const ping = () => es.send({ type: 'ping', text: 'pong', timestamp: Date.now() });
    ping();
    const pingTimer = setInterval(ping, 3000);
    const stderrLines = [];
    const outs = [];
    const ends = [];
    for (const [stream, type] of [[child.stdout, 'stdout'], [child.stderr, 'stderr']]) {
      if (!stream) continue;
      const sp = new LineSplitter((text) => {
        if (type === 'stderr') stderrLines.push(text);
        es.send({ type, text, timestamp: Date.now() });
      });
      outs.push(sp);
      stream.on('data', (c) => sp.push(c));
      ends.push(new Promise((resolve) => { stream.once('end', resolve); stream.once('close', resolve); }));
    }
    let timer = null;
    if (spec.timeoutMs > 0) timer = setTimeout(() => child.pid && killGroup(child.pid, 'SIGKILL'), spec.timeoutMs);
    const result = await exited;
    clearTimeout(timer);
    // Collect output already in flight, but do not wait for grandchildren holding the pipes.
    await Promise.race([Promise.all(ends), new Promise((r) => setTimeout(r, 100))]);
    for (const sp of outs) sp.flush();
    let info;
    if (result.error) {
      info = { exitCode: 255, text: result.error.message };
      es.send({ type: 'error', error: { ename: 'CommandExecError', evalue: result.error.message, traceback: [result.error.message] }, timestamp: Date.now() });
    } else {
      info = exitInfo(result.code, result.signal);
      if (opts.countEvent) opts.countEvent(es);
      if (info.exitCode === 0) {
        es.send({ type: 'execution_complete', execution_time: Date.now() - started, timestamp: Date.now() });
      } else if (opts.errorFrom) {
        es.send({ type: 'error', error: opts.errorFrom(stderrLines, info), timestamp: Date.now() });
      } else {
        es.send({ type: 'error', error: { ename: 'CommandExecError', evalue: String(info.exitCode), traceback: [info.text] }, timestamp: Date.now() });
      }
    }
    if (rec) this.finish(rec, info);
    if (opts.graceMs > 0) await new Promise((r) => { const t = setTimeout(r, opts.graceMs); res.once('close', () => { clearTimeout(t); r(); }); });
    clearInterval(pingTimer);
    es.end();
    this.streams.delete(es);
    return info;
  }

  async runBackground(res, spec) {
    const id = hexId();
    const es = new EventStream(res, this.sim.opts.sseFraming);
    const started = Date.now();
    const rec = this.newRecord(id, spec.content, true);
    es.send({ type: 'init', text: id, timestamp: Date.now() });
    const fd = fs.openSync(rec.outFile, 'w');
    this.log(`background command ${id} started: ${spec.content}`);
    const { child, exited } = this.spawnProc(spec.argv, Object.assign({}, spec, { stdio: ['ignore', fd, fd] }));
    fs.closeSync(fd);
    rec.pid = child.pid || 0;
    rec.exited = exited;
    let timer = null;
    if (spec.timeoutMs > 0) timer = setTimeout(() => child.pid && killGroup(child.pid, 'SIGKILL'), spec.timeoutMs);
    exited.then((r) => {
      clearTimeout(timer);
      this.finish(rec, r.error ? { exitCode: 255, text: r.error.message } : exitInfo(r.code, r.signal));
    });
    es.send({ type: 'execution_complete', execution_time: Date.now() - started, timestamp: Date.now() });
    const grace = this.sim.opts.commandGraceMs;
    if (grace > 0) await new Promise((r) => { const t = setTimeout(r, grace); res.once('close', () => { clearTimeout(t); r(); }); });
    es.end();
  }

  status(res, id) {
    const rec = this.commands.get(id);
    if (!rec) return sendError(res, 404, 'INVALID_REQUEST_BODY', `command not found: ${id}`);
    const out = { id: rec.id, content: rec.content, running: rec.running };
    if (!rec.running) out.exit_code = rec.exitCode;
    if (rec.error) out.error = rec.error;
    out.started_at = rec.startedAt;
    if (rec.finishedAt) out.finished_at = rec.finishedAt;
    return sendJson(res, 200, out);
  }

  // Background logs. The cursor is a byte offset into the combined output (what the real execd
  // does, although the spec calls it a line index); EXECD-COMMANDS-TAIL-CURSOR is the end offset.
  logs(res, id, cursorRaw) {
    const rec = this.commands.get(id);
    if (!rec) return sendError(res, 400, 'INVALID_REQUEST_BODY', `command not found: ${id}`);
    if (!rec.background) return sendError(res, 400, 'INVALID_REQUEST_BODY', `command ${id} is not running in background`);
    const cursor = cursorRaw && /^\d+$/.test(cursorRaw) ? Number(cursorRaw) : 0;
    let data = Buffer.alloc(0);
    try { data = fs.readFileSync(rec.outFile); } catch (e) {
      return sendError(res, 400, 'INVALID_REQUEST_BODY', `error open combined output file for command ${id}: ${e.message}`);
    }
    const slice = data.subarray(Math.min(cursor, data.length));
    res.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': slice.length,
      'EXECD-COMMANDS-TAIL-CURSOR': String(Math.max(cursor, data.length)),
    });
    res.end(slice);
    return undefined;
  }

  async interrupt(res, id) {
    if (!id) return sendError(res, 400, 'MISSING_QUERY', "missing query parameter 'id'");
    const rec = this.commands.get(id) || [...this.contexts.values()].find((c) => c.id === id);
    if (this.sessions.has(id) && !rec) {
      this.closeSession(id);
      return sendEmpty(res, 200);
    }
    if (!rec) return sendError(res, 500, 'RUNTIME_ERROR', 'error interruptting code context. no such session');
    if (!rec.running || !rec.pid) return sendError(res, 500, 'RUNTIME_ERROR', `error interruptting code context. command session ${id} is not running`);
    await this.killWithGrace(rec.pid, rec.exited);
    return sendEmpty(res, 200);
  }

  async killWithGrace(pid, exited) {
    killGroup(pid, 'SIGTERM');
    const done = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
    if (!done) killGroup(pid, 'SIGKILL');
  }

  // ---------- bash sessions ----------
  async createSession(req, res) {
    const r = await readJson(req);
    if (!r.ok || (r.value !== undefined && !isPlainObject(r.value))) return sendError(res, 400, 'INVALID_REQUEST_BODY', `error parsing request. ${r.error || 'expected a JSON object'}`);
    const b = r.value || {};
    let cwd;
    try { cwd = this.resolveCwd(b.cwd); } catch (msg) { return sendError(res, 500, 'RUNTIME_ERROR', `error creating session. ${msg}`); }
    const id = hexId();
    this.sessions.set(id, { id, cwd, state: path.join(this.tmp, `session-${id}`), running: null });
    return sendJson(res, 200, { session_id: id });
  }

  async runInSession(req, res, sid) {
    const r = await readJson(req);
    const b = r.ok ? r.value : undefined;
    if (!r.ok || !isPlainObject(b)) return sendError(res, 400, 'INVALID_REQUEST_BODY', `error parsing request. ${r.error || 'expected a JSON object'}`);
    if (typeof b.command !== 'string' || !b.command) return sendError(res, 400, 'INVALID_REQUEST_BODY', 'invalid request. command is required');
    if (b.timeout !== undefined && (!Number.isInteger(b.timeout) || b.timeout < 0)) return sendError(res, 400, 'INVALID_REQUEST_BODY', 'invalid request. timeout must be >= 0');
    const s = this.sessions.get(sid);
    if (!s) return sendError(res, 500, 'RUNTIME_ERROR', `error running in session. session ${sid} not found`);
    let runCwd = '';
    if (b.cwd) {
      try { runCwd = this.resolveCwd(b.cwd); } catch (msg) { return sendError(res, 400, 'INVALID_REQUEST_BODY', `invalid request. ${msg}`); }
    }
    const script = [
      '__sim_env=$__SIM_ENV; __sim_cwd=$__SIM_CWD; __sim_cmd=$__SIM_CMD; __sim_run_cwd=$__SIM_RUN_CWD',
      'unset __SIM_ENV __SIM_CWD __SIM_CMD __SIM_RUN_CWD',
      'if [ -f "$__sim_env" ]; then . "$__sim_env" >/dev/null 2>&1; fi',
      'if [ -f "$__sim_cwd" ]; then cd "$(cat "$__sim_cwd")" 2>/dev/null; fi',
      'if [ -n "$__sim_run_cwd" ]; then cd "$__sim_run_cwd"; fi',
      'eval "$__sim_cmd"',
      '__sim_rc=$?',
      'pwd > "$__sim_cwd"; export -p > "$__sim_env"',
      'exit $__sim_rc',
    ].join('\n');
    const env = this.env({ __SIM_ENV: s.state + '.env', __SIM_CWD: s.state + '.cwd', __SIM_CMD: b.command, __SIM_RUN_CWD: runCwd });
    return this.runForeground(res, { argv: [SHELL, '-c', script], content: b.command, cwd: s.cwd, env, timeoutMs: b.timeout || 0 }, {
      graceMs: 0, record: true, onSpawn: (child) => { s.running = child; },
    });
  }

  closeSession(sid) {
    const s = this.sessions.get(sid);
    if (!s) return false;
    if (s.running && s.running.pid && s.running.exitCode === null) killGroup(s.running.pid, 'SIGKILL');
    this.sessions.delete(sid);
    for (const ext of ['.env', '.cwd']) fs.rmSync(s.state + ext, { force: true });
    return true;
  }

  deleteSession(res, sid) {
    if (!this.closeSession(sid)) return sendError(res, 404, 'CONTEXT_NOT_FOUND', `session ${sid} not found`);
    return sendEmpty(res, 200);
  }

  // ---------- code contexts (stateless interpreters; no Jupyter) ----------
  async code(req, res, p, q) {
    const m = req.method;
    const ctxJson = (c) => Object.assign({ id: c.id, language: c.language }, c.cwd ? { cwd: c.cwd } : {});
    if (p === '/code/context' && m === 'POST') {
      const r = await readJson(req);
      if (!r.ok || (r.value !== undefined && !isPlainObject(r.value))) return sendError(res, 400, 'INVALID_REQUEST_BODY', `error parsing request, MAYBE invalid body format. ${r.error || ''}`);
      const b = r.value || {};
      const language = b.language || 'python';
      if (!INTERPRETERS[language]) return sendError(res, 500, 'RUNTIME_ERROR', `error creating code context. unsupported language: ${language}`);
      const c = { id: hexId(), language, cwd: b.cwd || '', count: 0, running: false, pid: 0, exited: null };
      this.contexts.set(c.id, c);
      return sendJson(res, 200, ctxJson(c));
    }
    req.resume();
    if (p === '/code/contexts' && m === 'GET') {
      const lang = q.get('language');
      return sendJson(res, 200, [...this.contexts.values()].filter((c) => !lang || c.language === lang).map(ctxJson));
    }
    if (p === '/code/contexts' && m === 'DELETE') {
      const lang = q.get('language');
      if (!lang) return sendError(res, 400, 'MISSING_QUERY', "missing query parameter 'language'");
      for (const c of [...this.contexts.values()]) if (c.language === lang) this.contexts.delete(c.id);
      return sendEmpty(res, 200);
    }
    const mm = /^\/code\/contexts\/([^/]+)$/.exec(p);
    if (mm && (m === 'GET' || m === 'DELETE')) {
      const c = this.contexts.get(decodeURIComponent(mm[1]));
      if (!c) return sendError(res, 404, 'CONTEXT_NOT_FOUND', `context ${mm[1]} not found`);
      if (m === 'DELETE') { this.contexts.delete(c.id); return sendEmpty(res, 200); }
      return sendJson(res, 200, ctxJson(c));
    }
    if (p === '/code' && m === 'DELETE') return this.interrupt(res, q.get('id'));
    if (p === '/code' && m === 'POST') return this.runCode(req, res);
    return sendError(res, 404, 'NOT_FOUND', `execd: no route for ${m} ${p}`);
  }

  async runCode(req, res) {
    const r = await readJson(req);
    const b = r.ok ? r.value : undefined;
    if (!r.ok || !isPlainObject(b)) return sendError(res, 400, 'INVALID_REQUEST_BODY', `error parsing request, MAYBE invalid body format. ${r.error || ''}`);
    if (typeof b.code !== 'string' || !b.code) return sendError(res, 400, 'INVALID_REQUEST_BODY', 'invalid request, validation error code is required');
    const reqCtx = isPlainObject(b.context) ? b.context : {};
    let c = reqCtx.id ? this.contexts.get(reqCtx.id) : null;
    if (reqCtx.id && !c) return sendError(res, 500, 'RUNTIME_ERROR', `error running codes context ${reqCtx.id} not found`);
    const language = (c && c.language) || reqCtx.language || '';
    if (!language) {
      // No language: the real execd runs the code as a shell command.
      return this.runForeground(res, { argv: [SHELL, '-c', b.code], content: b.code, cwd: this.root, env: this.env(), timeoutMs: 0 }, { graceMs: 0, record: true });
    }
    if (!INTERPRETERS[language]) return sendError(res, 500, 'RUNTIME_ERROR', `error running codes unknown language: ${language}`);
    if (!c) { c = { id: hexId(), language, cwd: '', count: 0 }; this.contexts.set(c.id, c); }
    let cwd;
    try { cwd = this.resolveCwd(c.cwd); } catch (_) { cwd = this.root; }
    c.count += 1;
    const count = c.count;
    c.running = true;
    const env = this.env({ PYTHONUNBUFFERED: '1' });
    const info = await this.runForeground(res, { argv: [...INTERPRETERS[language], b.code], content: b.code, cwd, env, timeoutMs: 0 }, {
      graceMs: 0,
      id: c.id,
      onSpawn: (child, exited) => { c.pid = child.pid; c.exited = exited; },
      countEvent: (es) => es.send({ type: 'execution_count', execution_count: count, timestamp: Date.now() }),
      errorFrom: (stderr) => {
        const last = stderr.filter((l) => l !== '\n').pop() || 'Error';
        const mm = /^(\w+(?:Error|Exception)?):\s*(.*)$/.exec(last);
        return { ename: mm ? mm[1] : 'Error', evalue: mm ? mm[2] : last, traceback: stderr };
      },
    });
    c.running = false;
    c.pid = 0;
    return info;
  }

  // ---------- metrics ----------
  metrics() {
    const cpus = os.cpus().length || 1;
    return {
      cpu_count: cpus,
      cpu_used_pct: Math.min(100, Math.round((os.loadavg()[0] / cpus) * 1000) / 10),
      mem_total_mib: Math.round(os.totalmem() / 1048576),
      mem_used_mib: Math.round((os.totalmem() - os.freemem()) / 1048576),
      timestamp: Date.now(),
    };
  }

  watchMetrics(res) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
    const tick = () => { if (!res.destroyed) res.write(JSON.stringify(this.metrics()) + '\n'); };
    tick();
    const t = setInterval(tick, 1000);
    res.on('close', () => clearInterval(t));
  }

  // Kills every process of this sandbox and closes open streams (sandbox delete / shutdown).
  async killAll() {
    const waits = [];
    for (const [pid, { exited }] of this.children) {
      killGroup(pid, 'SIGKILL');
      waits.push(exited);
    }
    for (const es of this.streams) { try { es.res.destroy(); } catch (_) { /* ignore */ } }
    this.streams.clear();
    await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 2000))]);
  }
}

module.exports = { Execd, LineSplitter };
