'use strict';
// Throw-away TLS material for host-form tests: a CA, a server certificate for the gateway's main
// name (IP 127.0.0.1, IP ::1, DNS localhost) and a wildcard certificate for `*.{domain}` (the
// `ports.sandbox_domain` of issue 10's host form), all ECDSA P-256, made with the openssl CLI.
//
//   const { makeCerts } = require('./lib/certs');
//   const c = await makeCerts(dir, { domain: 'sandbox.test' });
//   // c.ca, c.cert, c.key, c.wildCert, c.wildKey: file paths in dir
//   listen: [{ address, tls: { certificates: [{ cert: c.cert, key: c.key }, { cert: c.wildCert, key: c.wildKey }] } }]
//   curl --cacert c.ca --resolve "{id}-{port}.sandbox.test:PORT:127.0.0.1" https://{id}-{port}.sandbox.test:PORT/
//
// The gateway picks the wildcard certificate by SNI. spkiHash(certFile) gives the base64 SHA-256 of
// a certificate's public key, the form Chromium's --ignore-certificate-errors-spki-list takes.
// Every openssl run is bounded (30 s).

const { execFile } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

function openssl(args, cwd) {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 30000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`openssl ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

// A P-256 key in PEM (PKCS#8), readable by the owner only.
async function newKey(file, cwd) {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], cwd);
  fs.chmodSync(path.join(cwd, file), 0o600);
}

// Leaf certificate NAME.crt/NAME.key signed by ca.crt for the subjectAltName list `san`.
async function issue(dir, name, cn, san) {
  await newKey(`${name}.key`, dir);
  fs.writeFileSync(path.join(dir, `${name}.ext`),
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n'
    + `subjectAltName=${san}\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n`);
  await openssl(['req', '-new', '-key', `${name}.key`, '-subj', `/O=sandgate/CN=${cn}`, '-out', `${name}.csr`], dir);
  await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key',
    '-set_serial', '0x' + crypto.randomBytes(16).toString('hex'), '-days', '30', '-sha256',
    '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
  await openssl(['verify', '-CAfile', 'ca.crt', `${name}.crt`], dir);
}

// Makes (or overwrites) dir/{ca,server,wildcard}.{crt,key}. domain: the host-form base; the
// wildcard certificate covers `*.{domain}` (one label: `{id}-{port}.{domain}`).
// Resolves {ca, cert, key, wildCert, wildKey, caKey, dir, domain} (absolute file paths).
async function makeCerts(dir, opts) {
  const domain = (opts && opts.domain) || 'sandbox.test';
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(domain)) throw new Error(`makeCerts: bad domain ${domain}`);
  fs.mkdirSync(dir, { recursive: true });
  const d = path.resolve(dir);
  await newKey('ca.key', d);
  await openssl(['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '30',
    '-subj', '/O=sandgate/CN=sandgate test CA (ECDSA)',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-addext', 'subjectKeyIdentifier=hash', '-out', 'ca.crt'], d);
  await issue(d, 'server', 'localhost', 'IP:127.0.0.1,IP:::1,DNS:localhost');
  await issue(d, 'wildcard', `*.${domain}`, `DNS:*.${domain}`);
  return {
    dir: d,
    domain,
    ca: path.join(d, 'ca.crt'),
    caKey: path.join(d, 'ca.key'),
    cert: path.join(d, 'server.crt'),
    key: path.join(d, 'server.key'),
    wildCert: path.join(d, 'wildcard.crt'),
    wildKey: path.join(d, 'wildcard.key'),
  };
}

// base64(SHA-256(SubjectPublicKeyInfo DER)) of a PEM certificate file.
function spkiHash(certFile) {
  const cert = new crypto.X509Certificate(fs.readFileSync(certFile));
  const der = cert.publicKey.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(der).digest('base64');
}

module.exports = { makeCerts, spkiHash };
