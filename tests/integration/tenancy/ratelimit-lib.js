'use strict';
// Helpers of the rate-limit tests: a strict parser of the draft-ietf-httpapi-ratelimit-headers
// fields (RFC 8941 lists of items: a string with integer parameters), header counting on the raw
// header list (Node folds repeated fields, or keeps only one Retry-After), and a gateway with the
// rate-limit plugin after key-auth. RL_IT_NO_PLUGIN=1 leaves the plugin out of the chain: every
// test must then fail (the check that the tests can fail).

const T = require('../lib/tenancy');

// `"name";k=1;k2=2, "other";k=3` -> [{name, params: {k: 1, k2: 2}}, ...]; throws on anything else.
function parseSfList(value) {
  if (typeof value !== 'string' || value.length === 0) throw new Error(`not a structured-field list: ${JSON.stringify(value)}`);
  const items = [];
  let i = 0;
  const fail = (why) => { throw new Error(`bad structured field (${why}) at ${i}: ${JSON.stringify(value)}`); };
  for (;;) {
    if (value[i] !== '"') fail('item is not a string');
    const end = value.indexOf('"', i + 1);
    if (end < 0) fail('unterminated string');
    const name = value.slice(i + 1, end);
    if (!/^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/.test(name)) fail('string characters');
    i = end + 1;
    const params = {};
    while (value[i] === ';') {
      const m = /^;([a-z*][a-z0-9_.*-]*)=(-?\d{1,15})/.exec(value.slice(i));
      if (!m) fail('parameter');
      if (m[1] in params) fail('repeated parameter');
      params[m[1]] = Number(m[2]);
      i += m[0].length;
    }
    items.push({ name, params });
    if (i === value.length) return items;
    if (value.slice(i, i + 2) !== ', ') fail('list separator');
    i += 2;
  }
}

// How many times the response carries the field (case-insensitive), from the raw header list.
function fieldCount(r, name) {
  let n = 0;
  for (let i = 0; i < r.rawHeaders.length; i += 2) if (r.rawHeaders[i].toLowerCase() === name) n++;
  return n;
}

function field(r, name) {
  for (let i = 0; i < r.rawHeaders.length; i += 2) if (r.rawHeaders[i].toLowerCase() === name) return r.rawHeaders[i + 1];
  return undefined;
}

const withoutPlugin = process.env.RL_IT_NO_PLUGIN === '1';

// The plugin chain: request-id, key-auth, rate-limit (config), on every route but health and admin.
function rlPlugins(config) {
  return T.tenancyPlugins(withoutPlugin ? [] : [{ name: 'rate-limit', config }]);
}

// Waits until the wall clock is at least marginMs away from the end of a window of windowMs (counts are
// per window; a test that must not see a window change starts early enough in one).
async function awayFromWindowEnd(windowMs, marginMs) {
  for (;;) {
    const left = windowMs - (Date.now() % windowMs);
    if (left > marginMs) return;
    await new Promise((r) => setTimeout(r, left + 5));
  }
}

// Sends n requests through fn at once (or `concurrency` at a time); resolves the responses in order.
async function burst(n, fn, concurrency) {
  const out = new Array(n);
  let next = 0;
  const c = concurrency || n;
  await Promise.all(Array.from({ length: Math.min(c, n) }, async () => {
    while (next < n) { const i = next++; out[i] = await fn(i); }
  }));
  return out;
}

const statusCount = (rs) => rs.reduce((m, r) => { m[r.status] = (m[r.status] || 0) + 1; return m; }, {});

module.exports = { parseSfList, fieldCount, field, rlPlugins, withoutPlugin, awayFromWindowEnd, burst, statusCount };
