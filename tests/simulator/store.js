'use strict';
// Sandbox and snapshot records, lifecycle state machine, TTL expiry and --state-file persistence.
//
// State machine (sandbox-lifecycle.yml, SandboxState):
//   Pending -> Running (after --ready-delay-ms)          [or -> Failed with the provisionFailure fault]
//   Running -> Pausing -> Paused (after --transition-delay-ms)
//   Paused  -> Resuming -> Running
//   any     -> Terminated on delete / TTL expiry; the record is then removed at once
//              (Docker runtime behaviour: later GETs are 404) unless --terminated-retention-ms > 0,
//              in which case it stays visible as Terminated for that long.
//   any     -> Failed only through the control API (POST /_sim/sandboxes/{id}/state).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { uuid, log } = require('./util');

const DEFAULT_ENTRYPOINT = ['tail', '-f', '/dev/null'];

const STATE_TEXT = {
  Pending: ['PROVISIONING', 'Sandbox is being provisioned.'],
  Running: ['CONTAINER_RUNNING', 'Sandbox container is running.'],
  Pausing: ['PAUSE_REQUESTED', 'Sandbox is pausing.'],
  Paused: ['CONTAINER_PAUSED', 'Sandbox container is paused.'],
  Resuming: ['RESUME_REQUESTED', 'Sandbox is resuming.'],
  Stopping: ['STOP_REQUESTED', 'Sandbox is stopping.'],
  Terminated: ['user_delete', 'Sandbox was terminated.'],
  Failed: ['runtime_error', 'Sandbox encountered a critical error.'],
};

class Store {
  // opts: {name, stateFile, readyDelayMs, transitionDelayMs, snapshotDelayMs,
  //        terminatedRetentionMs, ttlScale}
  // runtime: {attach(sb) -> Promise, detach(sb) -> Promise, onState(sb)}
  // faults: object with provisionFailure flag (read at provisioning time)
  constructor(opts, runtime, faults) {
    this.opts = opts;
    this.runtime = runtime;
    this.faults = faults;
    this.sandboxes = new Map();
    this.snapshots = new Map();
    this.timers = new Set();
    this.tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), `opensandbox-sim-${(opts.name || 'sim').replace(/[^A-Za-z0-9_-]/g, '_')}-`));
    // 0755 so commands run with another uid (RunCommandRequest.uid) can reach their sandbox dir.
    fs.chmodSync(this.tmpRoot, 0o755);
    this.sweeper = setInterval(() => this.sweep(), 100);
    this.closed = false;
    this.seq = 0;
  }

  later(ms, fn) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) fn();
    }, Math.max(0, ms));
    this.timers.add(t);
    return t;
  }

  // ---------- persistence ----------
  persist() {
    if (!this.opts.stateFile || this.closed) return;
    const data = {
      version: 1,
      name: this.opts.name,
      savedAt: new Date().toISOString(),
      sandboxes: [...this.sandboxes.values()].map((sb) => this.serialize(sb)),
      snapshots: [...this.snapshots.values()].map((s) => Object.assign({}, s)),
    };
    const tmp = this.opts.stateFile + '.tmp-' + process.pid;
    try {
      fs.writeFileSync(tmp, JSON.stringify(data, null, 1));
      fs.renameSync(tmp, this.opts.stateFile);
    } catch (e) {
      process.stderr.write(`[sim] cannot write state file: ${e.message}\n`);
    }
  }

  serialize(sb) {
    const out = {};
    for (const [k, v] of Object.entries(sb)) {
      if (['rt', 'readyTimer', 'transitionTimer', 'retentionTimer', 'expiring'].includes(k)) continue;
      out[k] = v;
    }
    return out;
  }

  async restore() {
    const file = this.opts.stateFile;
    if (!file || !fs.existsSync(file)) return;
    let data;
    try {
      data = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      process.stderr.write(`[sim] ignoring unreadable state file ${file}: ${e.message}\n`);
      return;
    }
    for (const snap of data.snapshots || []) {
      if (snap.dir && !fs.existsSync(snap.dir)) {
        snap.dir = this.newDir('snap-' + snap.id);
      }
      if (snap.status && snap.status.state === 'Creating') {
        this.setSnapshotState(snap, 'Ready', 'snapshot_recovery_ready', 'Recovered snapshot after simulator restart.');
      }
      this.snapshots.set(snap.id, snap);
    }
    for (const sb of data.sandboxes || []) {
      if (!sb || !sb.id || !sb.status) continue;
      if (sb.status.state === 'Terminated') continue;
      if (!sb.dir || !fs.existsSync(path.join(sb.dir, 'root'))) {
        sb.dir = this.newSandboxDir(sb.id);
      }
      this.seq = Math.max(this.seq, sb.seq || 0);
      this.logLine(sb, 'simulator restarted; running processes were lost');
      this.sandboxes.set(sb.id, sb);
      await this.runtime.attach(sb, sb.hostPort, sb.httpPort);
      const st = sb.status.state;
      if (st === 'Pending') this.scheduleReady(sb);
      else if (st === 'Pausing') this.setState(sb, 'Paused');
      else if (st === 'Resuming') this.setState(sb, 'Running');
      else this.runtime.onState(sb);
    }
    this.sweep();
    this.persist();
  }

  // ---------- directories ----------
  newDir(name) {
    const d = path.join(this.tmpRoot, name);
    fs.mkdirSync(d, { recursive: true });
    return d;
  }

  // Sandbox base dir: <base>/root is the sandbox file system ("/" for the file API and the
  // cwd of commands), <base>/tmp holds upload temp files and background command logs.
  newSandboxDir(id) {
    const base = this.newDir('sbx-' + id);
    fs.mkdirSync(path.join(base, 'root'), { recursive: true });
    fs.mkdirSync(path.join(base, 'tmp'), { recursive: true });
    return base;
  }

  // ---------- sandboxes ----------
  // Diagnostic text lines (diagnostics API): events = lifecycle transitions, logs = container/execd log.
  event(sb, text) {
    if (!sb.events) sb.events = [];
    sb.events.push(`${new Date().toISOString()} ${text}`);
    if (sb.events.length > 500) sb.events.shift();
  }

  logLine(sb, text) {
    if (!sb.logs) sb.logs = [];
    sb.logs.push(`${new Date().toISOString()} ${text}`);
    if (sb.logs.length > 500) sb.logs.shift();
  }

  list() {
    return [...this.sandboxes.values()];
  }

  get(id) {
    return this.sandboxes.get(id);
  }

  setState(sb, state, reason, message) {
    const def = STATE_TEXT[state] || [state, ''];
    sb.status = {
      state,
      reason: reason || def[0],
      message: message || def[1],
      lastTransitionAt: new Date().toISOString(),
    };
    sb.updatedAt = sb.status.lastTransitionAt;
    this.event(sb, `lifecycle ${state} reason=${sb.status.reason} ${sb.status.message}`);
    log('sandbox', sb.id, '->', state);
    if (this.runtime && sb.rt !== undefined) this.runtime.onState(sb);
    this.persist();
  }

  async create(req, snapshot) {
    const id = uuid();
    const now = Date.now();
    let expiresAt = null;
    if (req.timeout !== null && req.timeout !== undefined) {
      expiresAt = new Date(now + Math.round(req.timeout * 1000 * (this.opts.ttlScale || 1))).toISOString();
    }
    const sb = {
      id,
      image: req.image,
      snapshotId: snapshot ? snapshot.id : undefined,
      platform: req.platform,
      // Like the real server: a snapshot restore without entrypoint gets ["tail","-f","/dev/null"].
      entrypoint: req.entrypoint || DEFAULT_ENTRYPOINT.slice(),
      metadata: req.metadata || {},
      env: req.env || {},
      resourceLimits: req.resourceLimits || {},
      extensions: req.extensions || {},
      volumes: req.volumes,
      networkPolicy: req.networkPolicy,
      timeout: req.timeout,
      createdAt: new Date(now).toISOString(),
      expiresAt,
      status: null,
      seq: ++this.seq,
      events: [],
      logs: [],
      snapshotIds: [],
      dir: this.newSandboxDir(id),
      hostPort: null,
      httpPort: null,
    };
    if (snapshot && snapshot.dir && fs.existsSync(snapshot.dir)) {
      fs.cpSync(snapshot.dir, path.join(sb.dir, 'root'), { recursive: true, force: true });
    }
    this.setState(sb, 'Pending');
    this.sandboxes.set(id, sb);
    await this.runtime.attach(sb);
    this.scheduleReady(sb);
    this.persist();
    return sb;
  }

  scheduleReady(sb) {
    sb.readyTimer = this.later(this.opts.readyDelayMs, () => {
      if (!this.sandboxes.has(sb.id) || sb.status.state !== 'Pending') return;
      if (this.faults.provisionFailure) {
        this.setState(sb, 'Failed', 'PROVISIONING_ERROR', 'Simulated provisioning failure.');
      } else {
        this.setState(sb, 'Running');
      }
    });
  }

  pause(sb) {
    this.setState(sb, 'Pausing');
    sb.transitionTimer = this.later(this.opts.transitionDelayMs, () => {
      if (this.sandboxes.has(sb.id) && sb.status.state === 'Pausing') this.setState(sb, 'Paused');
    });
  }

  resume(sb) {
    this.setState(sb, 'Resuming');
    sb.transitionTimer = this.later(this.opts.transitionDelayMs, () => {
      if (this.sandboxes.has(sb.id) && sb.status.state === 'Resuming') this.setState(sb, 'Running');
    });
  }

  // Terminates a sandbox (delete or TTL expiry). Returns a promise that resolves once its
  // processes, listeners and directory are gone.
  async terminate(sb, reason, message) {
    if (!this.sandboxes.has(sb.id)) return;
    this.setState(sb, 'Terminated', reason, message);
    await this.runtime.detach(sb);
    try { fs.rmSync(sb.dir, { recursive: true, force: true }); } catch (_) { /* best effort */ }
    const keep = this.opts.terminatedRetentionMs || 0;
    if (keep > 0) {
      sb.retentionTimer = this.later(keep, () => this.remove(sb.id));
    } else {
      this.remove(sb.id);
    }
    this.persist();
  }

  remove(id) {
    this.sandboxes.delete(id);
    this.persist();
  }

  renew(sb, expiresAtMs) {
    sb.expiresAt = new Date(expiresAtMs).toISOString();
    this.persist();
  }

  sweep() {
    const now = Date.now();
    for (const sb of this.sandboxes.values()) {
      if (!sb.expiresAt || sb.status.state === 'Terminated' || sb.expiring) continue;
      if (Date.parse(sb.expiresAt) <= now) {
        sb.expiring = true;
        this.terminate(sb, 'ttl_expiry', 'Sandbox expired (TTL reached).').finally(() => { delete sb.expiring; });
      }
    }
  }

  // ---------- snapshots ----------
  setSnapshotState(snap, state, reason, message) {
    snap.status = { state, reason, message, lastTransitionAt: new Date().toISOString() };
    this.persist();
  }

  createSnapshot(sb, name) {
    const id = uuid();
    const snap = {
      id,
      sandboxId: sb.id,
      name: name || undefined,
      status: null,
      createdAt: new Date().toISOString(),
      entrypoint: sb.entrypoint,
      sourceImage: sb.image ? sb.image.uri : undefined,
      dir: this.newDir('snap-' + id),
    };
    this.setSnapshotState(snap, 'Creating', 'snapshot_accepted', 'Snapshot creation accepted.');
    this.snapshots.set(id, snap);
    sb.snapshotIds.push(id);
    let copyError = null;
    try {
      fs.cpSync(path.join(sb.dir, 'root'), snap.dir, { recursive: true, force: true });
    } catch (e) {
      copyError = e;
    }
    this.later(this.opts.snapshotDelayMs, () => {
      if (!this.snapshots.has(id)) return;
      if (copyError) this.setSnapshotState(snap, 'Failed', 'snapshot_capture_failed', copyError.message);
      else this.setSnapshotState(snap, 'Ready', 'snapshot_ready', 'Snapshot is ready.');
    });
    this.persist();
    return snap;
  }

  deleteSnapshot(snap) {
    this.snapshots.delete(snap.id);
    try { fs.rmSync(snap.dir, { recursive: true, force: true }); } catch (_) { /* ignore */ }
    this.persist();
  }

  // Removes everything (control API reset).
  async reset() {
    for (const sb of [...this.sandboxes.values()]) {
      await this.runtime.detach(sb);
      try { fs.rmSync(sb.dir, { recursive: true, force: true }); } catch (_) { /* ignore */ }
      this.sandboxes.delete(sb.id);
    }
    for (const snap of [...this.snapshots.values()]) this.deleteSnapshot(snap);
    this.persist();
  }

  // Clean shutdown: stop timers, kill runtimes, remove temp dirs (the state file is kept).
  async close() {
    this.persist();
    this.closed = true;
    clearInterval(this.sweeper);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all([...this.sandboxes.values()].map((sb) => this.runtime.detach(sb).catch(() => {})));
    // Directories restored from a crashed predecessor (--state-file) live in its old temp root.
    const parents = new Set();
    for (const d of [...this.sandboxes.values(), ...this.snapshots.values()].map((x) => x.dir)) {
      try { fs.rmSync(d, { recursive: true, force: true }); } catch (_) { /* ignore */ }
      parents.add(path.dirname(d));
    }
    try { fs.rmSync(this.tmpRoot, { recursive: true, force: true }); } catch (_) { /* ignore */ }
    for (const p of parents) {
      if (p !== this.tmpRoot && path.basename(p).startsWith('opensandbox-sim-')) {
        try { fs.rmdirSync(p); } catch (_) { /* not empty or gone */ }
      }
    }
  }
}

module.exports = { Store, DEFAULT_ENTRYPOINT };
