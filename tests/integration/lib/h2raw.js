'use strict';
// A raw HTTP/2 client for abuse tests: writes frames as given (floods, resets, endless header
// blocks) over TLS with ALPN h2, and reads back the frame types the server sends (GOAWAY with its
// error code, RST_STREAM counts). Node's http2 module cannot be made to misbehave, hence this.
// Header blocks use HPACK literals without indexing and no Huffman coding (RFC 7541 6.2.2), which
// every decoder accepts.

const tls = require('node:tls');

const TYPE = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, CONTINUATION: 9 };
const FLAG = { END_STREAM: 0x1, END_HEADERS: 0x4 };
const ERROR = { CANCEL: 8, ENHANCE_YOUR_CALM: 11, REFUSED_STREAM: 7 };
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

function frame(type, flags, streamId, payload) {
  const p = payload || Buffer.alloc(0);
  const b = Buffer.alloc(9 + p.length);
  b.writeUIntBE(p.length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(streamId, 5);
  p.copy(b, 9);
  return b;
}

function literal(name, value) {
  const n = Buffer.from(name);
  const v = Buffer.from(value);
  if (n.length > 126 || v.length > 126) throw new Error('literal: keep names and values under 127 bytes');
  return Buffer.concat([Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v]);
}

// A request header block: method GET or POST (static table entries 2 and 3), scheme https (7).
function headerBlock(method, path, authority, extra) {
  const parts = [Buffer.from([method === 'POST' ? 0x83 : 0x82, 0x87]), literal(':path', path), literal(':authority', authority)];
  for (const [k, v] of Object.entries(extra || {})) parts.push(literal(k, v));
  return Buffer.concat(parts);
}

function rstStream(streamId, code) {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code, 0);
  return frame(TYPE.RST_STREAM, 0, streamId, p);
}

// Connects, sends the preface and an empty SETTINGS. Resolves a client:
//   write(buf) -> Promise (waits for 'drain', or resolves false if the connection closed)
//   pause()/resume() stop and restart reading (a client that does not read its ACKs)
//   frames: counts by frame type; goaway: error code of the first GOAWAY, or null; closed: bool
//   waitClosed(ms) -> Promise<bool>; destroy()
function connect(port, opts) {
  const o = Object.assign({ host: '127.0.0.1', servername: 'localhost', ca: undefined }, opts || {});
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: o.host, port, ALPNProtocols: ['h2'], servername: o.servername, ca: o.ca, rejectUnauthorized: !!o.ca }, () => {
      if (s.alpnProtocol !== 'h2') return reject(new Error(`ALPN chose ${s.alpnProtocol}, not h2`));
      s.write(Buffer.concat([PREFACE, frame(TYPE.SETTINGS, 0, 0)]));
      resolve(client);
    });
    s.setMaxListeners(0);
    let buf = Buffer.alloc(0);
    const client = {
      socket: s, frames: {}, goaway: null, closed: false, bytesIn: 0,
      write(b) {
        if (client.closed) return Promise.resolve(false);
        if (s.write(b)) return Promise.resolve(true);
        return new Promise((r) => {
          const done = (v) => { s.off('drain', onDrain); s.off('close', onClose); r(v); };
          const onDrain = () => done(true);
          const onClose = () => done(false);
          s.on('drain', onDrain);
          s.on('close', onClose);
        });
      },
      pause() { s.pause(); },
      resume() { s.resume(); },
      waitClosed(ms) {
        if (client.closed) return Promise.resolve(true);
        return new Promise((r) => {
          const t = setTimeout(() => r(false), ms);
          s.once('close', () => { clearTimeout(t); r(true); });
        });
      },
      destroy() { s.destroy(); },
    };
    s.on('data', (d) => {
      client.bytesIn += d.length;
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3];
        client.frames[type] = (client.frames[type] || 0) + 1;
        if (type === TYPE.GOAWAY && client.goaway === null) client.goaway = buf.readUInt32BE(9 + 4);
        buf = buf.subarray(9 + len);
      }
    });
    s.on('error', () => {});
    s.on('close', () => { client.closed = true; });
  });
}

module.exports = { TYPE, FLAG, ERROR, frame, literal, headerBlock, rstStream, connect };
