'use strict';
// A renderer for the subset of kustomize that deploy/kubernetes uses, so that
// make deploy-check can render the overlays without kubectl (not packaged by
// Debian): `resources` (files and directories), `configMapGenerator` (files,
// literals; behavior create | replace | merge) with
// `generatorOptions.disableNameSuffixHash: true`, and `patches` given by `path`
// as strategic-merge patches (maps merge, `null` deletes a key, the lists below
// merge by their key, `$patch: delete` removes the object). Any other key of a
// kustomization is an error: a manifest change that needs more kustomize fails
// the check instead of rendering wrongly. When kubectl is installed, check.js
// also compares this rendering with `kubectl kustomize`.
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');

const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'configMapGenerator', 'generatorOptions', 'patches']);
// strategic-merge keys of the lists these manifests patch (Kubernetes' patchMergeKey)
const MERGE_KEYS = {
    containers: 'name',
    initContainers: 'name',
    volumes: 'name',
    env: 'name',
    volumeMounts: 'mountPath',
    ports: 'containerPort',
};

function readDocs(file) {
    return YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => {
        if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
        return d.toJS();
    }).filter((o) => o != null);
}

function id(o) {
    return `${o.kind}/${(o.metadata && o.metadata.namespace) || ''}/${o.metadata && o.metadata.name}`;
}

function isMap(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function mergeList(base, patch, key) {
    // as kustomize (kyaml) does: items new to the list come first, in the patch's order
    const out = base.map((x) => structuredClone(x));
    const added = [];
    for (const item of patch) {
        const i = isMap(item) ? out.findIndex((x) => isMap(x) && x[key] === item[key]) : -1;
        if (i < 0) added.push(structuredClone(item));
        else out[i] = merge(out[i], item);
    }
    return [...added, ...out];
}

// Strategic merge of patch into base (both plain objects); returns a new object.
function merge(base, patch) {
    const out = structuredClone(base);
    for (const [k, v] of Object.entries(patch)) {
        if (k === '$patch') continue;
        if (v === null) delete out[k];
        else if (Array.isArray(v) && Array.isArray(out[k]) && MERGE_KEYS[k]) out[k] = mergeList(out[k], v, MERGE_KEYS[k]);
        else if (isMap(v) && isMap(out[k])) out[k] = merge(out[k], v);
        else out[k] = structuredClone(v);
    }
    return out;
}

function generateConfigMap(dir, gen, options) {
    if (!options.disableNameSuffixHash) throw new Error(`${dir}: configMapGenerator without disableNameSuffixHash is not supported`);
    for (const k of Object.keys(gen)) {
        if (!['name', 'files', 'literals', 'behavior'].includes(k)) throw new Error(`${dir}: configMapGenerator.${k} is not supported`);
    }
    const data = {};
    for (const f of gen.files || []) {
        const [key, file] = f.includes('=') ? f.split('=', 2) : [path.basename(f), f];
        data[key] = fs.readFileSync(path.join(dir, file), 'utf8');
    }
    for (const l of gen.literals || []) {
        const i = l.indexOf('=');
        data[l.slice(0, i)] = l.slice(i + 1);
    }
    return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: gen.name }, data };
}

// Renders the kustomization in dir: an array of objects.
function render(dir) {
    const kfile = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
    if (!kfile) throw new Error(`${dir}: no kustomization.yaml`);
    const k = readDocs(kfile)[0] || {};
    for (const key of Object.keys(k)) {
        if (!SUPPORTED.has(key)) throw new Error(`${kfile}: '${key}' is not supported by tests/deploy/kustomize.js`);
    }
    let objs = [];
    for (const r of k.resources || []) {
        const p = path.join(dir, r);
        if (!fs.existsSync(p)) throw new Error(`${kfile}: resource ${r} not found`);
        objs.push(...(fs.statSync(p).isDirectory() ? render(p) : readDocs(p)));
    }
    for (const gen of k.configMapGenerator || []) {
        const cm = generateConfigMap(dir, gen, k.generatorOptions || {});
        const i = objs.findIndex((o) => id(o) === id(cm));
        const behavior = gen.behavior || 'create';
        if (behavior === 'create') {
            if (i >= 0) throw new Error(`${kfile}: ConfigMap ${gen.name} already exists (use behavior: replace or merge)`);
            objs.push(cm);
        } else if (i < 0) {
            throw new Error(`${kfile}: ConfigMap ${gen.name} to ${behavior} does not exist`);
        } else {
            objs[i] = behavior === 'replace' ? cm : merge(objs[i], cm);
        }
    }
    for (const p of k.patches || []) {
        if (typeof p.path !== 'string' || Object.keys(p).length !== 1) throw new Error(`${kfile}: only patches given by 'path' are supported`);
        for (const patch of readDocs(path.join(dir, p.path))) {
            const i = objs.findIndex((o) => id(o) === id(patch) && o.apiVersion === patch.apiVersion);
            if (i < 0) throw new Error(`${kfile}: patch ${p.path}: no ${patch.apiVersion} ${id(patch)} to patch`);
            if (patch.$patch === 'delete') objs.splice(i, 1);
            else objs[i] = merge(objs[i], patch);
        }
    }
    const seen = new Set();
    for (const o of objs) {
        if (seen.has(id(o))) throw new Error(`${kfile}: ${id(o)} defined twice`);
        seen.add(id(o));
    }
    return objs;
}

module.exports = { render, merge };

if (require.main === module) {
    const objs = render(process.argv[2] || '.');
    process.stdout.write(objs.map((o) => YAML.stringify(o)).join('---\n'));
}
