'use strict';
// Request validation for the lifecycle API, following sandbox-lifecycle.yml and the
// checks the real OpenSandbox server (Docker runtime) performs. Every failure becomes
// HTTP 400 with an ErrorResponse body {code, message}.

const { isPlainObject, parseDateTime } = require('./util');

const RESERVED_PREFIX = 'opensandbox.io/';
const DNS_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS_SUBDOMAIN_RE = new RegExp(`^(?:${DNS_LABEL}\\.)*${DNS_LABEL}$`);
const LABEL_NAME_RE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE_RE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
const VOLUME_NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const STORAGE_RE = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const HOST_PATH_RE = /^(\/|[A-Za-z]:[\\/])/;

class ValidationError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code || 'SANDBOX::INVALID_PARAMETER';
    this.status = 400;
  }
}

function fail(msg, code) { throw new ValidationError(msg, code); }

function checkStringMap(v, field, allowNull) {
  if (!isPlainObject(v)) fail(`${field} must be an object of strings`);
  for (const [k, val] of Object.entries(v)) {
    if (typeof val === 'string') continue;
    if (allowNull && val === null) continue;
    fail(`${field}.${k} must be a string`);
  }
}

function checkNoExtra(obj, allowed, field) {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) fail(`${field}: unknown property '${k}'`);
  }
}

function isValidLabelKey(key) {
  let name = key;
  if (key.includes('/')) {
    const idx = key.indexOf('/');
    const prefix = key.slice(0, idx);
    name = key.slice(idx + 1);
    if (!prefix || !name) return false;
    if (prefix.length > 253 || !DNS_SUBDOMAIN_RE.test(prefix)) return false;
  }
  return name.length <= 63 && LABEL_NAME_RE.test(name);
}

function isValidLabelValue(value) {
  return value.length <= 63 && LABEL_VALUE_RE.test(value);
}

// Kubernetes label rules, as the real server's ensure_metadata_labels.
function checkMetadataLabels(md, reservedCode) {
  for (const [key, value] of Object.entries(md)) {
    if (key.startsWith(RESERVED_PREFIX)) {
      fail(`Metadata key '${key}' uses the reserved prefix '${RESERVED_PREFIX}'. Keys under this prefix are managed by the system and cannot be set via metadata.`,
        reservedCode || 'SANDBOX::INVALID_METADATA_LABEL');
    }
    if (!isValidLabelKey(key)) {
      fail(`Metadata key '${key}' is invalid: must be a name or a DNS-subdomain prefix and name separated by /, where the name is up to 63 characters and matches [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?.`,
        'SANDBOX::INVALID_METADATA_LABEL');
    }
    if (value !== null && !isValidLabelValue(value)) {
      fail(`Metadata value '${value}' is invalid: must be 63 characters or less, start/end with an alphanumeric character, and contain only alphanumeric, '-', '_', or '.' characters.`,
        'SANDBOX::INVALID_METADATA_LABEL');
    }
  }
}

function checkPlatform(p, field) {
  if (!isPlainObject(p)) fail(`${field} must be an object`);
  checkNoExtra(p, ['os', 'arch'], field);
  if (!['linux', 'windows'].includes(p.os)) fail(`${field}.os must be one of linux, windows`);
  if (!['amd64', 'arm64'].includes(p.arch)) fail(`${field}.arch must be one of amd64, arm64`);
}

function checkImage(img) {
  if (!isPlainObject(img)) fail('image must be an object');
  checkNoExtra(img, ['uri', 'auth'], 'image');
  if (typeof img.uri !== 'string') fail('image.uri is required and must be a string');
  if (img.auth !== undefined && img.auth !== null) {
    if (!isPlainObject(img.auth)) fail('image.auth must be an object');
    checkNoExtra(img.auth, ['username', 'password'], 'image.auth');
    for (const k of ['username', 'password']) {
      if (img.auth[k] !== undefined && typeof img.auth[k] !== 'string') fail(`image.auth.${k} must be a string`);
    }
  }
}

function checkNetworkPolicy(np) {
  if (!isPlainObject(np)) fail('networkPolicy must be an object');
  checkNoExtra(np, ['defaultAction', 'egress'], 'networkPolicy');
  if (np.defaultAction !== undefined && !['allow', 'deny'].includes(np.defaultAction)) {
    fail('networkPolicy.defaultAction must be allow or deny');
  }
  if (np.egress !== undefined) {
    if (!Array.isArray(np.egress)) fail('networkPolicy.egress must be an array');
    np.egress.forEach((r, i) => {
      if (!isPlainObject(r)) fail(`networkPolicy.egress[${i}] must be an object`);
      checkNoExtra(r, ['action', 'target'], `networkPolicy.egress[${i}]`);
      if (!['allow', 'deny'].includes(r.action)) fail(`networkPolicy.egress[${i}].action must be allow or deny`);
      if (typeof r.target !== 'string') fail(`networkPolicy.egress[${i}].target must be a string`);
    });
  }
}

function checkVolumes(vols) {
  if (!Array.isArray(vols)) fail('volumes must be an array');
  const names = new Set();
  vols.forEach((v, i) => {
    const f = `volumes[${i}]`;
    if (!isPlainObject(v)) fail(`${f} must be an object`);
    checkNoExtra(v, ['name', 'host', 'pvc', 'ossfs', 'mountPath', 'readOnly', 'subPath'], f);
    if (typeof v.name !== 'string' || v.name.length > 63 || !VOLUME_NAME_RE.test(v.name)) {
      fail(`${f}.name must be a valid DNS label`, 'VOLUME::INVALID_NAME');
    }
    if (names.has(v.name)) fail(`duplicate volume name '${v.name}'`, 'VOLUME::DUPLICATE_NAME');
    names.add(v.name);
    if (typeof v.mountPath !== 'string' || !v.mountPath.startsWith('/')) {
      fail(`${f}.mountPath must be an absolute path`, 'VOLUME::INVALID_MOUNT_PATH');
    }
    if (v.readOnly !== undefined && typeof v.readOnly !== 'boolean') fail(`${f}.readOnly must be a boolean`);
    if (v.subPath !== undefined) {
      if (typeof v.subPath !== 'string' || v.subPath.startsWith('/') || v.subPath.split('/').includes('..')) {
        fail(`${f}.subPath must be a relative path without '..'`, 'VOLUME::INVALID_SUB_PATH');
      }
    }
    const backends = ['host', 'pvc', 'ossfs'].filter((b) => v[b] !== undefined && v[b] !== null);
    if (backends.length !== 1) {
      fail(`Exactly one backend (host, pvc, ossfs) must be specified for ${f}`, 'VOLUME::INVALID_BACKEND');
    }
    if (v.host) {
      if (!isPlainObject(v.host)) fail(`${f}.host must be an object`);
      checkNoExtra(v.host, ['path'], `${f}.host`);
      if (typeof v.host.path !== 'string' || !HOST_PATH_RE.test(v.host.path)) {
        fail(`${f}.host.path must be absolute`, 'VOLUME::INVALID_HOST_PATH');
      }
    }
    if (v.pvc) {
      const p = v.pvc;
      if (!isPlainObject(p)) fail(`${f}.pvc must be an object`);
      checkNoExtra(p, ['claimName', 'createIfNotExists', 'deleteOnSandboxTermination', 'storageClass', 'storage', 'accessModes'], `${f}.pvc`);
      if (typeof p.claimName !== 'string' || p.claimName.length > 253 || !VOLUME_NAME_RE.test(p.claimName)) {
        fail(`${f}.pvc.claimName must be a valid DNS label`, 'VOLUME::INVALID_PVC_NAME');
      }
      for (const b of ['createIfNotExists', 'deleteOnSandboxTermination']) {
        if (p[b] !== undefined && typeof p[b] !== 'boolean') fail(`${f}.pvc.${b} must be a boolean`);
      }
      if (p.storageClass != null && typeof p.storageClass !== 'string') fail(`${f}.pvc.storageClass must be a string`);
      if (p.storage != null && (typeof p.storage !== 'string' || !STORAGE_RE.test(p.storage))) fail(`${f}.pvc.storage is invalid`);
      if (p.accessModes != null && (!Array.isArray(p.accessModes) || p.accessModes.some((m) => typeof m !== 'string'))) {
        fail(`${f}.pvc.accessModes must be an array of strings`);
      }
    }
    if (v.ossfs) {
      const o = v.ossfs;
      if (!isPlainObject(o)) fail(`${f}.ossfs must be an object`);
      checkNoExtra(o, ['bucket', 'endpoint', 'version', 'options', 'accessKeyId', 'accessKeySecret'], `${f}.ossfs`);
      if (typeof o.bucket !== 'string' || o.bucket.length < 3 || o.bucket.length > 63) fail(`${f}.ossfs.bucket is invalid`, 'VOLUME::INVALID_OSSFS_BUCKET');
      if (typeof o.endpoint !== 'string' || !o.endpoint) fail(`${f}.ossfs.endpoint is invalid`, 'VOLUME::INVALID_OSSFS_ENDPOINT');
      if (o.version !== undefined && !['1.0', '2.0'].includes(o.version)) fail(`${f}.ossfs.version is invalid`, 'VOLUME::INVALID_OSSFS_VERSION');
      if (o.options !== undefined && (!Array.isArray(o.options) || o.options.some((x) => typeof x !== 'string'))) fail(`${f}.ossfs.options is invalid`, 'VOLUME::INVALID_OSSFS_OPTION');
      if (typeof o.accessKeyId !== 'string' || !o.accessKeyId || typeof o.accessKeySecret !== 'string' || !o.accessKeySecret) {
        fail(`${f}.ossfs credentials are required`, 'VOLUME::INVALID_OSSFS_CREDENTIALS');
      }
    }
  });
}

// Validates a CreateSandboxRequest. Returns a normalized copy.
// opts: {maxTimeoutSeconds}
function validateCreate(body, opts) {
  if (!isPlainObject(body)) fail('request body must be a JSON object');
  const b = body;
  const ext = b.extensions;
  if (ext !== undefined && ext !== null) checkStringMap(ext, 'extensions');
  if (ext && typeof ext.poolRef === 'string' && ext.poolRef.trim()) {
    fail('poolRef is not supported by the Docker provider. Use Kubernetes BatchSandbox provider instead.', 'SANDBOX::UNSUPPORTED_POOL_REF');
  }
  if (b.image !== undefined && b.image !== null) checkImage(b.image);
  if (b.snapshotId !== undefined && b.snapshotId !== null && typeof b.snapshotId !== 'string') fail('snapshotId must be a string');
  const hasImage = !!(b.image && b.image.uri && b.image.uri.trim());
  const hasSnapshot = !!(typeof b.snapshotId === 'string' && b.snapshotId.trim());
  if (hasImage === hasSnapshot) fail('Exactly one of image or snapshotId must be provided.');
  if (b.entrypoint !== undefined && b.entrypoint !== null) {
    if (!Array.isArray(b.entrypoint) || b.entrypoint.some((x) => typeof x !== 'string')) fail('entrypoint must be an array of strings');
    if (b.entrypoint.length < 1) fail('Entrypoint must contain at least one command.', 'DOCKER::INVALID_ENTRYPOINT');
  }
  if (hasImage && !(Array.isArray(b.entrypoint) && b.entrypoint.length)) fail('Entrypoint is required when image is provided.');
  if (b.platform !== undefined && b.platform !== null) checkPlatform(b.platform, 'platform');
  if (b.timeout !== undefined && b.timeout !== null) {
    if (typeof b.timeout !== 'number' || !Number.isInteger(b.timeout)) fail('timeout must be an integer or null');
    if (b.timeout < 60) fail('timeout must be greater than or equal to 60');
    if (opts && opts.maxTimeoutSeconds && b.timeout > opts.maxTimeoutSeconds) {
      fail(`Sandbox timeout ${b.timeout}s exceeds configured maximum of ${opts.maxTimeoutSeconds}s.`);
    }
  }
  if (b.resourceLimits === undefined || b.resourceLimits === null) fail('resourceLimits is required when poolRef is not provided.');
  checkStringMap(b.resourceLimits, 'resourceLimits');
  if (b.env !== undefined && b.env !== null) checkStringMap(b.env, 'env', true);
  if (b.metadata !== undefined && b.metadata !== null) {
    checkStringMap(b.metadata, 'metadata');
    checkMetadataLabels(b.metadata);
  }
  if (b.networkPolicy !== undefined && b.networkPolicy !== null) checkNetworkPolicy(b.networkPolicy);
  if (b.credentialProxy !== undefined && b.credentialProxy !== null) {
    if (!isPlainObject(b.credentialProxy)) fail('credentialProxy must be an object');
    checkNoExtra(b.credentialProxy, ['enabled'], 'credentialProxy');
    if (b.credentialProxy.enabled !== undefined && typeof b.credentialProxy.enabled !== 'boolean') fail('credentialProxy.enabled must be a boolean');
    if (b.credentialProxy.enabled && !b.networkPolicy) fail('credentialProxy.enabled requires networkPolicy.');
  }
  if (b.secureAccess !== undefined && b.secureAccess !== null && typeof b.secureAccess !== 'boolean') fail('secureAccess must be a boolean');
  if (b.secureAccess === true) {
    fail("secureAccess is not supported when runtime.type='docker'. Use the Kubernetes runtime to create secured sandboxes.");
  }
  if (b.volumes !== undefined && b.volumes !== null) checkVolumes(b.volumes);
  if (ext && ext['access.renew.extend.seconds'] !== undefined) {
    const raw = ext['access.renew.extend.seconds'];
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(n >= 300 && n <= 86400)) {
      fail("extensions['access.renew.extend.seconds'] must be a decimal integer between 300 and 86400");
    }
  }
  return {
    image: hasImage ? { uri: b.image.uri } : undefined,
    snapshotId: hasSnapshot ? b.snapshotId : undefined,
    entrypoint: Array.isArray(b.entrypoint) && b.entrypoint.length ? b.entrypoint.slice() : undefined,
    platform: b.platform || undefined,
    timeout: b.timeout === undefined ? null : b.timeout,
    resourceLimits: Object.assign({}, b.resourceLimits),
    env: Object.fromEntries(Object.entries(b.env || {}).filter(([, v]) => v !== null)),
    metadata: Object.assign({}, b.metadata || {}),
    extensions: Object.assign({}, ext || {}),
    // kept for /_sim/state only (what reached the backend: tests of the gateway's admission)
    volumes: Array.isArray(b.volumes) ? JSON.parse(JSON.stringify(b.volumes)) : undefined,
    networkPolicy: isPlainObject(b.networkPolicy) ? JSON.parse(JSON.stringify(b.networkPolicy)) : undefined,
  };
}

// Validates a PatchSandboxMetadataRequest (JSON Merge Patch of string|null values).
function validateMetadataPatch(body) {
  if (!isPlainObject(body)) fail('request body must be a JSON object (JSON Merge Patch)');
  for (const [k, v] of Object.entries(body)) {
    if (k.startsWith(RESERVED_PREFIX)) {
      fail(`Metadata key '${k}' is reserved (opensandbox.io/ prefix).`, 'INVALID_METADATA_LABEL');
    }
    if (v !== null && typeof v !== 'string') fail(`metadata value for '${k}' must be a string or null`);
  }
  const additions = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null));
  checkMetadataLabels(additions, 'INVALID_METADATA_LABEL');
  return body;
}

function validateRenew(body) {
  if (!isPlainObject(body)) fail('request body must be a JSON object');
  checkNoExtra(body, ['expiresAt'], 'body');
  if (typeof body.expiresAt !== 'string') fail('expiresAt is required (RFC 3339 date-time)');
  const t = parseDateTime(body.expiresAt);
  if (!Number.isFinite(t)) fail('expiresAt must be an RFC 3339 date-time');
  return t;
}

function validateCreateSnapshot(body) {
  if (body === undefined || body === null) return {};
  if (!isPlainObject(body)) fail('request body must be a JSON object');
  checkNoExtra(body, ['name'], 'body');
  if (body.name !== undefined && body.name !== null && (typeof body.name !== 'string' || body.name.length < 1)) {
    fail('name must be a non-empty string');
  }
  return { name: body.name || undefined };
}

module.exports = {
  ValidationError, validateCreate, validateMetadataPatch, validateRenew, validateCreateSnapshot,
  RESERVED_PREFIX,
};
