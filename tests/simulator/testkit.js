'use strict';
// Helpers for tests that use the simulator:
//   startSimulator(args, opts)  -> launches server.js as a child process (port 0) and waits for
//                                  its listening line; returns {port, base, apiKey, name, proc, stop()}
//   loadSpecs(dir)              -> OpenAPI response validators built from the YAML specs (ajv)
//   parseExecdStream(text)      -> ServerStreamEvent objects from an execd SSE body
// The specs directory defaults to $OPENSANDBOX_SPECS_DIR or <repo>/tests/specs (a verbatim copy of
// the OpenSandbox specs, so that a fresh clone can run the tests).

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const SERVER = path.join(__dirname, 'server.js');
const DEFAULT_SPECS_DIR = process.env.OPENSANDBOX_SPECS_DIR
  || path.resolve(__dirname, '..', 'specs');

const running = new Set();
process.on('exit', () => {
  for (const p of running) { try { p.kill('SIGKILL'); } catch (_) { /* ignore */ } }
});

function startSimulator(args, opts) {
  const o = Object.assign({ apiKey: 'test-key', name: 'sim', timeoutMs: 15000 }, opts || {});
  const argv = [SERVER, '--port', String(o.port || 0), '--api-key', o.apiKey, '--name', o.name, '--exit-with-parent', ...(args || [])];
  const proc = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  let stderr = '';
  proc.stderr.on('data', (c) => { stderr += c; if (o.echoStderr) process.stderr.write(c); });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => { running.delete(proc); resolve({ code, signal }); }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`simulator did not start: ${stderr}`)); }, o.timeoutMs);
    const rl = readline.createInterface({ input: proc.stdout });
    const extra = [];
    rl.once('line', (line) => {
      clearTimeout(timer);
      let ev;
      try { ev = JSON.parse(line); } catch (e) { reject(new Error(`bad listening line: ${line}`)); return; }
      rl.on('line', (l) => extra.push(l));
      const sim = {
        port: ev.port,
        name: ev.name,
        listeningLine: line,
        extraStdout: extra,
        apiKey: o.apiKey,
        base: `http://127.0.0.1:${ev.port}`,
        proc,
        exited,
        stderr: () => stderr,
        headers: (h) => Object.assign({ 'OPEN-SANDBOX-API-KEY': o.apiKey }, h || {}),
        async stop(signal) {
          if (proc.exitCode !== null || proc.signalCode !== null) return exited;
          proc.kill(signal || 'SIGTERM');
          const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
          const r = await exited;
          clearTimeout(t);
          return r;
        },
      };
      resolve(sim);
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`simulator exited (${code}) before listening: ${stderr}`)); });
  });
}

// ---------- OpenAPI 3.x -> JSON Schema (2020-12) for ajv ----------
function convertSchema(node) {
  if (Array.isArray(node)) return node.map(convertSchema);
  if (!node || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'example' || k === 'xml' || k === 'discriminator' || k === 'externalDocs') continue;
    if (k === '$ref' && typeof v === 'string') {
      out.$ref = v.replace('#/components/schemas/', '#/$defs/');
      continue;
    }
    if (k === 'nullable') continue;
    if (k === 'properties' || k === 'patternProperties' || k === '$defs') {
      out[k] = Object.fromEntries(Object.entries(v).map(([pk, pv]) => [pk, convertSchema(pv)]));
      continue;
    }
    out[k] = convertSchema(v);
  }
  if (node.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    else if (Array.isArray(out.type)) { if (!out.type.includes('null')) out.type = [...out.type, 'null']; } else if (out.$ref) {
      const ref = out.$ref;
      delete out.$ref;
      out.anyOf = [{ $ref: ref }, { type: 'null' }];
    }
  }
  return out;
}

function makeAjv() {
  const Ajv2020 = require('ajv/dist/2020');
  const addFormats = require('ajv-formats');
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  for (const f of ['int32', 'int64', 'float', 'double', 'binary', 'byte']) ajv.addFormat(f, true);
  return ajv;
}

class SpecValidator {
  constructor(file) {
    const YAML = require('yaml');
    this.file = file;
    this.doc = YAML.parse(fs.readFileSync(file, 'utf8'));
    this.ajv = makeAjv();
    this.defs = Object.fromEntries(Object.entries((this.doc.components && this.doc.components.schemas) || {})
      .map(([k, v]) => [k, convertSchema(v)]));
    this.cache = new Map();
  }

  schemaValidator(schema) {
    const key = JSON.stringify(schema);
    if (!this.cache.has(key)) {
      this.cache.set(key, this.ajv.compile(Object.assign({ $defs: this.defs }, convertSchema(schema))));
    }
    return this.cache.get(key);
  }

  componentValidator(name) {
    return this.schemaValidator({ $ref: `#/components/schemas/${name}` });
  }

  response(method, template, status) {
    const p = this.doc.paths[template];
    if (!p) throw new Error(`${path.basename(this.file)}: no path ${template}`);
    const op = p[method.toLowerCase()];
    if (!op) throw new Error(`${path.basename(this.file)}: no operation ${method} ${template}`);
    let r = op.responses[String(status)];
    if (!r) return null;
    if (r.$ref) r = this.doc.components.responses[r.$ref.split('/').pop()];
    return r;
  }

  // Validates an HTTP response against the spec. res: {status, headers (lowercase obj or Headers), body (string|Buffer)}.
  // Returns an array of error strings (empty when valid).
  check(method, template, res) {
    const errors = [];
    const r = this.response(method, template, res.status);
    const where = `${method} ${template} -> ${res.status}`;
    if (!r) return [`${where}: status not declared in ${path.basename(this.file)}`];
    const get = (h) => (typeof res.headers.get === 'function' ? res.headers.get(h) : res.headers[h]);
    const ctype = String(get('content-type') || '').split(';')[0].trim();
    const bodyText = Buffer.isBuffer(res.body) ? res.body.toString('utf8') : (res.body || '');
    if (!r.content) {
      if (bodyText.length) errors.push(`${where}: expected no body, got ${JSON.stringify(bodyText.slice(0, 200))}`);
      return errors;
    }
    const media = r.content[ctype];
    if (!media) {
      errors.push(`${where}: content-type ${ctype || '(none)'} not one of ${Object.keys(r.content).join(', ')}`);
      return errors;
    }
    if (!media.schema) return errors;
    if (ctype === 'application/json') {
      let value;
      try { value = JSON.parse(bodyText); } catch (e) { return [`${where}: invalid JSON: ${e.message}`]; }
      const v = this.schemaValidator(media.schema);
      if (!v(value)) errors.push(`${where}: ${this.ajv.errorsText(v.errors)} in ${bodyText.slice(0, 500)}`);
    } else if (ctype === 'text/event-stream') {
      const v = this.schemaValidator(media.schema);
      for (const ev of parseExecdStream(bodyText)) {
        if (!v(ev)) errors.push(`${where}: event ${JSON.stringify(ev)}: ${this.ajv.errorsText(v.errors)}`);
      }
    } else if (media.schema.type === 'string' && typeof bodyText !== 'string') {
      errors.push(`${where}: expected a string body`);
    }
    return errors;
  }
}

function loadSpecs(dir) {
  const d = dir || DEFAULT_SPECS_DIR;
  return {
    lifecycle: new SpecValidator(path.join(d, 'sandbox-lifecycle.yml')),
    diagnostic: new SpecValidator(path.join(d, 'diagnostic-api.yml')),
    execd: new SpecValidator(path.join(d, 'execd-api.yaml')),
  };
}

// Parses an execd event stream ("{json}\n\n" blocks, optionally "data: {json}").
function parseExecdStream(text) {
  const out = [];
  for (const block of text.split(/\n\n+/)) {
    const lines = block.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith(':'));
    const data = lines.filter((l) => !/^(event|id|retry):/.test(l)).map((l) => (l.startsWith('data:') ? l.slice(5).trim() : l)).join('\n');
    if (!data) continue;
    out.push(JSON.parse(data));
  }
  return out;
}

// fetch wrapper returning {status, headers, body (utf8 text), buf, json, ms}.
async function httpCall(url, opts) {
  const o = opts || {};
  const init = { method: o.method || 'GET', headers: Object.assign({}, o.headers || {}) };
  if (o.json !== undefined) {
    init.body = JSON.stringify(o.json);
    init.headers['content-type'] = 'application/json';
  } else if (o.body !== undefined) {
    init.body = o.body;
    if (o.body && typeof o.body.pipe === 'function') init.duplex = 'half';
  }
  if (o.signal) init.signal = o.signal;
  const t0 = Date.now();
  const r = await fetch(url, init);
  const buf = Buffer.from(await r.arrayBuffer());
  let json;
  try { json = JSON.parse(buf.toString('utf8')); } catch (_) { json = undefined; }
  return { status: r.status, headers: r.headers, body: buf.toString('utf8'), buf, json, ms: Date.now() - t0 };
}

async function waitFor(fn, opts) {
  const o = Object.assign({ timeoutMs: 10000, intervalMs: 50, what: 'condition' }, opts || {});
  const deadline = Date.now() + o.timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${o.what}`);
    await new Promise((r) => setTimeout(r, o.intervalMs));
  }
}

module.exports = { startSimulator, loadSpecs, httpCall, waitFor, SpecValidator, convertSchema, parseExecdStream, DEFAULT_SPECS_DIR };
