#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/ (one file per input, named by its
SHA-1), from what the tests already use: request paths and list queries of tests/integration, JSON documents quoted
in tests/unit (create bodies, tenant documents), the shipped configs (conf/*.yaml) and the configs of tests/unit,
plus a few hand-written inputs per target (backend answers, HTTP responses, tokens). Idempotent; run from anywhere:
    python3 tests/fuzz/make-seeds.py
Inputs of targets that read a selector byte first are written once per selector value that matters."""
import glob, hashlib, json, os, re, sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
OUT = os.path.join(ROOT, 'tests', 'fuzz', 'corpus')
MAX = 4096
UUID = 'a3b1c2d4-0000-4000-8000-0123456789ab'


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    if not data or len(data) > MAX:
        return
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), 'wb') as f:
        f.write(data)


def read(path):
    with open(os.path.join(ROOT, path), encoding='utf-8', errors='replace') as f:
        return f.read()


def c_literals(text):
    """adjacent C string literals joined and unescaped"""
    out = []
    for m in re.finditer(r'(?:"(?:[^"\\\n]|\\.)*"\s*)+', text):
        parts = re.findall(r'"((?:[^"\\\n]|\\.)*)"', m.group(0))
        s = ''.join(parts)
        try:
            out.append(s.encode('latin-1', 'backslashreplace').decode('unicode_escape'))
        except Exception:
            pass
    return out


def js_paths():
    paths = set()
    for f in glob.glob(os.path.join(ROOT, 'tests', 'integration', '**', '*.js'), recursive=True):
        text = read(f)
        for m in re.finditer(r"[`'\"](/(?:sandboxes|v1|health)[^`'\"\s]*)[`'\"]", text):
            p = re.sub(r'\$\{[^}]*\}', lambda x: UUID if 'id' in x.group(0).lower() or 'sbx' in x.group(0) else '8080', m.group(1))
            paths.add(p)
    return sorted(paths)


def json_docs(files):
    docs = []
    for f in files:
        for s in c_literals(read(f)):
            s = s.strip()
            if s.startswith('{'):
                try:
                    json.loads(s)
                    docs.append(s)
                except Exception:
                    pass
    return docs


paths = js_paths()
queries = sorted({p.split('?', 1)[1] for p in paths if '?' in p and p.startswith('/v1/')})

# router: paths, tokens ("{token}/{path}") and hosts
for p in paths:
    put('router', p)
for t in ['%s-8080/echo/x' % UUID, '%s-8080-1abcdef-k0123456789a/x?q=1' % UUID, 'sbx-44772',
          '%s-8080.sandbox.example.com:443' % UUID, 'sbx-1-8080.x', 'zzzzzzzzzzzzz', '3w5e11264sgsf', '0',
          '/sandboxes/%s/port/8080-1abcdef-k0123456789a/x' % UUID, '/v1/sandboxes/%s/proxy/44772/command?x=1' % UUID]:
    put('router', t)

# reqcheck: methods, targets, heads
for p in paths + ['/a/%2e%2E/b', '/a/..;x/b', '/a\\..\\b', '/a%2f..%5cb', '/%00', '/a?..', 'GET', 'M-SEARCH']:
    put('reqcheck', p)
for head in ['GET / HTTP/1.1\r\nHost: a\r\n\r\n',
             'POST /v1/sandboxes HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}',
             'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n',
             'GET / HTTP/1.0\r\n\r\n', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n',
             'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n']:
    put('reqcheck', head)

# list_query: selector byte 0 (sandboxes) / 1 (snapshots) + query
for q in queries + ['metadata=sandgate.io%2Ftenant%3Dother%26team%3Dblue', 'state=Running&state=Paused&sandboxId=x%20y',
                    'page=1&pageSize=1000000', 'metadata=a%3D1%26%26b%3D%2525']:
    put('list_query', b'\x00' + q.encode())
    put('list_query', b'\x01' + q.encode())

# create: selector (tenant % 3, check / 3 % 3) + body
unit_json = json_docs(['tests/unit/test_admission.c', 'tests/unit/test_tenancy.c', 'tests/unit/test_schemas.c'])
ordinary = '"image":{"uri":"python:3.11"},"timeout":600,"resourceLimits":{"cpu":"500m","memory":"512Mi"}'
bodies = [d for d in unit_json if '"image"' in d or '"snapshotId"' in d or '"networkPolicy"' in d or '"volumes"' in d]
bodies += ['{' + ordinary + ',"metadata":{"project":"p"},"env":{"APP_X":"1"},"entrypoint":["python","/app/main.py"]}',
           '{' + ordinary + ',"volumes":[{"name":"d","host":{"path":"/srv/data/a"},"mountPath":"/d","readOnly":false}]}',
           '{' + ordinary + ',"networkPolicy":{"defaultAction":"deny","egress":[{"action":"allow","target":"api.example.com"}]}}',
           '{"snapshotId":"snap-1","timeout":60}', '{' + ordinary + ',"extensions":{"a":"1"},"secureAccess":false}']
for b in bodies:
    for sel in (0, 1, 2):
        put('create', bytes([sel]) + b.encode())
for b in ['{"project":"p","team":null}', '{"a":"1","b":"2","c":"3","d":"4"}']:
    for sel in (3, 4, 5):
        put('create', bytes([sel]) + b.encode())
for b in ['{"defaultAction":"deny","egress":[{"action":"allow","target":"*.example.com"}]}', '{"egress":[]}']:
    for sel in (6, 7, 8):
        put('create', bytes([sel]) + b.encode())

# backend_json: 0 snapshot create body, 1 Snapshot answer, 2 Sandbox answer, 3 Endpoint answer
for b in ['{}', '{"name":"nightly"}', '{"name":""}', '{"name":"a;b=c"}', '{"sandboxId":"%s"}' % UUID]:
    put('backend_json', b'\x00' + b.encode())
for b in ['{"id":"snap-1","name":"sandgate.io/tenant=acme-1;nightly","sandboxId":"%s","status":{"state":"Ready"}}' % UUID,
          '{"id":"snap-2","name":"sandgate.io/tenant=acme-1;"}', '{"id":"snap-3","name":"plain"}']:
    put('backend_json', b'\x01' + b.encode())
for b in ['{"id":"%s","image":{"uri":"python:3.11"},"status":{"state":"Running"},"metadata":{"sandgate.io/tenant":"acme-1",'
          '"project":"p"},"expiresAt":"2027-01-01T00:00:00Z","createdAt":"2026-12-01T06:00:00.123Z"}' % UUID,
          '{"id":"x","metadata":null,"expiresAt":"2026-13-40T99:99:99+25:00"}']:
    put('backend_json', b'\x02' + b.encode())
for b in ['{"endpoint":"127.0.0.1:40123/proxy/8080","headers":{"X-Token":"t"}}', '{"endpoint":"http://[::1]:8080/"}',
          '{"endpoint":"https://sandbox-1.internal:443/p/","headers":{"a":"b","c":"d"}}', '{"endpoint":"host.example"}']:
    put('backend_json', b'\x03' + b.encode())

# httpclient: flags (bit 0 HEAD, bits 1-3 piece size, bit 4 small buffer) + response
responses = ['HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
             'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n',
             'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabc',
             'HTTP/1.1 204 No Content\r\n\r\n', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n',
             'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n\x81\x00',
             'HTTP/1.0 200 OK\r\n\r\nbody until close', 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nrest',
             'HTTP/1.1 404 Not Found\r\nContent-Length: 41\r\n\r\n{"code":"NOT_FOUND","message":"no sandbox"}',
             'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n\r\n', 'HTTP/1.1 999 X\r\n\r\n']
for r in responses:
    for flags in (0x00, 0x02, 0x11, 0x1a):
        put('httpclient', bytes([flags]) + r.encode('latin-1'))

# tenant_json
for d in unit_json:
    if '"image"' not in d:
        put('tenant_json', d)
put('tenant_json', '{"id":"t-1","name":"T","keys":[{"hash":"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",'
    '"name":"k","expires_at":"2027-01-01T00:00:00Z"}],"backend_labels":{"zone":"b"},"policy":{"max_sandboxes":3,'
    '"endpoint_form":"host","renew_on_access":"10m"},"admission":{"max_metadata_keys":2,"env_allow":["A*"]}}')

# config: shipped configs and the YAML configs of the unit tests
for f in glob.glob(os.path.join(ROOT, 'conf', '*.yaml')):
    put('config', read(f))
for f in ['tests/unit/test_config.c', 'tests/unit/test_admission.c', 'tests/unit/test_port_token.c', 'tests/unit/test_tenancy.c',
          'tests/unit/test_ratelimit.c', 'tests/unit/test_plugins.c']:
    if os.path.exists(os.path.join(ROOT, f)):
        for s in c_literals(read(f)):
            if s.startswith('listen:') or ('\n' in s and ':' in s and s.count('\n') >= 3):
                put('config', s)

# port_token: mode 0 (a token as is) and mode 1 (fields: tenant, id, expiry, port, position, xor)
for t in ['sgt1.k1.YWNtZS0x.8080.' + 'A' * 43, 'sgt1.k0.YWNtZS0x.8080.' + 'x' * 43, 'k0123456789ab', 'sgt1....']:
    put('port_token', b'\x00' + t.encode())
for tenant, sid, exp in [(b'acme-1', UUID.encode(), b'1abcdef'), (b'a', b's', b'0'), (b'x' * 128, b'sbx-1', b'zzzzzzzzzzzz')]:
    put('port_token', b'\x01' + bytes([len(tenant)]) + tenant + bytes([len(sid)]) + sid + bytes([len(exp)]) + exp + b'\x1f\x90\x05\x01')

# cookies: stop-after byte + Cookie header values, one per line
for c in ['app=1; sg_access=1abcdef-k0123456789a; other=2', 'sg_access=1abcdef-k0123456789a',
          ' a = b ;;c=;d; =e\nf=g\t ', 'x=1\ny=2; z=3', 'sg_access=; sg_access=zz-x;']:
    for stop in (0, 1, 2):
        put('cookies', bytes([stop]) + c.encode())

# urlenc_headers: flags + "path\nhost\nname: value..." ("!" marks an extra header)
for p in paths[:40]:
    put('urlenc_headers', b'\x00' + p.encode() + b'\nsandbox.example.com:8443\nuser-agent: node\naccept: */*\n')
for h in ['/x?a=1&b=%20&c\nh\nconnection: keep-alive, x-drop\nx-drop: 1\nx-keep: 2\ntransfer-encoding: chunked\n'
          'content-length: 5\nhost: evil\nx-forwarded-for: 1.2.3.4\n!x-sandgate-endpoint: e\nauthorization: secret\n',
          '/\nh\nupgrade: websocket\nte: trailers\n!host: inner\n', '/a%2Fb?q=%ZZ&&=&x==\nh:1\n']:
    for flags in (0, 3, 4):
        put('urlenc_headers', bytes([flags]) + h.encode())

for t in sorted(os.listdir(OUT)):
    n = len(os.listdir(os.path.join(OUT, t)))
    print('%-16s %4d seeds' % (t, n))
