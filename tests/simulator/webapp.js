'use strict';
// A small web application that every sandbox serves on its port 3000: the kind of app a user runs
// in a sandbox and opens in a browser (a dev server, noVNC). It is the sandbox's own app, not an
// OpenSandbox API. Its page exercises what breaks when an app is moved under a path prefix:
//
//   GET  /                     HTML page (below)
//   GET  /app.js               script loaded by ABSOLUTE path      -> #abs-script
//   GET  /rel.js               script loaded by RELATIVE path      -> #rel-script
//   GET  /api/hello            fetch('api/hello')  (relative)      -> #fetch-rel
//   GET  /api/abs              fetch('/api/abs')   (absolute)      -> #fetch-abs
//   WS   /ws                   echo with an "echo:" prefix; opened relative (#ws-rel) and absolute (#ws-abs)
//   POST /api/login            sets the app's own cookie `app_session` (not HttpOnly)
//   GET  /api/whoami           JSON {cookie, headers}: the Cookie header and every request header the app received
//
// Each check renders "ok" or "fail: <why>" into its element and a data-state attribute; #done gets
// "done" when every check has settled (each is bounded by a 5 s timer in the page). #doc-cookie
// shows document.cookie, #whoami the JSON of /api/whoami (after /api/login), #location the page URL.

const crypto = require('node:crypto');
const { WebSocketServer } = require('ws');
const { sendJson, sendError, splitUrl } = require('./util');

const WEBAPP_PORT = 3000;
const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

const PAGE = `<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>sandbox web app</title>
<style>
body { font-family: sans-serif; margin: 1.5em; }
td { padding: 2px 10px; border-bottom: 1px solid #ddd; font-family: monospace; }
td[data-state=ok] { color: #070; }
td[data-state=fail] { color: #b00; }
pre { white-space: pre-wrap; word-break: break-all; font-size: 11px; }
</style>
<script>
// Shared by the page and both scripts: mark(id, ok, why) records a result once; render() shows the
// results in their elements (the head scripts run before the body exists).
window.results = {};
function render() {
  Object.keys(window.results).forEach(function (id) {
    var el = document.getElementById(id);
    if (el) { el.textContent = window.results[id]; el.setAttribute('data-state', window.results[id] === 'ok' ? 'ok' : 'fail'); }
  });
}
function mark(id, ok, why) {
  if (id in window.results) return;
  window.results[id] = ok ? 'ok' : 'fail: ' + why;
  render();
}
</script>
<script src="/app.js" onerror="mark('abs-script', false, 'load error')"></script>
<script src="rel.js" onerror="mark('rel-script', false, 'load error')"></script>
</head>
<body>
<h1>sandbox web app</h1>
<p id="location"></p>
<table>
<tr><td>script src="/app.js" (absolute)</td><td id="abs-script" data-state="pending">pending</td></tr>
<tr><td>script src="rel.js" (relative)</td><td id="rel-script" data-state="pending">pending</td></tr>
<tr><td>fetch('api/hello') (relative)</td><td id="fetch-rel" data-state="pending">pending</td></tr>
<tr><td>fetch('/api/abs') (absolute)</td><td id="fetch-abs" data-state="pending">pending</td></tr>
<tr><td>WebSocket 'ws' (relative)</td><td id="ws-rel" data-state="pending">pending</td></tr>
<tr><td>WebSocket '/ws' (absolute)</td><td id="ws-abs" data-state="pending">pending</td></tr>
<tr><td>app cookie (api/login, api/whoami)</td><td id="app-cookie" data-state="pending">pending</td></tr>
</table>
<p>document.cookie: <code id="doc-cookie"></code></p>
<p>whoami:</p><pre id="whoami"></pre>
<p id="done" data-state="pending">running</p>
<script>
(function () {
  var LIMIT_MS = 5000;
  document.getElementById('location').textContent = location.href;
  function bounded(id, promise) {
    var t = new Promise(function (resolve) { setTimeout(function () { resolve('timeout'); }, LIMIT_MS); });
    return Promise.race([promise.catch(function (e) { return String(e && e.message || e); }), t])
      .then(function (why) { if (why !== undefined) mark(id, false, why); });
  }
  function checkFetch(id, url, route) {
    return bounded(id, fetch(url, { cache: 'no-store' }).then(function (r) {
      if (r.status !== 200) return 'status ' + r.status;
      return r.json().then(function (j) { if (j.route === route) mark(id, true); else return 'body ' + JSON.stringify(j); });
    }));
  }
  function checkWs(id, url) {
    return bounded(id, new Promise(function (resolve) {
      var ws = new WebSocket(url);
      var msg = id + '-' + Math.random().toString(36).slice(2);
      ws.onopen = function () { ws.send(msg); };
      ws.onmessage = function (ev) {
        if (ev.data === 'echo:' + msg) { mark(id, true); resolve(); } else resolve('message ' + ev.data);
        ws.close();
      };
      ws.onerror = function () { resolve('error'); };
      ws.onclose = function (ev) { resolve('closed ' + ev.code); };
    }));
  }
  function scriptsSettled() {
    // The scripts ran (or failed) before this inline script: anything still pending never ran.
    ['abs-script', 'rel-script'].forEach(function (id) { if (!(id in window.results)) mark(id, false, 'not run'); });
  }
  function checkCookie() {
    return bounded('app-cookie', fetch('api/login', { method: 'POST', cache: 'no-store' }).then(function (r) {
      if (r.status !== 200) return 'login status ' + r.status;
      return r.json().then(function (login) {
        return fetch('api/whoami', { cache: 'no-store' }).then(function (w) { return w.json(); }).then(function (who) {
          document.getElementById('whoami').textContent = JSON.stringify(who);
          var mine = (who.cookie || '').split(/; */).indexOf('app_session=' + login.session) >= 0;
          if (mine) mark('app-cookie', true); else return 'app_session not received: ' + who.cookie;
        });
      });
    }));
  }
  var wsRel = new URL('ws', location.href);
  wsRel.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  var wsAbs = new URL('/ws', location.href);
  wsAbs.protocol = wsRel.protocol;
  scriptsSettled();
  render();
  Promise.all([
    checkFetch('fetch-rel', 'api/hello', 'hello'),
    checkFetch('fetch-abs', '/api/abs', 'abs'),
    checkWs('ws-rel', wsRel.href),
    checkWs('ws-abs', wsAbs.href),
    checkCookie(),
  ]).then(function () {
    document.getElementById('doc-cookie').textContent = document.cookie;
    var done = document.getElementById('done');
    done.textContent = 'done';
    done.setAttribute('data-state', 'done');
  });
})();
</script>
</body>
</html>
`;

function send(res, status, type, body, extra) {
  const buf = Buffer.from(body);
  res.writeHead(status, Object.assign({ 'Content-Type': type, 'Content-Length': buf.length, 'Cache-Control': 'no-store' }, extra || {}));
  res.end(res.req && res.req.method === 'HEAD' ? undefined : buf);
}

async function handle(req, res, rest) {
  const { path } = splitUrl(rest);
  const m = req.method;
  const get = m === 'GET' || m === 'HEAD';
  if (path === '/api/login' && m === 'POST') {
    req.resume();
    const session = crypto.randomBytes(9).toString('hex');
    sendJson(res, 200, { route: 'login', session }, { 'Set-Cookie': `app_session=${session}; Path=/; SameSite=Lax`, 'Cache-Control': 'no-store' });
    return;
  }
  req.resume();
  if (!get) return sendError(res, 405, 'METHOD_NOT_ALLOWED', `web app: ${m} ${path}`);
  if (path === '/' || path === '/index.html') return send(res, 200, 'text/html; charset=utf-8', PAGE);
  if (path === '/app.js') return send(res, 200, 'text/javascript', "mark('abs-script', true);\n");
  if (path === '/rel.js') return send(res, 200, 'text/javascript', "mark('rel-script', true);\n");
  if (path === '/api/hello') return sendJson(res, 200, { route: 'hello' }, { 'Cache-Control': 'no-store' });
  if (path === '/api/abs') return sendJson(res, 200, { route: 'abs' }, { 'Cache-Control': 'no-store' });
  if (path === '/api/whoami') {
    return sendJson(res, 200, { route: 'whoami', cookie: req.headers.cookie || '', headers: req.headers }, { 'Cache-Control': 'no-store' });
  }
  if (path === '/ws') return sendError(res, 426, 'UPGRADE_REQUIRED', 'WebSocket upgrade required', { Upgrade: 'websocket' });
  sendError(res, 404, 'NOT_FOUND', `web app: no route for ${m} ${path}`);
}

function isWebSocketPath(rest) {
  return splitUrl(rest).path === '/ws';
}

function handleUpgrade(req, socket, head) {
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data) => ws.send('echo:' + data.toString('utf8')));
    ws.on('error', () => {});
  });
}

module.exports = { handle, isWebSocketPath, handleUpgrade, WEBAPP_PORT };
