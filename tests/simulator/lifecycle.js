'use strict';
// Lifecycle API (sandbox-lifecycle.yml) and Diagnostics API (diagnostic-api.yml) handlers.
// Paths arrive here without the optional /v1 prefix (the real server mounts every route both
// at / and at /v1).

const {
  sendJson, sendError, sendEmpty, readJson, parseBool, parsePositiveInt,
} = require('./util');
const {
  ValidationError, validateCreate, validateMetadataPatch, validateRenew, validateCreateSnapshot,
} = require('./validate');

function sandboxJson(sb) {
  const out = { id: sb.id };
  if (sb.image) out.image = { uri: sb.image.uri };
  if (sb.snapshotId) out.snapshotId = sb.snapshotId;
  if (sb.platform) out.platform = sb.platform;
  out.status = Object.assign({}, sb.status);
  out.metadata = Object.assign({}, sb.metadata);
  out.entrypoint = sb.entrypoint.slice();
  if (sb.expiresAt) out.expiresAt = sb.expiresAt;
  out.createdAt = sb.createdAt;
  return out;
}

function createResponseJson(sb) {
  const out = { id: sb.id, status: Object.assign({}, sb.status), metadata: Object.assign({}, sb.metadata) };
  if (sb.platform) out.platform = sb.platform;
  if (sb.expiresAt) out.expiresAt = sb.expiresAt;
  out.createdAt = sb.createdAt;
  out.entrypoint = sb.entrypoint.slice();
  return out;
}

function snapshotJson(s) {
  const out = { id: s.id, sandboxId: s.sandboxId };
  if (s.name) out.name = s.name;
  out.status = Object.assign({}, s.status);
  out.createdAt = s.createdAt;
  return out;
}

function notFound(res, id) {
  sendError(res, 404, 'DOCKER::SANDBOX_NOT_FOUND', `Sandbox ${id} not found.`);
}

function snapshotNotFound(res, id) {
  sendError(res, 404, 'SNAPSHOT::NOT_FOUND', `Snapshot ${id} not found`);
}

function badParam(res, message, code) {
  sendError(res, 400, code || 'SANDBOX::INVALID_PARAMETER', message);
}

// Python urllib.parse.parse_qsl(..., keep_blank_values=True, strict_parsing=True).
function parseMetadataFilter(s) {
  const out = {};
  for (const seg of s.split('&')) {
    const i = seg.indexOf('=');
    if (i < 0) throw new Error(`bad query field: '${seg}'`);
    const dec = (x) => decodeURIComponent(x.replace(/\+/g, ' '));
    out[dec(seg.slice(0, i))] = dec(seg.slice(i + 1));
  }
  return out;
}

// Parses page/pageSize like the real server (page >= 1, 1 <= pageSize <= 200).
function parsePaging(q, res) {
  const page = q.has('page') ? parsePositiveInt(q.get('page')) : 1;
  const pageSize = q.has('pageSize') ? parsePositiveInt(q.get('pageSize')) : 20;
  if (!Number.isInteger(page) || page < 1) { badParam(res, 'page must be an integer >= 1'); return null; }
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 200) {
    badParam(res, 'pageSize must be an integer between 1 and 200');
    return null;
  }
  return { page, pageSize };
}

function paginate(items, page, pageSize) {
  const totalItems = items.length;
  const totalPages = totalItems ? Math.ceil(totalItems / pageSize) : 0;
  const start = (page - 1) * pageSize;
  return {
    items: items.slice(start, start + pageSize),
    pagination: { page, pageSize, totalItems, totalPages, hasNextPage: page < totalPages },
  };
}

async function body(req, res) {
  const r = await readJson(req);
  if (!r.ok) { badParam(res, r.error); return { failed: true }; }
  return { value: r.value };
}

function handleValidation(res, e) {
  if (e instanceof ValidationError) { sendError(res, e.status, e.code, e.message); return true; }
  return false;
}

function decodeSeg(s) {
  try { return decodeURIComponent(s); } catch (_) { return s; }
}

function endpointFor(sim, sb, port, useServerProxy) {
  const o = sim.opts;
  let endpoint;
  if (useServerProxy || o.endpointsViaProxy) {
    const base = o.publicHost || `127.0.0.1:${sim.mainPort()}`;
    endpoint = `${base}${o.serverProxyPrefix}/sandboxes/${sb.id}/proxy/${port}`;
  } else if (o.direct8080 && port === 8080) {
    endpoint = `${o.sandboxHost}:${sb.httpPort}`;
  } else {
    endpoint = `${o.sandboxHost}:${sb.hostPort}/proxy/${port}`;
  }
  const out = { endpoint };
  const hdrs = Object.entries(o.endpointHeaders || {});
  if (hdrs.length) out.headers = Object.fromEntries(hdrs);
  return out;
}

function diagnostics(sim, req, res, sb, kind, q) {
  const scope = q.get('scope');
  const lines = kind === 'logs' ? (sb.logs || []) : (sb.events || []);
  if (scope === null) {
    // Deprecated DevOps plain-text behaviour of the real server when scope is omitted.
    const text = lines.join('\n') + (lines.length ? '\n' : '');
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', Deprecation: 'true', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  if (sim.opts.diagnostics === '501') {
    sendError(res, 501, 'DIAGNOSTICS_NOT_IMPLEMENTED', 'The stable Diagnostics API is not implemented by this OpenSandbox server.');
    return;
  }
  const known = ['container', 'lifecycle', 'runtime', 'network', 'process', 'all'];
  if (!known.includes(scope)) {
    badParam(res, `Unsupported diagnostic scope '${scope}'. Supported: ${known.join(', ')}.`);
    return;
  }
  let selected = lines;
  if (kind === 'events' && scope !== 'all' && scope !== 'lifecycle' && scope !== 'runtime') selected = [];
  if (kind === 'logs' && scope !== 'all' && scope !== 'container' && scope !== 'process') selected = [];
  const content = selected.join('\n') + (selected.length ? '\n' : '');
  const out = {
    sandboxId: sb.id,
    kind,
    scope,
    delivery: 'inline',
    contentType: 'text/plain; charset=utf-8',
    content,
    contentLength: Buffer.byteLength(content),
    truncated: false,
  };
  if (!selected.length) out.warnings = [`no ${kind} available for scope '${scope}'`];
  sendJson(res, 200, out);
}

// Returns true when the path matched a lifecycle route (response handled), false otherwise.
async function handleLifecycle(sim, req, res, path, query) {
  const store = sim.store;
  const q = new URLSearchParams(query);
  const m = req.method;
  const seg = path.replace(/^\/+/, '').split('/');
  if (seg[seg.length - 1] === '' && seg.length > 1) seg.pop();

  const methodNotAllowed = () => sendError(res, 405, 'GENERAL::UNKNOWN_ERROR', 'Method Not Allowed');

  // ----- /sandboxes -----
  if (seg[0] === 'sandboxes' && seg.length === 1) {
    if (m === 'POST') {
      const b = await body(req, res);
      if (b.failed) return true;
      let norm;
      try {
        norm = validateCreate(b.value, { maxTimeoutSeconds: sim.opts.maxTimeoutSeconds });
      } catch (e) {
        if (handleValidation(res, e)) return true;
        throw e;
      }
      let snap = null;
      if (norm.snapshotId) {
        snap = store.snapshots.get(norm.snapshotId);
        // The real server answers 404 here, but the spec declares no 404 for create: use 400.
        if (!snap) { sendError(res, 400, 'SNAPSHOT::NOT_FOUND', `Snapshot ${norm.snapshotId} not found`); return true; }
        if (snap.status.state !== 'Ready') {
          sendError(res, 409, 'SNAPSHOT::NOT_READY', `Snapshot ${snap.id} is not ready for restore.`);
          return true;
        }
      }
      const sb = await store.create(norm, snap);
      sendJson(res, 202, createResponseJson(sb), { Location: `/v1/sandboxes/${sb.id}` });
      return true;
    }
    if (m === 'GET') {
      let mdFilter = null;
      if (q.has('metadata') && q.get('metadata') !== '') {
        try {
          mdFilter = parseMetadataFilter(q.get('metadata'));
        } catch (e) {
          sendError(res, 400, 'INVALID_METADATA_FORMAT', `Invalid metadata format: ${e.message}`);
          return true;
        }
      }
      const states = q.getAll('state').filter((s) => s !== '').map((s) => s.toLowerCase());
      const paging = parsePaging(q, res);
      if (!paging) return true;
      const items = store.list()
        .filter((sb) => !states.length || states.includes(String(sb.status.state).toLowerCase()))
        .filter((sb) => !mdFilter || Object.entries(mdFilter).every(([k, v]) => sb.metadata[k] === v))
        .sort((a, b) => (b.createdAt.localeCompare(a.createdAt)) || ((b.seq || 0) - (a.seq || 0)))
        .map(sandboxJson);
      sendJson(res, 200, paginate(items, paging.page, paging.pageSize));
      return true;
    }
    methodNotAllowed();
    return true;
  }

  // ----- /snapshots -----
  if (seg[0] === 'snapshots') {
    if (seg.length === 1) {
      if (m !== 'GET') { methodNotAllowed(); return true; }
      const paging = parsePaging(q, res);
      if (!paging) return true;
      const states = q.getAll('state').filter((s) => s !== '').map((s) => s.toLowerCase());
      const sandboxId = q.get('sandboxId');
      const name = q.get('name');
      const items = [...store.snapshots.values()]
        .filter((s) => !sandboxId || s.sandboxId === sandboxId)
        .filter((s) => name === null || s.name === name)
        .filter((s) => !states.length || states.includes(String(s.status.state).toLowerCase()))
        .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
        .map(snapshotJson);
      sendJson(res, 200, paginate(items, paging.page, paging.pageSize));
      return true;
    }
    if (seg.length === 2) {
      const id = decodeSeg(seg[1]);
      const snap = store.snapshots.get(id);
      if (m === 'GET') {
        if (!snap) snapshotNotFound(res, id);
        else sendJson(res, 200, snapshotJson(snap));
        return true;
      }
      if (m === 'DELETE') {
        if (!snap) { snapshotNotFound(res, id); return true; }
        if (snap.status.state === 'Creating') {
          sendError(res, 409, 'SNAPSHOT::INVALID_STATE', `Snapshot ${id} is still being created and cannot be deleted`);
          return true;
        }
        store.deleteSnapshot(snap);
        sendEmpty(res, 204);
        return true;
      }
      methodNotAllowed();
      return true;
    }
    return false;
  }

  if (seg[0] !== 'sandboxes' || seg.length < 2) return false;
  const id = decodeSeg(seg[1]);
  const sub = seg.slice(2);
  const sb = store.get(id);

  // Route shape check first so unknown sub-paths are 404 "Not Found" rather than sandbox 404.
  const route = sub.join('/');
  const known = ['', 'metadata', 'pause', 'resume', 'renew-expiration', 'snapshots',
    'diagnostics/logs', 'diagnostics/events', 'diagnostics/inspect', 'diagnostics/summary'];
  const isEndpoint = sub.length === 2 && sub[0] === 'endpoints';
  if (!known.includes(route) && !isEndpoint) return false;

  const expected = {
    '': ['GET', 'DELETE'], metadata: ['PATCH'], pause: ['POST'], resume: ['POST'],
    'renew-expiration': ['POST'], snapshots: ['POST'],
    'diagnostics/logs': ['GET'], 'diagnostics/events': ['GET'], 'diagnostics/inspect': ['GET'], 'diagnostics/summary': ['GET'],
  };
  const allowed = isEndpoint ? ['GET'] : expected[route];
  if (!allowed.includes(m)) { methodNotAllowed(); return true; }

  if (route === '' && m === 'GET') {
    if (!sb) notFound(res, id);
    else sendJson(res, 200, sandboxJson(sb));
    return true;
  }
  if (route === '' && m === 'DELETE') {
    if (!sb) { notFound(res, id); return true; }
    if (sb.status.state === 'Terminated') {
      store.remove(sb.id);
    } else {
      await store.terminate(sb, 'user_delete', 'Sandbox was deleted by the user.');
    }
    sendEmpty(res, 204);
    return true;
  }
  if (route === 'metadata') {
    const b = await body(req, res);
    if (b.failed) return true;
    try {
      validateMetadataPatch(b.value === undefined ? null : b.value);
    } catch (e) {
      if (handleValidation(res, e)) return true;
      throw e;
    }
    if (!sb) { notFound(res, id); return true; }
    for (const [k, v] of Object.entries(b.value)) {
      if (v === null) delete sb.metadata[k];
      else sb.metadata[k] = v;
    }
    store.persist();
    sendJson(res, 200, sandboxJson(sb));
    return true;
  }
  if (route === 'pause' || route === 'resume') {
    req.resume();
    if (!sb) { notFound(res, id); return true; }
    if (route === 'pause') {
      if (sb.status.state !== 'Running') {
        sendError(res, 409, 'DOCKER::SANDBOX_NOT_RUNNING', 'Sandbox is not in a running state.');
        return true;
      }
      store.pause(sb);
    } else {
      if (sb.status.state !== 'Paused') {
        sendError(res, 409, 'DOCKER::SANDBOX_NOT_PAUSED', 'Sandbox is not in a paused state.');
        return true;
      }
      store.resume(sb);
    }
    sendEmpty(res, 202);
    return true;
  }
  if (route === 'renew-expiration') {
    if (sb) sb.renewCalls = (sb.renewCalls || 0) + 1;
    const b = await body(req, res);
    if (b.failed) return true;
    let t;
    try {
      t = validateRenew(b.value);
    } catch (e) {
      if (handleValidation(res, e)) return true;
      throw e;
    }
    if (!sb) { notFound(res, id); return true; }
    if (t <= Date.now()) {
      sendError(res, 400, 'DOCKER::INVALID_EXPIRATION', 'New expiration time must be in the future.');
      return true;
    }
    if (sb.status.state === 'Terminated') {
      sendError(res, 409, 'DOCKER::SANDBOX_NOT_RUNNING', `Sandbox ${id} is terminated.`);
      return true;
    }
    if (!sb.expiresAt) {
      sendError(res, 409, 'DOCKER::INVALID_EXPIRATION', `Sandbox ${id} does not have automatic expiration enabled.`);
      return true;
    }
    if (t <= Date.parse(sb.expiresAt)) {
      sendError(res, 400, 'DOCKER::EXPIRATION_NOT_EXTENDED',
        `New expiration time must be after the current expiresAt (${sb.expiresAt}).`);
      return true;
    }
    store.renew(sb, t);
    sb.renewals = (sb.renewals || 0) + 1;
    sendJson(res, 200, { expiresAt: sb.expiresAt });
    return true;
  }
  if (route === 'snapshots') {
    const b = await body(req, res);
    if (b.failed) return true;
    let opts;
    try {
      opts = validateCreateSnapshot(b.value);
    } catch (e) {
      if (handleValidation(res, e)) return true;
      throw e;
    }
    if (!sb) { notFound(res, id); return true; }
    if (sb.status.state !== 'Running') {
      sendError(res, 409, 'SNAPSHOT::INVALID_SOURCE_STATE', 'Snapshot can only be created from a Running sandbox.');
      return true;
    }
    const snap = store.createSnapshot(sb, opts.name);
    sendJson(res, 202, snapshotJson(snap), { Location: `/v1/snapshots/${snap.id}` });
    return true;
  }
  if (isEndpoint) {
    const portStr = decodeSeg(sub[1]);
    if (!/^\d+$/.test(portStr) || Number(portStr) < 1 || Number(portStr) > 65535) {
      badParam(res, 'Port must be between 1 and 65535.', 'DOCKER::INVALID_PORT');
      return true;
    }
    const port = Number(portStr);
    let useProxy = false;
    if (q.has('use_server_proxy')) {
      useProxy = parseBool(q.get('use_server_proxy'));
      if (useProxy === undefined) { badParam(res, 'use_server_proxy must be a boolean'); return true; }
    }
    if (q.has('expires')) {
      const ex = q.get('expires');
      if (!/^(0|[1-9][0-9]*)$/.test(ex) || ex.length > 20) { badParam(res, 'expires must be a decimal uint64 (epoch seconds)'); return true; }
      if (useProxy) {
        badParam(res, 'use_server_proxy cannot be combined with expires; signed endpoints require the gateway route.');
        return true;
      }
      if (!sb) { notFound(res, id); return true; }
      badParam(res, "Signed routes (expires parameter) are not supported when runtime.type='docker'. Use the Kubernetes runtime for signed routes.",
        'SANDBOX::API_NOT_SUPPORTED');
      return true;
    }
    if (!sb || sb.status.state === 'Terminated') { notFound(res, id); return true; }
    sendJson(res, 200, endpointFor(sim, sb, port, useProxy));
    return true;
  }
  if (route.startsWith('diagnostics/')) {
    if (!sb) { notFound(res, id); return true; }
    const kind = sub[1];
    if (kind === 'logs' || kind === 'events') {
      diagnostics(sim, req, res, sb, kind, q);
      return true;
    }
    // Deprecated plain-text helpers of the real server.
    const text = kind === 'inspect'
      ? JSON.stringify(sandboxJson(sb), null, 2) + '\n'
      : ['SANDBOX DIAGNOSTICS SUMMARY', `Sandbox ID: ${sb.id}`, '', 'EVENTS', ...(sb.events || []), '', 'LOGS', ...(sb.logs || [])].join('\n') + '\n';
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
    return true;
  }
  return false;
}

module.exports = { handleLifecycle, sandboxJson, snapshotJson, endpointFor };
