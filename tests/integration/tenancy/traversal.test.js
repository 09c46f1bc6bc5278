'use strict';
// Dot-segments in port routes (issue: traversal into another tenant's sandbox). The backend's
// endpoints all share one host and are routed by path through a real path-normalising proxy
// (Debian's nginx, `proxy_pass` with a URI, as a Kubernetes/nginx Ingress does), so a path that
// climbs out of `/sandboxes/{B}/proxy/{port}` after the gateway would land in A's sandbox. Every
// spelling of the climb, over HTTP/1.1 (raw targets), curl --path-as-is and HTTP/2, gets 400 JSON
// and never A's bytes; names with dots inside still pass.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http2 = require('node:http2');
const path = require('node:path');
const h = require('../lib/harness');
const T = require('../lib/tenancy');

const env = h.env();
const ctx = {};

function nginxBin() {
  for (const p of ['/usr/sbin/nginx', spawnSync('which', ['nginx'], { encoding: 'utf8' }).stdout.trim()]) {
    if (p && fs.existsSync(p)) return p;
  }
  throw new Error('nginx is not installed (Debian package nginx-light; scripts/install-deps.sh installs it)');
}

// nginx on port, routing /sandboxes/ to the simulator's server-proxy route, normalising the path first.
async function startNginx(port, upstreamPort) {
  const dir = fs.mkdtempSync(path.join(h.tmpDir(), 'nginx-'));
  fs.chmodSync(dir, 0o777);
  const conf = `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    location /sandboxes/ {
      proxy_pass http://127.0.0.1:${upstreamPort}/sandboxes/;
      proxy_http_version 1.1;
      proxy_buffering off;
    }
  }
}`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const proc = spawn(nginxBin(), ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (c) => { err += c; });
  process.on('exit', () => { try { proc.kill('SIGKILL'); } catch (_) { /* gone */ } });
  await h.waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`nginx exited: ${err}`);
    try { return (await h.request(`http://127.0.0.1:${port}/`)).status > 0; } catch (_) { return false; }
  }, { timeoutMs: 10000, what: 'nginx listening' });
  return { port, stop: () => proc.kill('SIGQUIT') };
}

function multipart(filePath, content) {
  const b = `----sg${crypto.randomBytes(6).toString('hex')}`;
  const body = Buffer.from(
    `--${b}\r\nContent-Disposition: form-data; name="metadata"\r\nContent-Type: application/json\r\n\r\n${JSON.stringify({ path: filePath })}\r\n`
    + `--${b}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\nContent-Type: application/octet-stream\r\n\r\n${content}\r\n--${b}--\r\n`);
  return { body, type: `multipart/form-data; boundary=${b}` };
}

test.before(async () => {
  const nginxPort = await h.freePort();
  ctx.sim = await env.sim({
    name: 'trav',
    args: ['--endpoints-via-proxy', '--proxy-auth', 'none', '--server-proxy-prefix', '', '--public-host', `127.0.0.1:${nginxPort}`],
  });
  ctx.nginx = await startNginx(nginxPort, ctx.sim.port);
  ctx.kA = T.newKey('a');
  ctx.kB = T.newKey('b');
  ctx.gw = await T.startGateway({
    backends: [h.backend(ctx.sim)],
    tenants: [
      { id: 'tenant-a', keys: [T.keyHash(ctx.kA)], policy: { allow_manual_cleanup: true } },
      { id: 'tenant-b', keys: [T.keyHash(ctx.kB)], policy: { allow_manual_cleanup: true } },
    ],
  });
  env.gateways.push(ctx.gw);
  ctx.A = T.client(ctx.gw.httpUrl, ctx.kA);
  ctx.B = T.client(ctx.gw.httpUrl, ctx.kB);
  ctx.a = (await ctx.A.create()).id;
  ctx.b = (await ctx.B.create()).id;
  ctx.secret = `secret-of-a-${crypto.randomBytes(8).toString('hex')}`;
  const up = multipart('/secret.txt', ctx.secret);
  const r = await ctx.A.post(`/sandboxes/${ctx.a}/port/44772/files/upload`, undefined, { body: up.body, headers: { 'content-type': up.type } });
  assert.equal(r.status, 200, `upload through the gateway: ${r.status} ${r.text}`);
}, { timeout: 60000 });

test.after(async () => {
  await env.cleanup();
  if (ctx.nginx) ctx.nginx.stop();
});

const download = '/files/download?path=/secret.txt';

test('the setup is vulnerable without the gateway: nginx normalises a climbing path into A\'s sandbox', { timeout: 30000 }, env.wrap(async () => {
  // A itself reads its file through the gateway (endpoint = nginx, path form)
  const own = await ctx.A.get(`/sandboxes/${ctx.a}/port/44772${download}`);
  assert.equal(own.status, 200, own.text);
  assert.equal(own.text, ctx.secret);
  // straight to nginx, B's prefix plus a climb reaches A: this is what the gateway must never forward
  const direct = await h.request(`http://127.0.0.1:${ctx.nginx.port}/sandboxes/${ctx.b}/proxy/44772/../../../${ctx.a}/proxy/44772${download}`);
  assert.equal(direct.text, ctx.secret, 'the test setup does not normalise paths: it would not catch a traversal');
}));

// every spelling of "climb three segments, then into A's sandbox"
function climbs(a) {
  const tail = `${a}/proxy/44772${download}`;
  return [
    `/../../../${tail}`,
    `/%2e%2e/%2e%2e/%2e%2e/${tail}`,
    `/%2E%2e/%2e%2E/%2E%2E/${tail}`,
    `/.%2e/%2e./.%2E/${tail}`,
    `/..%2F..%2F..%2F${a}%2Fproxy%2F44772%2Ffiles%2Fdownload?path=/secret.txt`,
    `/..%2f..%2f..%2f${tail}`,
    `/..%5C..%5C..%5C${tail}`,
    `/..\\..\\..\\${tail}`,
    `/./../../../${tail}`,
    `/..;/..;/..;/${tail}`,
    `/x/../../../../${tail}`,
  ];
}

test('HTTP/1.1: every spelling of a climb out of the endpoint prefix is 400, on every port route form', { timeout: 60000 }, env.wrap(async () => {
  const failures = [];
  for (const form of ['port', 'proxy', 'v1proxy']) {
    for (const rest of climbs(ctx.a)) {
      const p = h.portPath(ctx.b, 44772, rest, form);
      const r = await ctx.B.get(p);
      if (r.text.includes(ctx.secret)) failures.push(`${p}: A's secret leaked`);
      else if (r.status !== 400 || !r.json || r.json.code !== 'GATEWAY::INVALID_PATH') failures.push(`${p}: ${r.status} ${r.text}`);
    }
  }
  assert.deepEqual(failures, [], failures.join('\n'));
  // the same for the lifecycle ids
  for (const p of [`/v1/sandboxes/${ctx.b}/../${ctx.a}`, `/v1/sandboxes/${ctx.b}/%2e%2e/${ctx.a}/endpoints/44772`, `/v1/sandboxes/..%2F${ctx.a}`]) {
    const r = await ctx.B.get(p);
    assert.equal(r.status, 400, `${p}: ${r.status} ${r.text}`);
    assert.ok(!r.text.includes('tenant-a'));
  }
}));

test('curl --path-as-is and HTTP/2 :path: the climb is 400 too', { timeout: 60000 }, env.wrap(async () => {
  const p = h.portPath(ctx.b, 44772, `/../../../${ctx.a}/proxy/44772${download}`);
  const c = await h.curl(['-s', '--path-as-is', '-H', `OPEN-SANDBOX-API-KEY: ${ctx.kB}`, '-w', '\n%{http_code}', `${ctx.gw.httpUrl}${p}`]);
  assert.ok(!c.stdout.includes(ctx.secret), 'curl: A\'s secret leaked');
  assert.match(c.stdout, /GATEWAY::INVALID_PATH[\s\S]*\n400$/);
  const session = http2.connect(ctx.gw.httpsUrl, { ca: fs.readFileSync(h.certs().ca) });
  session.on('error', () => {});
  try {
    for (const form of ['port', 'proxy', 'v1proxy']) {
      for (const rest of climbs(ctx.a)) {
        const r = await new Promise((resolve, reject) => {
          const st = session.request({ ':method': 'GET', ':path': h.portPath(ctx.b, 44772, rest, form), 'open-sandbox-api-key': ctx.kB });
          const chunks = [];
          let status;
          st.on('response', (hd) => { status = hd[':status']; });
          st.on('data', (x) => chunks.push(x));
          st.on('end', () => resolve({ status, text: Buffer.concat(chunks).toString() }));
          st.on('error', reject);
          st.end();
        });
        assert.ok(!r.text.includes(ctx.secret), `h2 ${form} ${rest}: A's secret leaked`);
        assert.equal(r.status, 400, `h2 ${form} ${rest}: ${r.status} ${r.text}`);
      }
    }
  } finally {
    session.close();
  }
}));

test('names with dots inside are not dot-segments: they reach B\'s own sandbox', { timeout: 30000 }, env.wrap(async () => {
  for (const rest of ['/echo/a.b/..c/x..y', '/echo/.../....', '/echo/.hidden/file.', '/echo/%2e%2e%2e']) {
    for (const form of ['port', 'proxy', 'v1proxy']) {
      const r = await ctx.B.get(h.portPath(ctx.b, 8080, rest, form));
      assert.equal(r.status, 200, `${form} ${rest}: ${r.status} ${r.text}`);
      assert.equal(r.json.path, rest.replace('%2e%2e%2e', '...'), `${form} ${rest}: the sandbox saw ${r.json.path}`);
    }
  }
}));

test('sandgate exits 0 on SIGTERM', { timeout: 30000 }, env.wrap(async () => {
  await ctx.gw.stop();
}));
