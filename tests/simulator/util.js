'use strict';
// Small shared helpers for the OpenSandbox simulator (no dependencies).

const crypto = require('node:crypto');

function nowIso(ms) {
  return new Date(ms === undefined ? Date.now() : ms).toISOString();
}

// uuid4 with dashes (sandbox / snapshot ids, like the real server's str(uuid4())).
function uuid() {
  return crypto.randomUUID();
}

// 32 hex chars (execd command/session ids: uuid without dashes, like the real execd).
function hexId() {
  return crypto.randomUUID().replace(/-/g, '');
}

function sendJson(res, status, obj, headers) {
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, Object.assign({
    'Content-Type': 'application/json',
    'Content-Length': body.length,
  }, headers || {}));
  res.end(body);
}

function sendError(res, status, code, message, headers) {
  sendJson(res, status, { code: String(code), message: String(message == null ? '' : message) }, headers);
}

function sendEmpty(res, status, headers) {
  if (res.headersSent || res.destroyed) return;
  // 204 must not carry a body; 200/202 send an explicit empty body.
  const h = Object.assign({}, headers || {});
  if (status !== 204 && status !== 304) h['Content-Length'] = 0;
  res.writeHead(status, h);
  res.end();
}

// Reads the whole request body (bounded) into a Buffer.
function readBody(req, limit) {
  const max = limit || 64 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const chunks = [];
    let total = 0;
    req.on('data', (c) => {
      total += c.length;
      if (total > max) {
        reject(Object.assign(new Error('request body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// Parses a JSON body. Returns {ok, value} or {ok:false, error}.
async function readJson(req, opts) {
  const buf = await readBody(req, opts && opts.limit);
  const text = buf.toString('utf8').trim();
  if (!text) return { ok: true, value: undefined, empty: true };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, error: 'invalid JSON body: ' + e.message };
  }
}

// Splits a raw request target into path and query string, without decoding the path.
function splitUrl(rawUrl) {
  const i = rawUrl.indexOf('?');
  if (i < 0) return { path: rawUrl, query: '' };
  return { path: rawUrl.slice(0, i), query: rawUrl.slice(i + 1) };
}

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// FastAPI-compatible boolean query parsing. Returns true/false or undefined if invalid.
function parseBool(v) {
  if (v === null || v === undefined) return undefined;
  const s = String(v).toLowerCase();
  if (['true', '1', 'yes', 'on', 't', 'y'].includes(s)) return true;
  if (['false', '0', 'no', 'off', 'f', 'n'].includes(s)) return false;
  return undefined;
}

function parsePositiveInt(v) {
  if (v === null || v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(String(v))) return NaN;
  return Number(v);
}

// RFC 3339 date-time check (requires a time zone designator).
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})?$/;
function parseDateTime(s) {
  if (typeof s !== 'string' || !RFC3339_RE.test(s)) return NaN;
  let str = s;
  // Naive timestamps are treated as UTC (like the real server's ensure_future_expiration).
  if (!/([Zz]|[+-]\d{2}:?\d{2})$/.test(str)) str += 'Z';
  const t = Date.parse(str);
  return Number.isFinite(t) ? t : NaN;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function log(...args) {
  if (process.env.SIM_VERBOSE === '1') {
    process.stderr.write('[sim] ' + args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ') + '\n');
  }
}

module.exports = {
  nowIso, uuid, hexId, sendJson, sendError, sendEmpty, readBody, readJson, splitUrl,
  isPlainObject, parseBool, parsePositiveInt, parseDateTime, sleep, log,
};
