'use strict';
// execd file-system API (execd-api.yaml, tag Filesystem), mapped into the sandbox directory.
//
// Client paths are sandbox paths: "/workspace/a.txt" is <sandbox dir>/root/workspace/a.txt.
// Relative paths are relative to the sandbox root "/" (also the cwd and $HOME of commands).
// A path whose ".." would climb above "/", or that resolves through a symlink to outside the
// sandbox directory, is rejected with 400 INVALID_PATH.

const fs = require('node:fs');
const fsp = require('node:fs/promises');
const path = require('node:path');
const { sendJson, sendError, sendEmpty, readJson, splitUrl, isPlainObject, hexId } = require('./util');
const { MultipartParser, boundaryFrom } = require('./multipart');

class PathError extends Error {}

// ---------- user / group names (like Go's user.LookupId) ----------
function readIdFile(file) {
  const map = new Map();
  try {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && /^\d+$/.test(f[2])) map.set(Number(f[2]), f[0]);
    }
  } catch (_) { /* ignore */ }
  return map;
}
let users = null;
let groups = null;
function names() {
  if (!users) { users = readIdFile('/etc/passwd'); groups = readIdFile('/etc/group'); }
  return { users, groups };
}
function idOf(map, name) {
  for (const [id, n] of map) if (n === name) return id;
  return undefined;
}

// ---------- path mapping ----------
function resolvePath(root, p) {
  if (typeof p !== 'string' || p === '') throw new PathError('path is empty');
  if (p.includes('\0')) throw new PathError('path contains NUL');
  let s = p;
  if (s === '~' || s.startsWith('~/')) s = '/' + s.slice(1);
  const segs = [];
  for (const part of s.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (!segs.length) throw new PathError(`path escapes the sandbox: ${p}`);
      segs.pop();
      continue;
    }
    segs.push(part);
  }
  const host = path.join(root, ...segs);
  // Symlink containment: the deepest existing ancestor must resolve inside the sandbox root.
  let probe = host;
  for (;;) {
    try {
      const real = fs.realpathSync(probe);
      const realRoot = fs.realpathSync(root);
      if (real !== realRoot && !real.startsWith(realRoot + path.sep)) throw new PathError(`path escapes the sandbox: ${p}`);
      break;
    } catch (e) {
      if (e instanceof PathError) throw e;
      if (probe === root) break;
      probe = path.dirname(probe);
    }
  }
  return { host, display: '/' + segs.join('/') };
}

function fileType(st) {
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return 'directory';
  if (st.isFile()) return 'file';
  return 'other';
}

function fileInfo(display, st) {
  const { users: u, groups: g } = names();
  const birth = st.birthtimeMs > 0 ? st.birthtime : st.ctime;
  return {
    path: display,
    type: fileType(st),
    size: st.size,
    modified_at: st.mtime.toISOString(),
    created_at: birth.toISOString(),
    owner: u.get(st.uid) || String(st.uid),
    group: g.get(st.gid) || String(st.gid),
    mode: Number((st.mode & 0o777).toString(8)),
  };
}

// Applies a Permission object {mode (octal digits as a decimal int), owner, group}.
function applyPermission(hostPath, perm) {
  const p = perm || {};
  if (p.mode !== undefined && p.mode !== null && p.mode !== 0) {
    if (!Number.isInteger(p.mode) || !/^[0-7]+$/.test(String(p.mode))) throw new Error(`invalid mode ${p.mode}`);
    fs.chmodSync(hostPath, parseInt(String(p.mode), 8));
  }
  const { users: u, groups: g } = names();
  const uid = p.owner ? idOf(u, p.owner) : undefined;
  const gid = p.group ? idOf(g, p.group) : undefined;
  if (uid !== undefined || gid !== undefined) {
    try {
      const st = fs.statSync(hostPath);
      fs.chownSync(hostPath, uid === undefined ? st.uid : uid, gid === undefined ? st.gid : gid);
    } catch (e) {
      if (e.code !== 'EPERM') throw e;
    }
  }
}

function fileError(res, e) {
  if (e instanceof PathError) return sendError(res, 400, 'INVALID_PATH', e.message);
  if (e && e.code === 'ENOENT') return sendError(res, 404, 'FILE_NOT_FOUND', `file not found. ${e.message}`);
  return sendError(res, 500, 'RUNTIME_ERROR', `error accessing file: ${e && e.message}`);
}

async function jsonBody(req, res) {
  const r = await readJson(req);
  if (!r.ok || r.value === undefined) {
    sendError(res, 400, 'INVALID_REQUEST_BODY', `error parsing request, MAYBE invalid body format. ${r.error || 'empty body'}`);
    return null;
  }
  return r;
}

// ---------- glob (matched against the base name, like execd's glob.PathMatch) ----------
function globToRegExp(pattern) {
  let re = '';
  let i = 0;
  let braces = 0;
  while (i < pattern.length) {
    const c = pattern[i];
    if (c === '*') {
      while (pattern[i + 1] === '*') i++;
      re += '.*';
    } else if (c === '?') re += '.';
    else if (c === '[') {
      const j = pattern.indexOf(']', i + 1);
      if (j < 0) throw new Error(`invalid pattern ${pattern}`);
      let cls = pattern.slice(i + 1, j);
      if (cls[0] === '!') cls = '^' + cls.slice(1);
      re += '[' + cls.replace(/\\/g, '\\\\') + ']';
      i = j;
    } else if (c === '{') { braces++; re += '(?:'; } else if (c === '}' && braces) { braces--; re += ')'; } else if (c === ',' && braces) re += '|';
    else if (c === '\\' && i + 1 < pattern.length) { i++; re += pattern[i].replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'); } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    i++;
  }
  if (braces) throw new Error(`invalid pattern ${pattern}`);
  return new RegExp('^' + re + '$', 's');
}

// ---------- Range ----------
// Mirrors execd's ParseRange + single-range serving. Returns {start,end} | null (no range) | 'invalid'.
function parseRange(header, size) {
  if (!header.startsWith('bytes=')) return 'invalid';
  for (const raw of header.slice(6).split(',')) {
    const ra = raw.trim();
    if (!ra) continue;
    const i = ra.indexOf('-');
    if (i < 0) return 'invalid';
    const a = ra.slice(0, i).trim();
    const b = ra.slice(i + 1).trim();
    let start;
    let len;
    if (a === '') {
      if (!/^\d+$/.test(b)) return 'invalid';
      const n = Math.min(Number(b), size);
      start = size - n;
      len = n;
    } else {
      if (!/^\d+$/.test(a)) return 'invalid';
      start = Number(a);
      if (b === '') len = size - start;
      else {
        if (!/^\d+$/.test(b) || Number(b) < start) return 'invalid';
        len = Number(b) - start + 1;
      }
    }
    if (start >= size) continue;
    if (start + len > size) len = size - start;
    if (len <= 0) continue;
    return { start, end: start + len - 1 };
  }
  return 'unsatisfiable';
}

function contentDisposition(name) {
  if (/^[\x20-\x7e]*$/.test(name)) return `attachment; filename="${name.replace(/"/g, '\\"')}"`;
  const enc = encodeURIComponent(name);
  return `attachment; filename="${enc}"; filename*=UTF-8''${enc}`;
}

async function download(ctx, req, res, q) {
  const p = q.get('path');
  if (!p) return sendError(res, 400, 'MISSING_QUERY', "missing query parameter 'path'");
  const { host } = resolvePath(ctx.root, p);
  const st = await fsp.stat(host);
  if (st.isDirectory()) return sendError(res, 400, 'INVALID_FILE', `path is a directory: ${p}`);
  const size = st.size;
  const offset = q.get('offset');
  const limit = q.get('limit');
  if (offset !== null || limit !== null) {
    if (req.headers.range) return sendError(res, 400, 'INVALID_REQUEST_BODY', 'line-based reading (offset/limit) and byte range (Range header) are mutually exclusive');
    if ((offset !== null && !/^[1-9]\d*$/.test(offset)) || (limit !== null && !/^[1-9]\d*$/.test(limit))) {
      return sendError(res, 400, 'INVALID_REQUEST_BODY', 'offset and limit must be integers >= 1');
    }
    const lines = (await fsp.readFile(host, 'utf8')).split(/(?<=\n)/);
    const from = Number(offset || 1) - 1;
    const text = lines.slice(from, limit === null ? undefined : from + Number(limit)).join('');
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
    return undefined;
  }
  const headers = {
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': contentDisposition(path.basename(host)),
    'Accept-Ranges': 'bytes',
    'Last-Modified': st.mtime.toUTCString(),
  };
  let status = 200;
  let start = 0;
  let end = size - 1;
  if (req.headers.range) {
    const r = parseRange(req.headers.range, size);
    if (r === 'invalid' || r === 'unsatisfiable') {
      return sendError(res, 416, 'UNKNOWN', `requested range not satisfiable: ${req.headers.range}`, { 'Content-Range': `bytes */${size}` });
    }
    status = 206;
    start = r.start;
    end = r.end;
    headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  }
  headers['Content-Length'] = size === 0 ? 0 : end - start + 1;
  res.writeHead(status, headers);
  if (size === 0 || req.method === 'HEAD') { res.end(); return undefined; }
  await new Promise((resolve) => {
    const rs = fs.createReadStream(host, { start, end, highWaterMark: 64 * 1024 });
    rs.on('error', () => { res.destroy(); resolve(); });
    res.on('close', () => { rs.destroy(); resolve(); });
    rs.pipe(res);
  });
  return undefined;
}

async function upload(ctx, req, res) {
  const boundary = boundaryFrom(req.headers['content-type']);
  if (!boundary) { req.resume(); return sendError(res, 400, 'INVALID_FILE', 'multipart form is empty'); }
  const metas = [];
  const files = [];
  const temps = [];
  const parser = new MultipartParser(boundary, {
    onPart(info) {
      if (info.name === 'metadata') {
        const chunks = [];
        return { write: (b) => chunks.push(Buffer.from(b)), end: () => metas.push(Buffer.concat(chunks).toString('utf8')) };
      }
      if (info.name === 'file') {
        const tmp = path.join(ctx.tmp, 'upload-' + hexId());
        const fd = fs.openSync(tmp, 'w', 0o755);
        temps.push(tmp);
        return { write: (b) => fs.writeSync(fd, b), end: () => { fs.closeSync(fd); files.push(tmp); } };
      }
      return { write() {}, end() {} };
    },
  });
  const cleanup = () => { for (const t of temps) fs.rmSync(t, { force: true }); };
  try {
    for await (const chunk of req) parser.write(chunk);
    parser.end();
  } catch (e) {
    cleanup();
    return sendError(res, 400, 'INVALID_FILE', `multipart form is invalid: ${e.message}`);
  }
  try {
    if (!metas.length && !files.length) return sendError(res, 400, 'INVALID_FILE', 'multipart form is empty');
    if (!metas.length) return sendError(res, 400, 'INVALID_FILE_METADATA', 'metadata file is missing');
    if (!files.length) return sendError(res, 400, 'INVALID_FILE_CONTENT', 'file is missing');
    if (metas.length !== files.length) return sendError(res, 400, 'INVALID_FILE', `metadata and file count mismatch: ${metas.length} vs ${files.length}`);
    const parsed = [];
    for (const m of metas) {
      let meta;
      try { meta = JSON.parse(m); } catch (e) { return sendError(res, 400, 'INVALID_FILE_METADATA', `invalid metadata format. ${e.message}`); }
      if (!isPlainObject(meta) || typeof meta.path !== 'string' || !meta.path) return sendError(res, 400, 'INVALID_FILE_METADATA', 'metadata path is empty');
      parsed.push(meta);
    }
    for (let i = 0; i < parsed.length; i++) {
      const { host } = resolvePath(ctx.root, parsed[i].path);
      fs.mkdirSync(path.dirname(host), { recursive: true });
      fs.renameSync(files[i], host);
      applyPermission(host, { mode: parsed[i].mode || 755, owner: parsed[i].owner, group: parsed[i].group });
    }
    ctx.log(`files uploaded: ${parsed.map((m) => m.path).join(', ')}`);
    return sendEmpty(res, 200);
  } finally {
    cleanup();
  }
}

async function listDir(ctx, res, q) {
  const p = q.get('path');
  if (!p) return sendError(res, 400, 'MISSING_QUERY', "missing query parameter 'path'");
  let depth = 1;
  if (q.get('depth') !== null && q.get('depth') !== '') {
    if (!/^\d+$/.test(q.get('depth'))) return sendError(res, 400, 'INVALID_REQUEST_BODY', `invalid query parameter 'depth': ${q.get('depth')}`);
    depth = Number(q.get('depth'));
  }
  const { host, display } = resolvePath(ctx.root, p);
  const st = await fsp.lstat(host);
  if (st.isSymbolicLink()) return sendError(res, 400, 'INVALID_REQUEST_BODY', `path is a symbolic link, refusing to traverse: ${display}`);
  if (!st.isDirectory()) return sendError(res, 400, 'INVALID_REQUEST_BODY', `path is not a directory: ${display}`);
  const out = [];
  const walk = async (dirHost, dirDisplay, level) => {
    const names = (await fsp.readdir(dirHost)).sort();
    for (const name of names) {
      const h = path.join(dirHost, name);
      const d = (dirDisplay === '/' ? '' : dirDisplay) + '/' + name;
      const est = await fsp.lstat(h);
      out.push(fileInfo(d, est));
      if (est.isDirectory() && level + 1 < depth) await walk(h, d, level + 1);
    }
  };
  if (depth > 0) await walk(host, display, 0);
  return sendJson(res, 200, out);
}

async function search(ctx, res, q) {
  const p = q.get('path');
  if (!p) return sendError(res, 400, 'MISSING_QUERY', "missing query parameter 'path'");
  const pattern = q.get('pattern') || '**';
  let re;
  try { re = globToRegExp(pattern); } catch (e) { return sendError(res, 400, 'INVALID_REQUEST_BODY', e.message); }
  const { host, display } = resolvePath(ctx.root, p);
  await fsp.stat(host);
  const out = [];
  const walk = async (h, d) => {
    const st = await fsp.lstat(h).catch(() => null);
    if (!st) return;
    if (st.isDirectory()) {
      for (const name of (await fsp.readdir(h)).sort()) await walk(path.join(h, name), (d === '/' ? '' : d) + '/' + name);
      return;
    }
    if (re.test(path.basename(h))) out.push(fileInfo(d, st));
  };
  await walk(host, display);
  return sendJson(res, 200, out);
}

// Returns true if the route was handled.
async function handleFiles(ctx, req, res, rest) {
  const { path: p, query } = splitUrl(rest);
  const q = new URLSearchParams(query);
  const m = req.method;
  try {
    if (p === '/files/info' && m === 'GET') {
      const out = {};
      for (const fp of q.getAll('path')) {
        const { host, display } = resolvePath(ctx.root, fp);
        out[fp] = fileInfo(display, await fsp.lstat(host));
      }
      sendJson(res, 200, out);
      return true;
    }
    if (p === '/files' && m === 'DELETE') {
      for (const fp of q.getAll('path')) {
        const { host } = resolvePath(ctx.root, fp);
        const st = await fsp.stat(host).catch(() => null);
        if (!st) continue;
        if (st.isDirectory()) { sendError(res, 500, 'RUNTIME_ERROR', `error removing file ${fp}. path is a directory: ${fp}`); return true; }
        await fsp.rm(host);
      }
      sendEmpty(res, 200);
      return true;
    }
    if (p === '/files/download' && (m === 'GET' || m === 'HEAD')) { await download(ctx, req, res, q); return true; }
    if (p === '/files/upload' && m === 'POST') { await upload(ctx, req, res); return true; }
    if (p === '/files/search' && m === 'GET') { await search(ctx, res, q); return true; }
    if (p === '/directories/list' && m === 'GET') { await listDir(ctx, res, q); return true; }
    if (p === '/directories' && m === 'DELETE') {
      for (const fp of q.getAll('path')) {
        const { host } = resolvePath(ctx.root, fp);
        if (host === ctx.root) { sendError(res, 400, 'INVALID_PATH', 'refusing to remove the sandbox root'); return true; }
        await fsp.rm(host, { recursive: true, force: true });
      }
      sendEmpty(res, 200);
      return true;
    }
    if (['/files/mv', '/files/permissions', '/files/replace', '/directories'].includes(p) && m === 'POST') {
      const r = await jsonBody(req, res);
      if (!r) return true;
      const b = r.value;
      if (p === '/files/mv') {
        if (!Array.isArray(b)) { sendError(res, 400, 'INVALID_REQUEST_BODY', 'error parsing request, MAYBE invalid body format. expected an array'); return true; }
        for (const item of b) {
          if (!isPlainObject(item) || typeof item.src !== 'string' || typeof item.dest !== 'string') {
            sendError(res, 400, 'INVALID_REQUEST_BODY', 'each item needs src and dest');
            return true;
          }
          const src = resolvePath(ctx.root, item.src);
          const dst = resolvePath(ctx.root, item.dest);
          if (!fs.existsSync(src.host)) { sendError(res, 404, 'FILE_NOT_FOUND', `file not found. source path not found: ${item.src}`); return true; }
          fs.mkdirSync(path.dirname(dst.host), { recursive: true });
          if (fs.existsSync(dst.host)) { sendError(res, 500, 'RUNTIME_ERROR', `error accessing file: destination path already exists: ${item.dest}`); return true; }
          fs.renameSync(src.host, dst.host);
        }
        sendEmpty(res, 200);
        return true;
      }
      if (!isPlainObject(b)) { sendError(res, 400, 'INVALID_REQUEST_BODY', 'error parsing request, MAYBE invalid body format. expected an object'); return true; }
      if (p === '/files/permissions' || p === '/directories') {
        for (const [fp, perm] of Object.entries(b)) {
          if (!isPlainObject(perm)) { sendError(res, 400, 'INVALID_REQUEST_BODY', `invalid permission for ${fp}`); return true; }
          const { host } = resolvePath(ctx.root, fp);
          try {
            if (p === '/directories') fs.mkdirSync(host, { recursive: true });
            applyPermission(host, perm);
          } catch (e) {
            if (e.code === 'ENOENT') { fileError(res, e); return true; }
            sendError(res, 500, 'RUNTIME_ERROR', `error changing permissions for ${fp}. ${e.message}`);
            return true;
          }
        }
        sendEmpty(res, 200);
        return true;
      }
      // /files/replace
      const verbose = q.get('verbose') === 'true';
      const results = {};
      for (const [fp, item] of Object.entries(b)) {
        if (!isPlainObject(item) || typeof item.old !== 'string' || !item.old) {
          sendError(res, 400, 'INVALID_REQUEST_BODY', 'old content must not be empty');
          return true;
        }
        const { host } = resolvePath(ctx.root, fp);
        const content = await fsp.readFile(host, 'utf8');
        const count = content.split(item.old).length - 1;
        await fsp.writeFile(host, content.split(item.old).join(typeof item.new === 'string' ? item.new : ''));
        results[fp] = { replacedCount: count };
      }
      if (verbose) sendJson(res, 200, results);
      else sendEmpty(res, 200);
      return true;
    }
  } catch (e) {
    fileError(res, e);
    return true;
  }
  return false;
}

module.exports = { handleFiles, resolvePath, PathError, fileInfo, globToRegExp, parseRange };
