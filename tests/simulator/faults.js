'use strict';
// Fault injection for the main (lifecycle) port, plus the request log the control API exposes.

const { sendJson, sendError, sleep, isPlainObject } = require('./util');

const DEFAULTS = {
  latencyMs: 0,          // added before answering every main-port request except /_sim/*
  responseLatencyMs: 0,  // lifecycle requests: added after the request took effect, before its response is sent
  errorRate: 0,          // 0..1 probability of a JSON 5xx on lifecycle routes (/v1/* and unprefixed)
  errorStatus: 500,      // status used for injected errors
  errorCount: 0,         // the next N lifecycle requests fail (deterministic; decremented)
  resetRate: 0,          // 0..1 probability of destroying the connection without any response
  healthStatus: 200,     // status of GET /health (non-200 -> {"status":"unhealthy"})
  provisionFailure: false, // new sandboxes go Pending -> Failed instead of Running
};

class Faults {
  constructor() {
    Object.assign(this, DEFAULTS);
  }

  toJSON() {
    const out = {};
    for (const k of Object.keys(DEFAULTS)) out[k] = this[k];
    return out;
  }

  // Merges a patch; a null value resets that field to its default. Returns an error string or null.
  update(patch) {
    if (!isPlainObject(patch)) return 'body must be a JSON object';
    for (const [k, v] of Object.entries(patch)) {
      if (!(k in DEFAULTS)) return `unknown fault '${k}'`;
      if (v === null) { this[k] = DEFAULTS[k]; continue; }
      const def = DEFAULTS[k];
      if (typeof def === 'boolean') {
        if (typeof v !== 'boolean') return `${k} must be a boolean`;
      } else if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        return `${k} must be a non-negative number`;
      }
      if ((k === 'errorRate' || k === 'resetRate') && v > 1) return `${k} must be within 0..1`;
      if ((k === 'errorStatus' || k === 'healthStatus') && (v < 100 || v > 599)) return `${k} must be an HTTP status`;
      this[k] = v;
    }
    return null;
  }

  reset() {
    Object.assign(this, DEFAULTS);
  }

  // Added latency (every main-port request except /_sim/*).
  async delay() {
    if (this.latencyMs > 0) await sleep(this.latencyMs);
  }

  // Holds back the response of a lifecycle request that has been processed (a create exists on the
  // backend even if the client is gone by the time the answer would be sent).
  delayResponse(res) {
    if (!(this.responseLatencyMs > 0)) return;
    const ms = this.responseLatencyMs;
    const end = res.end.bind(res);
    res.end = (...args) => { setTimeout(() => { if (!res.destroyed) end(...args); }, ms); return res; };
  }

  // Connection-reset and error faults for lifecycle routes. Returns true if the request was
  // answered (or dropped) by a fault and must not be processed further.
  inject(req, res) {
    if (this.resetRate > 0 && Math.random() < this.resetRate) {
      req.socket.destroy();
      return true;
    }
    let fail = false;
    if (this.errorCount > 0) {
      this.errorCount -= 1;
      fail = true;
    } else if (this.errorRate > 0 && Math.random() < this.errorRate) {
      fail = true;
    }
    if (fail) {
      req.resume();
      sendError(res, this.errorStatus, 'SANDBOX::UNKNOWN_ERROR', 'Simulated server error (fault injection).');
      return true;
    }
    return false;
  }

  health(res) {
    if (this.healthStatus === 200) sendJson(res, 200, { status: 'healthy' });
    else sendJson(res, this.healthStatus, { status: 'unhealthy' });
  }
}

// Ring buffer of recent main-port requests, for tests that assert what a gateway forwarded.
class RequestLog {
  constructor(max) {
    this.max = max || 1000;
    this.items = [];
    this.seq = 0;
  }

  record(req) {
    const entry = {
      seq: ++this.seq,
      time: new Date().toISOString(),
      method: req.method,
      url: req.url,
      headers: Object.assign({}, req.headers),
      status: null,
    };
    this.items.push(entry);
    if (this.items.length > this.max) this.items.shift();
    return entry;
  }

  clear() {
    this.items = [];
  }
}

module.exports = { Faults, RequestLog };
