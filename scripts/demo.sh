#!/usr/bin/env bash
# sandgate demo, in the foreground: two simulated OpenSandbox servers behind one
# sandgate TLS endpoint, with two tenants (team-a, team-b) whose API keys are
# generated at each start. Ctrl-C stops everything this script started.
#
# Usage: scripts/demo.sh            (or: make demo)
#
# Files go to .demo/ (certificates, rendered config, logs, env file with the
# URL, CA and keys: `source .demo/env`).
# Environment: SANDGATE_BIN (default build/sandgate), DEMO_PUBLIC_PORT
# (first port tried for TLS, default 8443), DEMO_ADMIN_PORT (default 9901),
# DEMO_SIM_PORT (first port tried for the simulators, default 18081).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DEMO_DIR="$ROOT/.demo"
CERT_DIR="$DEMO_DIR/certs"
TEMPLATE="$ROOT/conf/demo.yaml.in"
CONF="$DEMO_DIR/demo.yaml"
SANDGATE_BIN="${SANDGATE_BIN:-$ROOT/build/sandgate}"
SIMULATOR="$ROOT/tests/simulator/server.js"

log() { echo "demo: $*"; }
die() {
    echo "demo: error: $*" >&2
    exit 1
}

# ---------------------------------------------------------------- checks
[ -x "$SANDGATE_BIN" ] || die "$SANDGATE_BIN not found: run 'make build' (or 'make demo')"
[ -f "$SIMULATOR" ] || die "$SIMULATOR not found"
[ -f "$TEMPLATE" ] || die "$TEMPLATE not found"
for cmd in node curl openssl awk; do
    command -v "$cmd" >/dev/null || die "'$cmd' not found: run scripts/install-deps.sh"
done
[ -d "$ROOT/tests/node_modules" ] || die "tests/node_modules missing: run scripts/install-deps.sh"

# ---------------------------------------------------------------- processes
pids=()
names=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "${#pids[@]}" -gt 0 ]; then
        log "stopping ${names[*]}"
        local i
        for i in "${!pids[@]}"; do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
        for _ in $(seq 50); do
            local alive=0
            for i in "${!pids[@]}"; do kill -0 "${pids[$i]}" 2>/dev/null && alive=1; done
            [ "$alive" -eq 0 ] && break
            sleep 0.1
        done
        for i in "${!pids[@]}"; do kill -KILL "${pids[$i]}" 2>/dev/null || true; done
        wait 2>/dev/null || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=lib/common.sh
source "$ROOT/scripts/lib/common.sh"

rand_hex() { openssl rand -hex "$1"; }

# gen_key: a new tenant key from `sandgate gen-key` ("key: ..." and "hash: ...");
# sets GEN_KEY and GEN_HASH.
gen_key() {
    local out
    out="$("$SANDGATE_BIN" gen-key)" || die "'$SANDGATE_BIN gen-key' failed"
    GEN_KEY="$(sed -n 's/^key: //p' <<<"$out")"
    GEN_HASH="$(sed -n 's/^hash: //p' <<<"$out")"
    [[ "$GEN_KEY" =~ ^[A-Za-z0-9_-]+$ && "$GEN_HASH" =~ ^sha256:[0-9a-f]{64}$ ]] ||
        die "unexpected output of 'sandgate gen-key'"
}

# start_sim NAME PORT KEY: starts a simulator; sets SIM_PORT to the port it
# reports in its {"event":"listening",...} line.
start_sim() {
    local name="$1" port="$2" key="$3" out="$DEMO_DIR/$1.log" line="" pid
    : >"$out"
    node "$SIMULATOR" --port "$port" --api-key "$key" --name "$name" >"$out" 2>&1 &
    pid=$!
    pids+=("$pid")
    names+=("$name")
    for _ in $(seq 100); do
        line="$(grep -m1 -E '"event" *: *"listening"' "$out" || true)"
        [ -n "$line" ] && break
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$out" >&2
            die "simulator $name exited (log: $out)"
        fi
        sleep 0.1
    done
    [ -n "$line" ] || die "simulator $name did not report listening within 10s (log: $out)"
    SIM_PORT="$(sed -E 's/.*"port" *: *([0-9]+).*/\1/' <<<"$line")"
}


# ---------------------------------------------------------------- main
mkdir -p "$DEMO_DIR"
"$ROOT/scripts/gen-certs.sh" "$CERT_DIR" >/dev/null
log "certificates in $CERT_DIR"


key_a="sim-a-$(rand_hex 16)"
key_b="sim-b-$(rand_hex 16)"
start_sim sim-a "$(free_port "${DEMO_SIM_PORT:-18081}")" "$key_a"
port_a="$SIM_PORT"
start_sim sim-b "$(free_port "${DEMO_SIM_PORT:-18081}" "$port_a")" "$key_b"
port_b="$SIM_PORT"
log "simulators: sim-a on 127.0.0.1:$port_a, sim-b on 127.0.0.1:$port_b"

public_port="$(free_port "${DEMO_PUBLIC_PORT:-8443}" "$port_a" "$port_b")"
admin_port="$(free_port "${DEMO_ADMIN_PORT:-9901}" "$port_a" "$port_b" "$public_port")"

admin_key="sgadm_$(rand_hex 24)"
admin_hash="$("$SANDGATE_BIN" hash-key "$admin_key")" || die "'$SANDGATE_BIN hash-key' failed"
[[ "$admin_hash" =~ ^sha256:[0-9a-f]{64}$ ]] || die "unexpected output of 'sandgate hash-key': $admin_hash"

# one key per tenant, new at every start
gen_key
team_a_key="$GEN_KEY" team_a_hash="$GEN_HASH"
gen_key
team_b_key="$GEN_KEY" team_b_hash="$GEN_HASH"

render "$TEMPLATE" "$CONF" \
    PUBLIC_PORT="$public_port" ADMIN_PORT="$admin_port" ADMIN_KEY_HASH="$admin_hash" \
    CERT_DIR="$CERT_DIR" DEMO_DIR="$DEMO_DIR" \
    BACKEND_A_PORT="$port_a" BACKEND_A_KEY="$key_a" \
    BACKEND_B_PORT="$port_b" BACKEND_B_KEY="$key_b" \
    TEAM_A_KEY_HASH="$team_a_hash" TEAM_B_KEY_HASH="$team_b_hash"
chmod 600 "$CONF" # holds the backend api keys
"$SANDGATE_BIN" -t -c "$CONF" || die "$CONF does not validate (see above)"
log "config: $CONF"

: >"$DEMO_DIR/sandgate.log"
"$SANDGATE_BIN" -c "$CONF" >>"$DEMO_DIR/sandgate.log" 2>&1 &
sandgate_pid=$!
pids+=("$sandgate_pid")
names+=(sandgate)

url="https://127.0.0.1:$public_port"
status=000
for _ in $(seq 100); do
    if ! kill -0 "$sandgate_pid" 2>/dev/null; then
        tail -n 30 "$DEMO_DIR/sandgate.log" >&2
        die "sandgate exited during startup (log: $DEMO_DIR/sandgate.log)"
    fi
    status="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$CERT_DIR/ca.crt" "$url/health" || true)"
    [ "$status" = 200 ] && break
    sleep 0.2
done
[ "$status" = 200 ] || die "$url/health did not answer 200 within 20s (last: $status; log: $DEMO_DIR/sandgate.log)"

ca="$CERT_DIR/ca.crt"
admin_url="http://127.0.0.1:$admin_port"
sandbox_domain="sandbox.localhost" # ports.sandbox_domain in conf/demo.yaml.in

# json_field NAME: the first "NAME":"value" string of the JSON on stdin.
json_field() { grep -o "\"$1\":\"[^\"]*\"" | head -n1 | cut -d'"' -f4; }

# A team-a sandbox (no timeout: it lives as long as the demo) whose port 3000 serves the
# simulator's web app (tests/simulator/README.md, "Web app"), and a signed URL of it
# that a browser can open without any header.
api() { curl -s --max-time 5 --cacert "$ca" -H "OPEN-SANDBOX-API-KEY: $team_a_key" "$@"; }
web_id="$(api -H 'Content-Type: application/json' "$url/v1/sandboxes" \
    -d '{"image":{"uri":"python:3.11"},"entrypoint":["tail","-f","/dev/null"],"resourceLimits":{"cpu":"500m","memory":"512Mi"},"metadata":{"demo":"web-app"}}' |
    json_field id)" || true
[ -n "$web_id" ] || die "could not create the web-app sandbox through $url (log: $DEMO_DIR/sandgate.log)"
for _ in $(seq 50); do
    api "$url/v1/sandboxes/$web_id" | grep -q '"state":"Running"' && break
    sleep 0.2
done
web_expires=$(($(date +%s) + 86400))
web_endpoint="$(api "$url/v1/sandboxes/$web_id/endpoints/3000?expires=$web_expires" | json_field endpoint)" || true
[[ "$web_endpoint" =~ /sandboxes/$web_id/port/3000-[0-9a-z]+-[0-9a-z]{12}$ ]] ||
    die "no signed endpoint for $web_id port 3000: '$web_endpoint' (log: $DEMO_DIR/sandgate.log)"
web_url="https://$web_endpoint"
web_host="$web_id-3000.$sandbox_domain"
(
    umask 077
    cat >"$DEMO_DIR/env" <<ENV
export SANDGATE_URL=$url
export SANDGATE_CA=$ca
export SANDGATE_API_KEY=$team_a_key
export SANDGATE_API_KEY_B=$team_b_key
export SANDGATE_ADMIN_URL=$admin_url
export SANDGATE_ADMIN_KEY=$admin_key
export SANDGATE_SANDBOX_DOMAIN=$sandbox_domain
export SANDGATE_WEB_ID=$web_id
export SANDGATE_WEB_URL=$web_url
# for the OpenSandbox SDKs: domain and key (team-a); Node trusts the demo CA
export OPEN_SANDBOX_DOMAIN=127.0.0.1:$public_port
export OPEN_SANDBOX_API_KEY=$team_a_key
export NODE_EXTRA_CA_CERTS=$ca
ENV
)
chmod 600 "$DEMO_DIR/env" # holds the keys

cat <<INFO

sandgate demo is running (Ctrl-C stops it). Environment (also in $DEMO_DIR/env):

SANDGATE_URL=$url
SANDGATE_CA=$ca
SANDGATE_API_KEY=$team_a_key
SANDGATE_API_KEY_B=$team_b_key
SANDGATE_ADMIN_URL=$admin_url
SANDGATE_ADMIN_KEY=$admin_key
SANDGATE_SANDBOX_DOMAIN=$sandbox_domain
SANDGATE_WEB_ID=$web_id
SANDGATE_WEB_URL=$web_url

Open SANDGATE_WEB_URL in a browser: a signed URL (valid 24 h, no header needed) of the web app that
the team-a sandbox SANDGATE_WEB_ID serves on its port 3000. The browser gets a cookie for that sandbox
port and is redirected to the same URL without the signature; the page then shows which of its
scripts, fetches and WebSockets work (absolute paths cannot in the path form). The certificate is
the demo CA's ($ca): accept the warning, or trust that CA.
The same port in host form ({id}-{port}.$sandbox_domain, the wildcard certificate chosen by SNI):

  curl -s --cacert "$ca" --resolve $web_host:$public_port:127.0.0.1 \\
       -H "OPEN-SANDBOX-API-KEY: \$SANDGATE_API_KEY" https://$web_host:$public_port/api/hello

Tenants: team-a (key SANDGATE_API_KEY: any image, timeout up to 2h or none)
         team-b (key SANDGATE_API_KEY_B: any image, timeout required, up to 2h, <= 2 CPUs / 4Gi;
                 quota: 3 live sandboxes, 4 CPUs in total)
Rate limit: team-b lifecycle requests, 5 per second with a burst of 10 (rate-limit plugin, local mode)
Backends: sim-a on 127.0.0.1:$port_a, sim-b on 127.0.0.1:$port_b (simulated OpenSandbox servers)
INFO

# The examples are printed verbatim; only @PUBLIC_PORT@ and @ROOT@ are replaced.
IFS= read -r -d '' examples <<'EXAMPLES' || true

Try, in another shell:

  source "@ROOT@/.demo/env"
  # public health check over TLS (no key needed)
  curl -s --cacert "$SANDGATE_CA" "$SANDGATE_URL/health"; echo
  # create a sandbox as team-a (202, state Pending) and keep its id
  ID=$(curl -s --cacert "$SANDGATE_CA" -H "OPEN-SANDBOX-API-KEY: $SANDGATE_API_KEY" \
         -H 'Content-Type: application/json' "$SANDGATE_URL/v1/sandboxes" \
         -d '{"image":{"uri":"python:3.11"},"entrypoint":["tail","-f","/dev/null"],"timeout":600,"resourceLimits":{"cpu":"500m","memory":"512Mi"}}' \
       | tee /dev/stderr | grep -o '"id":"[^"]*"' | head -n1 | cut -d'"' -f4); echo; echo "ID=$ID"
  # wait until it is Running (the SDKs do this for you), then get it and list team-a's sandboxes
  until curl -s --cacert "$SANDGATE_CA" -H "OPEN-SANDBOX-API-KEY: $SANDGATE_API_KEY" "$SANDGATE_URL/v1/sandboxes/$ID" \
        | grep -q '"state":"Running"'; do sleep 0.2; done
  curl -s --cacert "$SANDGATE_CA" -H "OPEN-SANDBOX-API-KEY: $SANDGATE_API_KEY" "$SANDGATE_URL/v1/sandboxes/$ID"; echo
  curl -s --cacert "$SANDGATE_CA" -H "OPEN-SANDBOX-API-KEY: $SANDGATE_API_KEY" "$SANDGATE_URL/v1/sandboxes"; echo
  # admission: mounting the backend host's root is refused (403 GATEWAY::ADMISSION_HOST_VOLUME),
  # nothing reaches a backend; team-a may mount /srv/demo-data, forced read-only
  curl -s --cacert "$SANDGATE_CA" -H "OPEN-SANDBOX-API-KEY: $SANDGATE_API_KEY_B" \
       -H 'Content-Type: application/json' "$SANDGATE_URL/v1/sandboxes" \
       -d '{"image":{"uri":"python:3.11"},"entrypoint":["tail","-f","/dev/null"],"timeout":600,"resourceLimits":{"cpu":"500m","memory":"512Mi"},"volumes":[{"name":"root","host":{"path":"/"},"mountPath":"/host"}]}'; echo
  # team-b cannot see it: 404, exactly as for a sandbox that does not exist
  curl -s --cacert "$SANDGATE_CA" -H "OPEN-SANDBOX-API-KEY: $SANDGATE_API_KEY_B" "$SANDGATE_URL/v1/sandboxes/$ID"; echo
  # host form: team-b's endpoints answer {id}-{port}-{expires}-{signature}.$SANDGATE_SANDBOX_DOMAIN
  # (policy endpoint_form: host); the wildcard certificate *.sandbox.localhost is chosen by SNI
  # and the whole path goes to the sandbox, so absolute paths such as /app.js work
  IDB=$(curl -s --cacert "$SANDGATE_CA" -H "OPEN-SANDBOX-API-KEY: $SANDGATE_API_KEY_B" \
         -H 'Content-Type: application/json' "$SANDGATE_URL/v1/sandboxes" \
         -d '{"image":{"uri":"python:3.11"},"entrypoint":["tail","-f","/dev/null"],"timeout":600,"resourceLimits":{"cpu":"500m","memory":"512Mi"}}' \
       | grep -o '"id":"[^"]*"' | head -n1 | cut -d'"' -f4); echo "IDB=$IDB"; sleep 1
  HOSTB=$(curl -s --cacert "$SANDGATE_CA" -H "OPEN-SANDBOX-API-KEY: $SANDGATE_API_KEY_B" \
         "$SANDGATE_URL/v1/sandboxes/$IDB/endpoints/3000?expires=$(($(date +%s) + 3600))" \
       | tee /dev/stderr | grep -o '"endpoint":"[^"]*"' | cut -d'"' -f4 | cut -d: -f1); echo
  curl -s --cacert "$SANDGATE_CA" --resolve "$HOSTB:@PUBLIC_PORT@:127.0.0.1" "https://$HOSTB:@PUBLIC_PORT@/app.js"
  curl -sv -o /dev/null --cacert "$SANDGATE_CA" --resolve "$HOSTB:@PUBLIC_PORT@:127.0.0.1" \
       "https://$HOSTB:@PUBLIC_PORT@/api/hello" 2>&1 | grep -E 'subject:|^< HTTP'
  curl -s -o /dev/null -w '%{http_code}\n' -X DELETE --cacert "$SANDGATE_CA" \
       -H "OPEN-SANDBOX-API-KEY: $SANDGATE_API_KEY_B" "$SANDGATE_URL/v1/sandboxes/$IDB"
  # quota: team-b may hold 3 live sandboxes (4 CPUs in total): the 4th create is refused with
  # 429 QUOTA_EXCEEDED "... live sandboxes: 3 of 3" (no Retry-After: waiting does not help)
  for i in 1 2 3 4; do curl -s -i --cacert "$SANDGATE_CA" -H "OPEN-SANDBOX-API-KEY: $SANDGATE_API_KEY_B" \
       -H 'Content-Type: application/json' "$SANDGATE_URL/v1/sandboxes" \
       -d '{"image":{"uri":"python:3.11"},"entrypoint":["tail","-f","/dev/null"],"timeout":600,"resourceLimits":{"cpu":"1","memory":"512Mi"}}' \
       | grep -E '^HTTP|"code"|^retry-after' | sed 's/"metadata".*//'; done
  # (wait 2 s after the creates above: the rate-limit window below starts full)
  # rate limit: team-b may send 5 lifecycle requests per second with a burst of 10; 12 in a row:
  # the last ones get 429 GATEWAY::RATE_LIMITED, with one Retry-After and the RateLimit fields
  for i in $(seq 12); do curl -s -o /dev/null -w '%{http_code} ' --cacert "$SANDGATE_CA" \
       -H "OPEN-SANDBOX-API-KEY: $SANDGATE_API_KEY_B" "$SANDGATE_URL/v1/sandboxes"; done; echo
  curl -si --cacert "$SANDGATE_CA" -H "OPEN-SANDBOX-API-KEY: $SANDGATE_API_KEY_B" "$SANDGATE_URL/v1/sandboxes" \
       | grep -iE '^(HTTP/|retry-after|ratelimit)|"code"'
  # the endpoint of execd (port 44772) is the gateway's own address
  curl -s --cacert "$SANDGATE_CA" -H "OPEN-SANDBOX-API-KEY: $SANDGATE_API_KEY" "$SANDGATE_URL/v1/sandboxes/$ID/endpoints/44772"; echo
  # run a command through the port route; execd streams its output (SSE)
  curl -sN --cacert "$SANDGATE_CA" -H "OPEN-SANDBOX-API-KEY: $SANDGATE_API_KEY" \
       -H 'Content-Type: application/json' -d '{"command":"for i in 1 2 3; do echo tick $i; sleep 0.5; done"}' \
       "$SANDGATE_URL/sandboxes/$ID/port/44772/command"
  # a signed URL of its port 3000 (the simulator's web app), valid one hour: no header needed.
  # A browser's first visit (Sec-Fetch-Mode: navigate) gets 302 to the URL without the
  # signature and an HttpOnly cookie for /sandboxes/$ID/port/3000
  EP=$(curl -s --cacert "$SANDGATE_CA" -H "OPEN-SANDBOX-API-KEY: $SANDGATE_API_KEY" \
         "$SANDGATE_URL/v1/sandboxes/$ID/endpoints/3000?expires=$(($(date +%s) + 3600))" \
       | tee /dev/stderr | grep -o '"endpoint":"[^"]*"' | cut -d'"' -f4); echo
  curl -si --cacert "$SANDGATE_CA" -H 'Sec-Fetch-Mode: navigate' "https://$EP" | grep -iE '^(HTTP/|location|set-cookie)'
  curl -s --cacert "$SANDGATE_CA" "https://$EP/api/hello"; echo
  # delete it (204)
  curl -s -o /dev/null -w '%{http_code}\n' -X DELETE --cacert "$SANDGATE_CA" \
       -H "OPEN-SANDBOX-API-KEY: $SANDGATE_API_KEY" "$SANDGATE_URL/v1/sandboxes/$ID"

  # backends and their health, Prometheus metrics (admin listener)
  curl -H "Authorization: Bearer $SANDGATE_ADMIN_KEY" "$SANDGATE_ADMIN_URL/admin/v1/backends"
  curl -H "Authorization: Bearer $SANDGATE_ADMIN_KEY" "$SANDGATE_ADMIN_URL/metrics"
  # HTTP/2; SNI (the alt.localhost certificate is served for that name)
  curl --http2 -sI --cacert "$SANDGATE_CA" "$SANDGATE_URL/health"
  curl -v --cacert "$SANDGATE_CA" --resolve alt.localhost:@PUBLIC_PORT@:127.0.0.1 https://alt.localhost:@PUBLIC_PORT@/health

The same with the OpenSandbox JS SDK (installed in tests/node_modules); paste after `source`:

(cd "@ROOT@/tests" && NODE_EXTRA_CA_CERTS="$SANDGATE_CA" node --input-type=module) <<'JS'
import { ConnectionConfig, Sandbox } from '@alibaba-group/opensandbox';
const connectionConfig = new ConnectionConfig({
  domain: '127.0.0.1:@PUBLIC_PORT@', protocol: 'https', apiKey: process.env.SANDGATE_API_KEY });
const sandbox = await Sandbox.create({ connectionConfig, image: 'python:3.11', timeoutSeconds: 600 });
console.log('sandbox', sandbox.id);
const run = await sandbox.commands.run('for i in 1 2 3; do echo tick $i; sleep 0.5; done', undefined,
  { onStdout: (m) => console.log('stdout:', m.text) });
console.log('exit code', run.exitCode);
await sandbox.kill();
await sandbox.close();
JS

More: README.md, docs/SDK.md (Python SDK too).
EXAMPLES
shopt -u patsub_replacement 2>/dev/null || true
examples="${examples//"@PUBLIC_PORT@"/"$public_port"}"
examples="${examples//"@ROOT@"/"$ROOT"}"
printf '%s\n' "$examples"
echo "Logs: $DEMO_DIR/sandgate.log, access log $DEMO_DIR/access.log, simulators $DEMO_DIR/sim-a.log $DEMO_DIR/sim-b.log"

# Stay in the foreground until Ctrl-C or until a child exits.
while :; do
    for i in "${!pids[@]}"; do
        if ! kill -0 "${pids[$i]}" 2>/dev/null; then
            wait "${pids[$i]}" 2>/dev/null && rc=0 || rc=$?
            die "${names[$i]} exited (status $rc); see the logs in $DEMO_DIR"
        fi
    done
    sleep 1
done
