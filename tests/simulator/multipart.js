'use strict';
// Minimal streaming multipart/form-data parser (bounded memory: part bodies are handed to
// the caller chunk by chunk).

function boundaryFrom(contentType) {
  if (!contentType) return null;
  const m = /^multipart\/form-data\s*;(.*)$/i.exec(contentType.trim());
  if (!m) return null;
  const b = /boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(m[1]);
  return b ? (b[1] || b[2]) : null;
}

function parseHeaders(text) {
  const headers = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const cd = headers['content-disposition'] || '';
  const name = /\bname\s*=\s*"([^"]*)"/i.exec(cd) || /\bname\s*=\s*([^;\s]+)/i.exec(cd);
  const filename = /\bfilename\s*=\s*"([^"]*)"/i.exec(cd) || /\bfilename\s*=\s*([^;\s]+)/i.exec(cd);
  return { headers, name: name ? name[1] : null, filename: filename ? filename[1] : null };
}

class MultipartParser {
  // handlers: {onPart(info) -> sink {write(buf), end()}}
  constructor(boundary, handlers) {
    this.delim = Buffer.from('\r\n--' + boundary);
    this.first = Buffer.from('--' + boundary);
    this.handlers = handlers;
    this.buf = Buffer.alloc(0);
    this.state = 'preamble';
    this.sink = null;
    this.done = false;
  }

  write(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    this.process();
  }

  process() {
    for (;;) {
      if (this.state === 'preamble') {
        const i = this.buf.indexOf(this.first);
        if (i < 0) {
          if (this.buf.length > this.first.length) this.buf = this.buf.subarray(this.buf.length - this.first.length);
          return;
        }
        this.buf = this.buf.subarray(i + this.first.length);
        this.state = 'after-boundary';
      } else if (this.state === 'after-boundary') {
        if (this.buf.length < 2) return;
        if (this.buf[0] === 0x2d && this.buf[1] === 0x2d) { this.state = 'end'; this.done = true; return; }
        const i = this.buf.indexOf('\r\n');
        if (i < 0) return;
        this.buf = this.buf.subarray(i + 2);
        this.state = 'headers';
      } else if (this.state === 'headers') {
        const i = this.buf.indexOf('\r\n\r\n');
        if (i < 0) {
          if (this.buf.length > 64 * 1024) throw new Error('multipart part headers too large');
          return;
        }
        const info = parseHeaders(this.buf.subarray(0, i).toString('utf8'));
        this.buf = this.buf.subarray(i + 4);
        this.sink = this.handlers.onPart(info);
        this.state = 'body';
      } else if (this.state === 'body') {
        const i = this.buf.indexOf(this.delim);
        if (i < 0) {
          const keep = this.delim.length - 1;
          if (this.buf.length > keep) {
            this.sink.write(this.buf.subarray(0, this.buf.length - keep));
            this.buf = Buffer.from(this.buf.subarray(this.buf.length - keep));
          }
          return;
        }
        if (i > 0) this.sink.write(this.buf.subarray(0, i));
        this.sink.end();
        this.sink = null;
        this.buf = this.buf.subarray(i + this.delim.length);
        this.state = 'after-boundary';
      } else {
        return;
      }
    }
  }

  end() {
    if (!this.done) throw new Error('multipart body ended before the closing boundary');
  }
}

module.exports = { MultipartParser, boundaryFrom };
