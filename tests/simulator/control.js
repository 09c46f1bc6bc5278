'use strict';
// Control API under /_sim/ on the main port (no authentication). See README.md.

const { sendJson, sendError, readJson, isPlainObject, parseDateTime } = require('./util');
const { sandboxJson, snapshotJson } = require('./lifecycle');

const SANDBOX_STATES = ['Pending', 'Running', 'Pausing', 'Paused', 'Resuming', 'Stopping', 'Terminated', 'Failed'];

function stateDump(sim) {
  const store = sim.store;
  return {
    name: sim.opts.name,
    port: sim.mainPort(),
    sandboxes: store.list().map((sb) => Object.assign(sandboxJson(sb), {
      state: sb.status.state,
      snapshotIds: sb.snapshotIds.slice(),
      hostPort: sb.hostPort,
      httpPort: sb.httpPort || undefined,
      dir: sb.dir,
      rootDir: sb.dir + '/root',
      env: sb.env,
      resourceLimits: sb.resourceLimits,
      extensions: sb.extensions,
      volumes: sb.volumes,
      networkPolicy: sb.networkPolicy,
      timeout: sb.timeout,
      renewCalls: sb.renewCalls || 0,
      renewals: sb.renewals || 0,
      commands: sb.rt ? [...sb.rt.execd.commands.values()].map((c) => ({
        id: c.id, content: c.content, running: c.running, exitCode: c.exitCode, background: c.background,
      })) : [],
    })),
    snapshots: [...store.snapshots.values()].map((s) => Object.assign(snapshotJson(s), { dir: s.dir })),
    faults: sim.faults.toJSON(),
  };
}

async function handleControl(sim, req, res, path, query) {
  const m = req.method;
  const q = new URLSearchParams(query);
  const body = async () => {
    const r = await readJson(req);
    if (!r.ok) { sendError(res, 400, 'SIM::INVALID_BODY', r.error); return null; }
    return r.value === undefined ? {} : r.value;
  };

  if (path === '/_sim/state' && m === 'GET') return sendJson(res, 200, stateDump(sim));
  if (path === '/_sim/config' && m === 'GET') return sendJson(res, 200, Object.assign({}, sim.opts, { apiKey: undefined, port: sim.mainPort() }));

  if (path === '/_sim/faults') {
    if (m === 'GET') return sendJson(res, 200, sim.faults.toJSON());
    if (m === 'DELETE') { sim.faults.reset(); return sendJson(res, 200, sim.faults.toJSON()); }
    if (m === 'POST' || m === 'PUT' || m === 'PATCH') {
      const b = await body();
      if (b === null) return undefined;
      const err = sim.faults.update(b);
      if (err) return sendError(res, 400, 'SIM::INVALID_FAULT', err);
      return sendJson(res, 200, sim.faults.toJSON());
    }
  }

  if (path === '/_sim/down' && m === 'POST') {
    const b = await body();
    if (b === null) return undefined;
    const ms = b.ms === undefined ? 1000 : b.ms;
    if (typeof ms !== 'number' || !(ms >= 0)) return sendError(res, 400, 'SIM::INVALID_BODY', 'ms must be a non-negative number');
    sendJson(res, 200, { down: true, ms, sandboxes: !!b.sandboxes }, { Connection: 'close' });
    res.once('finish', () => setTimeout(() => sim.goDown(ms, !!b.sandboxes), 20));
    return undefined;
  }

  if (path === '/_sim/requests') {
    if (m === 'GET') {
      const since = Number(q.get('since') || 0);
      const pathPrefix = q.get('pathPrefix');
      const items = sim.requestLog.items.filter((e) => e.seq > since && (!pathPrefix || e.url.startsWith(pathPrefix)));
      return sendJson(res, 200, { items, lastSeq: sim.requestLog.seq });
    }
    if (m === 'DELETE') { sim.requestLog.clear(); return sendJson(res, 200, { cleared: true }); }
  }

  if (path === '/_sim/reset' && m === 'POST') {
    req.resume();
    await sim.store.reset();
    sim.faults.reset();
    sim.requestLog.clear();
    return sendJson(res, 200, { reset: true });
  }

  const mm = /^\/_sim\/sandboxes\/([^/]+)\/(state|expire|expires-at)$/.exec(path);
  if (mm && m === 'POST') {
    const sb = sim.store.get(decodeURIComponent(mm[1]));
    if (!sb) { req.resume(); return sendError(res, 404, 'SIM::SANDBOX_NOT_FOUND', `Sandbox ${mm[1]} not found.`); }
    if (mm[2] === 'expire') {
      req.resume();
      await sim.store.terminate(sb, 'ttl_expiry', 'Sandbox expired (forced by the simulator control API).');
      return sendJson(res, 200, { expired: sb.id });
    }
    const b = await body();
    if (b === null) return undefined;
    if (!isPlainObject(b)) return sendError(res, 400, 'SIM::INVALID_BODY', 'body must be an object');
    if (mm[2] === 'expires-at') {
      if (b.expiresAt === null) { sb.expiresAt = null; sim.store.persist(); return sendJson(res, 200, sandboxJson(sb)); }
      const t = parseDateTime(b.expiresAt);
      if (!Number.isFinite(t)) return sendError(res, 400, 'SIM::INVALID_BODY', 'expiresAt must be an RFC 3339 date-time or null');
      sim.store.renew(sb, t);
      return sendJson(res, 200, sandboxJson(sb));
    }
    if (!SANDBOX_STATES.includes(b.state)) return sendError(res, 400, 'SIM::INVALID_BODY', `state must be one of ${SANDBOX_STATES.join(', ')}`);
    if (b.state === 'Terminated') {
      await sim.store.terminate(sb, b.reason || 'user_delete', b.message || 'Terminated by the simulator control API.');
    } else {
      sim.store.setState(sb, b.state, b.reason, b.message);
    }
    return sendJson(res, 200, sandboxJson(sb));
  }

  req.resume();
  return sendError(res, 404, 'SIM::NOT_FOUND', `no control route ${m} ${path}`);
}

module.exports = { handleControl, stateDump };
