#!/usr/bin/env bash
# Reproducible reverse-proxy benchmark: sandgate vs nginx vs haproxy, each with
# ONE worker process/thread (per-core comparison), in front of the same nginx
# upstream that returns a small fixed 200 response, on plain HTTP/1.1 with
# keep-alive on both sides. Writes bench/RESULTS.md; raw wrk outputs and the
# rendered configs go to bench/out/.
#
# Then the tenancy path ("Tenancy path" in RESULTS.md), same upstream, same
# request GET /v1/sandboxes/$BENCH_SANDBOX_ID with an OPEN-SANDBOX-API-KEY header:
#   (a) direct to the upstream (which answers a fixed Sandbox JSON tagged with
#       the bench tenant);
#   (b) sandgate without tenants (bench/sandgate.yaml.in: /v1/* proxied to a backend);
#   (c) sandgate with a tenant, key-auth and the Redis store
#       (bench/sandgate-tenancy.yaml.in; a redis-server started here on a free
#       port; the tenant key exists only in Redis; the sandbox is adopted by
#       the first request, which probes the upstream);
# and a shorter latency run of (a) and (c) against the OpenSandbox simulator
# (tests/simulator/server.js; the sandbox is created through sandgate).
# (d) in the same sandgate process as (c): port traffic (GET /sandboxes/$BENCH_SANDBOX_ID/port/8080/bench)
# authenticated by the tenant key, then by the access token from Endpoint.headers (issue 7).
# (f) in the same process: port traffic on the unsigned path form authenticated by the cookie a signed URL leaves in a
# browser (Cookie: sg_access=<e36>-<sig>, issue 10), against the same traffic with the access token header.
# Last three lines printed:
#   tenancy/plain cpu-per-request: X.XX
#   token/key cpu-per-request: X.XX
#   signed/token cpu-per-request: X.XX (min–max of the pairs)
#   ratelimit-local/tenancy cpu-per-request: X.XX (and -redis, -batched; then their round trips per request)
#   sandgate/nginx cpu-per-request: X.XX
#
# Usage: bench/run.sh            (or: make bench)
#
# Environment (defaults in brackets):
#   BENCH_DURATION  seconds per measured wrk run [10]
#   BENCH_WARMUP    seconds of warm-up per target [2]
#   BENCH_CONNS     connection counts measured [1 64]
#   BENCH_REPEAT    measured runs per target and connection count; the table shows
#                   the median of each figure [3]
#   BENCH_PIN       auto|0|1: upstream and wrk on CPU 0; the proxy on CPU 0 at 1 connection,
#                   on CPU 1 otherwise [auto: on if >= 2 CPUs]
#   BENCH_PATH      path requested through nginx/haproxy and directly [/bench]
#   SANDGATE_BIN    [build/sandgate]; the sandgate run is skipped if it does not exist
#   SANDGATE_BENCH_PATH    path requested through sandgate [/sandboxes/bench-sandbox/port/8080/bench]
#   SANDGATE_BENCH_HEADER  request header sent to sandgate only
#                   ["OPEN-SANDBOX-API-KEY: <generated tenant key>"; its hash is rendered
#                   into bench/sandgate.yaml.in as the TENANT_KEY_HASH placeholder; set it
#                   empty to send no header]
#   BENCH_KEEP_TMP  1 = keep the temporary directory (access logs, pids) [0]
#   BENCH_TENANCY   1|0: run the tenancy-path section [1]; needs redis-server and redis-cli
#   BENCH_MAIN      1|0: run the nginx/haproxy/sandgate comparison [1]; 0 with BENCH_SIM=0 runs only the
#                   tenancy path and port tokens
#   BENCH_TOKENS    1|0: run (d), port traffic by key vs by access token [1]
#   BENCH_SIGNED    1|0: run (f), port traffic by a signed URL's cookie vs by access token [1]; short by default:
#                   BENCH_SIGNED_CONNS [64], BENCH_SIGNED_DURATION seconds per run [5], BENCH_SIGNED_REPEAT pairs [5]
#   BENCH_SIGNED_ONLY  1: run only (f) (its sandgate process (c) and Redis are started, nothing else is measured:
#                   BENCH_MAIN, BENCH_SIM, BENCH_TOKENS, BENCH_RATELIMIT and BENCH_TLS default to 0, (a)-(c) are not measured)
#   BENCH_RATELIMIT 1|0: run (e), the tenancy path with the rate-limit plugin in local, redis and
#                   redis+sync_interval modes [1]; prints ratelimit-{local,redis,batched}/tenancy
#                   cpu-per-request and the Redis round trips per request of each
#   BENCH_SANDBOX_ID    sandbox id requested on the tenancy path [bench-sbx-1]
#   BENCH_KEY_TTL   key-auth positive_ttl in (c) [60s; the plugin's default is 10s]
#   BENCH_RECONCILE lifecycle.reconcile_interval in (c) [30s, the default]
#   BENCH_SIM       1|0: the latency run against the simulator [1]; needs node and
#                   tests/node_modules (cd tests && npm ci), skipped otherwise
#   BENCH_SIM_DURATION  seconds per simulator run (1 run per connection count) [5]
#   BENCH_TLS       1|0: TLS and HTTP/2 against nginx with the same certificate, the tenancy chain over TLS, and
#                   scaling to 2 workers (bench/tls.sh, which lists its BENCH_TLS_*, BENCH_H2_* and BENCH_SCALE_CONNS) [1];
#                   prints sandgate/nginx tls and h2 cpu-per-request, tenancy-tls/nginx-tls cpu-per-request and
#                   sandgate (and nginx) 2w/1w throughput; needs h2load (nghttp2-client) and redis-server
#   BENCH_TLS_ONLY  1: run only that section (BENCH_MAIN, BENCH_TENANCY and BENCH_SIM default to 0)
#   REDIS_SERVER, REDIS_CLI, NODE   [redis-server, redis-cli, node]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/bench"
OUT_DIR="$BENCH_DIR/out"
RESULTS="$BENCH_DIR/RESULTS.md"

DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-2}"
REPEAT="${BENCH_REPEAT:-3}"
read -r -a CONNS <<<"${BENCH_CONNS:-1 64}"
BENCH_PATH="${BENCH_PATH:-/bench}"
SANDGATE_BIN="${SANDGATE_BIN:-$ROOT/build/sandgate}"
SANDGATE_BENCH_PATH="${SANDGATE_BENCH_PATH:-/sandboxes/bench-sandbox/port/8080/bench}"
TENANT_KEY="bench-tenant-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n")"
SANDGATE_BENCH_HEADER="${SANDGATE_BENCH_HEADER-OPEN-SANDBOX-API-KEY: $TENANT_KEY}"
NGINX="${NGINX:-/usr/sbin/nginx}"
HAPROXY="${HAPROXY:-/usr/sbin/haproxy}"
WRK="${WRK:-wrk}"
REDIS_SERVER="${REDIS_SERVER:-redis-server}"
REDIS_CLI="${REDIS_CLI:-redis-cli}"
NODE="${NODE:-node}"
SBX_ID="${BENCH_SANDBOX_ID:-bench-sbx-1}"
TENANT_ID=bench
KEY_TTL="${BENCH_KEY_TTL:-60s}"
RECONCILE="${BENCH_RECONCILE:-30s}"
SIM_DURATION="${BENCH_SIM_DURATION:-5}"
SIGNED_ONLY="${BENCH_SIGNED_ONLY:-0}"
if [ "$SIGNED_ONLY" = 1 ]; then
    BENCH_SIGNED=1
    : "${BENCH_MAIN:=0}" "${BENCH_SIM:=0}" "${BENCH_TOKENS:=0}" "${BENCH_RATELIMIT:=0}" "${BENCH_TLS:=0}"
fi
if [ "${BENCH_TLS_ONLY:-0}" = 1 ]; then
    BENCH_TLS=1
    : "${BENCH_MAIN:=0}" "${BENCH_TENANCY:=0}" "${BENCH_SIM:=0}"
fi
read -r -a SIGNED_CONNS <<<"${BENCH_SIGNED_CONNS:-64}"
SIGNED_DURATION="${BENCH_SIGNED_DURATION:-5}"
SIGNED_REPEAT="${BENCH_SIGNED_REPEAT:-5}"
REDIS_PREFIX="sandgate:"
T_HEADER="OPEN-SANDBOX-API-KEY: $TENANT_KEY"

log() { echo "bench: $*" >&2; }
die() {
    echo "bench: error: $*" >&2
    exit 1
}

# ---------------------------------------------------------------- prerequisites
[ -x "$NGINX" ] || die "nginx not found at $NGINX: run 'scripts/install-deps.sh --bench'"
[ "${BENCH_MAIN:-1}" != 1 ] || [ -x "$HAPROXY" ] || die "haproxy not found at $HAPROXY: run 'scripts/install-deps.sh --bench'"
command -v "$WRK" >/dev/null || die "wrk not found: run 'scripts/install-deps.sh --bench'"
for cmd in curl awk taskset timeout pgrep openssl; do
    command -v "$cmd" >/dev/null || die "'$cmd' not found: run 'scripts/install-deps.sh --bench'"
done
[[ "$DURATION" =~ ^[0-9]+$ && "$DURATION" -gt 0 ]] || die "BENCH_DURATION must be a positive integer (seconds)"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be an integer (seconds)"
[[ "$REPEAT" =~ ^[0-9]+$ && "$REPEAT" -gt 0 ]] || die "BENCH_REPEAT must be a positive integer"
[[ "$SBX_ID" =~ ^[A-Za-z0-9._-]{1,128}$ ]] || die "BENCH_SANDBOX_ID must be 1-128 characters of [A-Za-z0-9._-]"
[[ "$SIM_DURATION" =~ ^[0-9]+$ && "$SIM_DURATION" -gt 0 ]] || die "BENCH_SIM_DURATION must be a positive integer (seconds)"
[[ "$SIGNED_DURATION" =~ ^[0-9]+$ && "$SIGNED_DURATION" -gt 0 ]] || die "BENCH_SIGNED_DURATION must be a positive integer (seconds)"
[[ "$SIGNED_REPEAT" =~ ^[0-9]+$ && "$SIGNED_REPEAT" -gt 0 ]] || die "BENCH_SIGNED_REPEAT must be a positive integer"

NCPU="$(nproc)"
CLK_TCK="$(getconf CLK_TCK)"
case "${BENCH_PIN:-auto}" in
auto) if [ "$NCPU" -ge 2 ]; then PIN=1; else PIN=0; fi ;;
0 | 1) PIN="$BENCH_PIN" ;;
*) die "BENCH_PIN must be auto, 0 or 1" ;;
esac
if [ "$PIN" -eq 1 ]; then
    [ "$NCPU" -ge 2 ] || die "BENCH_PIN=1 needs at least 2 CPUs"
    PROXY_CPU=(taskset -c 1)
    LOAD_CPU=(taskset -c 0)
else
    PROXY_CPU=()
    LOAD_CPU=()
fi

LOADAVG_START="$(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v l="${LOADAVG_START%% *}" 'BEGIN { exit !(l > 0.5) }'; then
    log "warning: load average is $LOADAVG_START: other activity on this machine will skew the figures"
fi

TMP="$(mktemp -d /tmp/sandgate-bench.XXXXXX)"
mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR"/wrk-*.txt "$OUT_DIR"/*.conf "$OUT_DIR"/*.cfg "$OUT_DIR"/*.yaml "$OUT_DIR"/*.json "$OUT_DIR"/*.log

# ---------------------------------------------------------------- process handling
pids=()
WRK_PID=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local p
    if [ -n "$WRK_PID" ]; then kill -TERM "$WRK_PID" 2>/dev/null || true; fi
    for p in "${pids[@]}"; do stop_tree "$p"; done
    if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then
        log "temporary files kept in $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# tree PID: PID and its direct children (nginx master + workers).
tree() {
    echo "$1"
    pgrep -P "$1" || true
}

# stop_tree PID: SIGTERM to PID, wait up to 5 s, then SIGKILL PID and the
# children it had (so that nginx workers never outlive a killed master).
stop_tree() {
    local pid="$1" kids
    kill -0 "$pid" 2>/dev/null || return 0
    kids="$(pgrep -P "$pid" || true)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    # shellcheck disable=SC2086
    kill -KILL "$pid" $kids 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# forget PID: remove it from the cleanup list after stopping it.
stop_and_forget() {
    local pid="$1" keep=() p
    stop_tree "$pid"
    for p in "${pids[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    pids=("${keep[@]}")
}

# shellcheck source=../scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"


# wait_proxied PID URL [HEADER]: waits up to 30 s until URL answers 200 with
# the upstream's X-Bench-Upstream header (i.e. the request was really proxied).
wait_proxied() {
    local pid="$1" url="$2" hdr="${3:-}" status="" headers
    local args=(-s -k -o /dev/null -D - --max-time 2)
    [ -n "$hdr" ] && args+=(-H "$hdr")
    for _ in $(seq 150); do
        kill -0 "$pid" 2>/dev/null || return 1
        headers="$(curl "${args[@]}" "$url" 2>/dev/null | tr -d '\r' || true)"
        status="$(awk 'NR == 1 { print $2 }' <<<"$headers")"
        if [ "$status" = 200 ] && grep -qi '^x-bench-upstream: 1' <<<"$headers"; then
            return 0
        fi
        sleep 0.2
    done
    log "no proxied 200 from $url (last status: ${status:-none})"
    return 1
}

# place_proxy CONNS PID...: CPU placement of the proxy for a run (all threads).
# 1 connection: on CPU 0 with the upstream and wrk, so that the request chain
# runs without cross-CPU wake-ups (tens of µs each on virtual machines, which
# would dominate the latency figure). More connections: alone on CPU 1.
place_proxy() {
    local c="$1" cpu p
    shift
    [ "$PIN" -eq 1 ] || return 0
    if [ "$c" -eq 1 ]; then cpu=0; else cpu=1; fi
    for p in "$@"; do taskset -a -p -c "$cpu" "$p" >/dev/null || die "taskset failed for pid $p"; done
}

# ---------------------------------------------------------------- measuring
# cpu_ticks PID...: utime+stime (clock ticks) summed over the processes (all
# threads of each). Fields after "pid (comm) ": $12 = utime, $13 = stime.
cpu_ticks() {
    local p
    for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null || true; done |
        awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { printf "%d\n", t }'
}

# mem_kb FIELD PID...: VmRSS or VmHWM (kB) summed over the processes.
mem_kb() {
    local field="$1" p
    shift
    for p in "$@"; do cat "/proc/$p/status" 2>/dev/null || true; done |
        awk -v f="$field:" '$1 == f { t += $2 } END { printf "%d\n", t }'
}

# parse_wrk FILE: "requests rps p50_us p99_us errors" from wrk --latency output
# (errors = non-2xx/3xx responses + socket errors).
parse_wrk() {
    awk '
        function us(v) {
            if (v ~ /us$/) return v + 0
            if (v ~ /ms$/) return v * 1000
            if (v ~ /m$/) return v * 60e6
            if (v ~ /s$/) return v * 1e6
            return v + 0
        }
        / requests in / { req = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /^ +50% / { p50 = us($2) }
        /^ +99% / { p99 = us($2) }
        /Non-2xx or 3xx responses:/ { err += $NF }
        /Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) err += $i + 0 }
        END { printf "%d %.2f %.1f %.1f %d\n", req, rps, p50, p99, err }
    ' "$1"
}

# Results, keyed "target,conns".
declare -A R_REQ R_RPS R_P50 R_P99 R_ERR R_CPU R_RSS R_HWM
TARGETS=()
declare -A NOTE
# bench_target settings for the tenancy-path sections:
GROUP=main     # result table the target belongs to (TARGETS holds the "main" one)
declare -A GROUP_TARGETS
VERIFY_ARGS=() # set: the warm-up runs bench/verify.lua with these arguments and its
declare -A R_VERIFY # verdict is kept in R_VERIFY[target]
RUN_HOOK=""    # set: function called "before NAME CONNS RUN" / "after NAME CONNS RUN REQUESTS"
               # around each measured run (outside the CPU measurement window)

# run_wrk OUTFILE CONNS URL [HEADER]
run_wrk() {
    local out="$1" c="$2" url="$3" hdr="${4:-}" t=1
    if [ "$c" -ge 2 ]; then t=2; fi
    local args=(-t"$t" -c"$c" -d"${DURATION}s" --timeout 5s --latency)
    [ -n "$hdr" ] && args+=(-H "$hdr")
    # In the background + wait, so that a signal stops the benchmark at once.
    timeout $((DURATION + 30)) "${LOAD_CPU[@]}" "$WRK" "${args[@]}" "$url" >"$out" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || die "wrk failed or timed out against $url (output: $out)"
    WRK_PID=
}

# warm_up NAME URL [HEADER]: unmeasured load before a target's runs (with VERIFY_ARGS: every
# response is checked by bench/verify.lua and the verdict kept in R_VERIFY[NAME]).
warm_up() {
    local name="$1" url="$2" hdr="${3:-}" wdur="$WARMUP"
    if [ "${#VERIFY_ARGS[@]}" -gt 0 ] && [ "$wdur" -lt 2 ]; then wdur=2; fi
    [ "$wdur" -gt 0 ] || return 0
    local wargs=(-t2 -c16 -d"${wdur}s" --timeout 5s) wout=/dev/null wtail=()
    [ -n "$hdr" ] && wargs+=(-H "$hdr")
    if [ "${#VERIFY_ARGS[@]}" -gt 0 ]; then
        wargs+=(-s "$BENCH_DIR/verify.lua")
        wtail=(-- "${VERIFY_ARGS[@]}")
        wout="$OUT_DIR/wrk-$name-warmup-verify.txt"
    fi
    timeout $((wdur + 30)) "${LOAD_CPU[@]}" "$WRK" "${wargs[@]}" "$url" "${wtail[@]}" >"$wout" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || true
    WRK_PID=
    if [ "${#VERIFY_ARGS[@]}" -gt 0 ]; then
        R_VERIFY[$name]="$(sed -n 's/^verify: //p' "$wout" | head -n1)"
        log "$name: warm-up check: ${R_VERIFY[$name]:-no verdict (see $wout)}"
        [[ "${R_VERIFY[$name]}" =~ ^responses=[1-9][0-9]*\ non200=0\ unproxied=0\ wrongbody=0$ ]] ||
            log "warning: $name: not every warm-up response was a proxied 200 with the sandbox (see $wout)"
    fi
}

# measure_run NAME CONNS RUN URL HEADER PID...: one measured wrk run; sets MEASURED to "requests rps p50 p99 errors
# cpu-us/req" with the CPU time of the PIDs (all threads) over the run. Not in a subshell: RUN_HOOK keeps state.
MEASURED=""
measure_run() {
    local name="$1" c="$2" i="$3" url="$4" hdr="$5" f t0 t1 req rps p50 p99 err
    shift 5
    f="$OUT_DIR/wrk-$name-c$c-run$i.txt"
    log "$name: $c connection(s), ${DURATION}s (run $i/$REPEAT)"
    if [ -n "$RUN_HOOK" ]; then "$RUN_HOOK" before "$name" "$c" "$i"; fi
    t0="$(cpu_ticks "$@")"
    run_wrk "$f" "$c" "$url" "$hdr"
    t1="$(cpu_ticks "$@")"
    read -r req rps p50 p99 err < <(parse_wrk "$f")
    [ "$req" -gt 0 ] || die "$name: wrk completed no requests (see $f)"
    if [ -n "$RUN_HOOK" ]; then "$RUN_HOOK" after "$name" "$c" "$i" "$req"; fi
    MEASURED="$req $rps $p50 $p99 $err $(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')"
}

# record_runs NAME CONNS RUNS PID...: the per-figure medians of RUNS (lines of measure_run; errors: total) into the
# result arrays, with the memory of the PIDs now.
record_runs() {
    local name="$1" c="$2" runs="$3" req rps p50 p99 err cpu
    shift 3
    read -r req rps p50 p99 err cpu < <(printf '%s' "$runs" | awk '
        { for (k = 1; k <= 6; k++) v[k, NR] = $k; e += $5 }
        END {
            for (k = 1; k <= 6; k++) {
                for (i = 1; i <= NR; i++) a[i] = v[k, i]
                for (i = 2; i <= NR; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
                m[k] = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
            }
            printf "%d %.2f %.1f %.1f %d %.2f\n", m[1], m[2], m[3], m[4], e, m[6]
        }')
    R_REQ[$name,$c]="$req"
    R_RPS[$name,$c]="$rps"
    R_P50[$name,$c]="$p50"
    R_P99[$name,$c]="$p99"
    R_ERR[$name,$c]="$err"
    R_CPU[$name,$c]="$cpu"
    R_RSS[$name,$c]="$(mem_kb VmRSS "$@")"
    R_HWM[$name,$c]="$(mem_kb VmHWM "$@")"
    log "$name c=$c: $rps req/s, p50 ${p50}us, p99 ${p99}us, $cpu us CPU/req, errors $err"
    [ "$err" -eq 0 ] || log "warning: $name c=$c: $err errors / non-2xx responses (see $OUT_DIR/wrk-$name-c$c-run*.txt)"
}

register_target() {
    if [ "$GROUP" = main ]; then TARGETS+=("$1"); fi
    GROUP_TARGETS[$GROUP]="${GROUP_TARGETS[$GROUP]:-}$1 "
}

# bench_target NAME PID URL [HEADER]: warm-up, then REPEAT measured runs per
# connection count, with the CPU time and memory of PID and its children.
bench_target() {
    local name="$1" pid="$2" url="$3" hdr="${4:-}" c i procs runs
    register_target "$name"
    warm_up "$name" "$url" "$hdr"
    for c in "${CONNS[@]}"; do
        mapfile -t procs < <(tree "$pid")
        case "$name" in *direct) ;; *) place_proxy "$c" "${procs[@]}" ;; esac
        runs=""
        for i in $(seq "$REPEAT"); do
            measure_run "$name" "$c" "$i" "$url" "$hdr" "${procs[@]}"
            runs+="$MEASURED"$'\n'
        done
        record_runs "$name" "$c" "$runs" "${procs[@]}"
    done
}

# ab_pairs KEY REG_B NAME_A PID_A URL_A HEADER_A NAME_B PID_B URL_B HEADER_B: A and B measured in turn (A B, B A, A B,
# ...) so that the machine's drift hits both alike. Besides each target's medians, R_ABP[KEY,CONNS] holds "median min
# max" of the run-by-run CPU-per-request ratios A/B. REG_B=1 registers B as a target too (else it is a reference).
declare -A R_ABP
ab_pairs() {
    local key="$1" reg_b="$2" na="$3" pa="$4" ua="$5" ha="$6" nb="$7" pb="$8" ub="$9" hb="${10}" c i procs_a procs_b ra rb la lb ratios
    register_target "$na"
    [ "$reg_b" != 1 ] || register_target "$nb"
    warm_up "$na" "$ua" "$ha"
    warm_up "$nb" "$ub" "$hb"
    for c in "${CONNS[@]}"; do
        mapfile -t procs_a < <(tree "$pa")
        mapfile -t procs_b < <(tree "$pb")
        place_proxy "$c" "${procs_a[@]}" "${procs_b[@]}"
        ra="" rb="" ratios=""
        for i in $(seq "$REPEAT"); do
            if [ $((i % 2)) -eq 1 ]; then
                measure_run "$na" "$c" "$i" "$ua" "$ha" "${procs_a[@]}"
                la="$MEASURED"
                measure_run "$nb" "$c" "$i" "$ub" "$hb" "${procs_b[@]}"
                lb="$MEASURED"
            else
                measure_run "$nb" "$c" "$i" "$ub" "$hb" "${procs_b[@]}"
                lb="$MEASURED"
                measure_run "$na" "$c" "$i" "$ua" "$ha" "${procs_a[@]}"
                la="$MEASURED"
            fi
            ra+="$la"$'\n'
            rb+="$lb"$'\n'
            ratios+="$(awk -v a="${la##* }" -v b="${lb##* }" 'BEGIN { if (b > 0) printf "%.4f", a / b }')"$'\n'
        done
        record_runs "$na" "$c" "$ra" "${procs_a[@]}"
        record_runs "$nb" "$c" "$rb" "${procs_b[@]}"
        R_ABP[$key,$c]="$(printf '%s' "$ratios" | sort -g | awk '{ v[NR] = $1 } END {
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.2f %.2f %.2f\n", m, v[1], v[NR] }')"
        log "$na/$nb c=$c: CPU per request run by run, median min max: ${R_ABP[$key,$c]}"
    done
}

# bench_ab NAME_A HEADER_A NAME_B HEADER_B PID URL: two ways of sending the same request to the same process (key "ab").
bench_ab() {
    ab_pairs ab 1 "$1" "$5" "$6" "$2" "$3" "$5" "$6" "$4"
}

# bench_ab_procs KEY NAME_A PID_A URL_A NAME_B PID_B URL_B HEADER: two processes serving the same request (e.g. the
# same config with and without a plugin); only A is registered as a target.
bench_ab_procs() {
    ab_pairs "$1" 0 "$2" "$3" "$4" "$8" "$5" "$6" "$7" "$8"
}

abp_range() { # "M (min–max)" of R_ABP[KEY,CONNS]
    local m lo hi
    read -r m lo hi <<<"${R_ABP[$1,$2]:-n/a n/a n/a}"
    echo "$m ($lo–$hi)"
}

# shellcheck source=bench/tls.sh
source "$BENCH_DIR/tls.sh"
tls_check_env

# ---------------------------------------------------------------- targets
USER_LINE="# (not root: no user directive)"
if [ "$(id -u)" -eq 0 ]; then USER_LINE="user root;  # workers must write to the temp dir"; fi

UPSTREAM_PORT="$(free_port 18700)"
PROXY_PORT="$(free_port 18710 "$UPSTREAM_PORT")"
ADMIN_PORT="$(free_port 18720 "$UPSTREAM_PORT" "$PROXY_PORT")"

# start_nginx NAME CONF [CPU-PREFIX...]: starts nginx (not daemonized); sets STARTED_PID.
start_nginx() {
    local name="$1" conf="$2"
    shift 2
    mkdir -p "$TMP/$name"
    "$NGINX" -t -q -p "$TMP/$name/" -e "$TMP/$name/error.log" -c "$conf" -g 'daemon off;' ||
        die "nginx rejected $conf (see above)"
    "$@" "$NGINX" -p "$TMP/$name/" -e "$TMP/$name/error.log" -c "$conf" -g 'daemon off;' \
        >"$TMP/$name/stdout.log" 2>&1 &
    pids+=($!)
    STARTED_PID=$!
}

log "temp dir $TMP; upstream :$UPSTREAM_PORT, proxies :$PROXY_PORT; CPU pinning: $([ "$PIN" -eq 1 ] && echo on || echo off)"

# Upstream. The sandbox of the tenancy path: tagged with the bench tenant,
# Running, created in the past, expiring far in the future.
SANDBOX_JSON="{\"id\":\"$SBX_ID\",\"image\":{\"uri\":\"python:3.11\"},\"entrypoint\":[\"tail\",\"-f\",\"/dev/null\"],"
SANDBOX_JSON+="\"metadata\":{\"sandgate.io/tenant\":\"$TENANT_ID\",\"purpose\":\"bench\"},"
SANDBOX_JSON+="\"status\":{\"state\":\"Running\",\"reason\":\"\",\"message\":\"\",\"lastTransitionAt\":\"2026-01-01T00:00:00Z\"},"
SANDBOX_JSON+="\"createdAt\":\"2026-01-01T00:00:00Z\",\"expiresAt\":\"2099-12-31T23:59:59Z\"}"
render "$BENCH_DIR/upstream-nginx.conf.in" "$TMP/upstream.conf" \
    TMP="$TMP" UPSTREAM_PORT="$UPSTREAM_PORT" USER_LINE="$USER_LINE" \
    BENCH_SANDBOX_ID="$SBX_ID" BENCH_SANDBOX_JSON="$SANDBOX_JSON"
cp "$TMP/upstream.conf" "$OUT_DIR/upstream-nginx.conf"
start_nginx upstream "$TMP/upstream.conf" "${LOAD_CPU[@]}"
UPSTREAM_PID="$STARTED_PID"
wait_proxied "$UPSTREAM_PID" "http://127.0.0.1:$UPSTREAM_PORT$BENCH_PATH" ||
    die "upstream nginx did not start (see $TMP/upstream/error.log)"

# BENCH_MAIN=0 skips the nginx/haproxy/sandgate comparison (e.g. to run only the tenancy path and port tokens).
SANDGATE_STATUS=skipped
SANDGATE_REASON="BENCH_MAIN=0"
SANDGATE_VERSION="n/a"
if [ "${BENCH_MAIN:-1}" = 1 ]; then
# Direct (no proxy): baseline latency; CPU is the upstream's own.
bench_target direct "$UPSTREAM_PID" "http://127.0.0.1:$UPSTREAM_PORT$BENCH_PATH"

# nginx.
render "$BENCH_DIR/nginx-proxy.conf.in" "$TMP/nginx-proxy.conf" \
    TMP="$TMP" UPSTREAM_PORT="$UPSTREAM_PORT" PROXY_PORT="$PROXY_PORT" USER_LINE="$USER_LINE"
cp "$TMP/nginx-proxy.conf" "$OUT_DIR/nginx-proxy.conf"
start_nginx nginx "$TMP/nginx-proxy.conf" "${PROXY_CPU[@]}"
NGINX_PID="$STARTED_PID"
wait_proxied "$NGINX_PID" "http://127.0.0.1:$PROXY_PORT$BENCH_PATH" ||
    die "nginx proxy did not start (see $TMP/nginx/error.log)"
bench_target nginx "$NGINX_PID" "http://127.0.0.1:$PROXY_PORT$BENCH_PATH"
stop_and_forget "$NGINX_PID"
NOTE[nginx]="access log lines: $(wc -l <"$TMP/nginx/access.log")"

# haproxy.
render "$BENCH_DIR/haproxy.cfg.in" "$TMP/haproxy.cfg" UPSTREAM_PORT="$UPSTREAM_PORT" PROXY_PORT="$PROXY_PORT"
cp "$TMP/haproxy.cfg" "$OUT_DIR/haproxy.cfg"
mkdir -p "$TMP/haproxy"
"$HAPROXY" -q -c -f "$TMP/haproxy.cfg" || die "haproxy rejected $TMP/haproxy.cfg (see above)"
"${PROXY_CPU[@]}" "$HAPROXY" -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy/access.log" 2>"$TMP/haproxy/stderr.log" &
HAPROXY_PID=$!
pids+=("$HAPROXY_PID")
wait_proxied "$HAPROXY_PID" "http://127.0.0.1:$PROXY_PORT$BENCH_PATH" ||
    die "haproxy did not start (see $TMP/haproxy/stderr.log)"
bench_target haproxy "$HAPROXY_PID" "http://127.0.0.1:$PROXY_PORT$BENCH_PATH"
stop_and_forget "$HAPROXY_PID"
NOTE[haproxy]="access log lines: $(wc -l <"$TMP/haproxy/access.log")"

# sandgate.
SANDGATE_STATUS=skipped
SANDGATE_REASON=""
SANDGATE_VERSION="n/a"
if [ ! -x "$SANDGATE_BIN" ]; then
    SANDGATE_REASON="$SANDGATE_BIN does not exist (run 'make build')"
    log "SKIPPING sandgate: $SANDGATE_REASON"
else
    SANDGATE_VERSION="$("$SANDGATE_BIN" --version 2>/dev/null | head -n1 || true)"
    [ -n "$SANDGATE_VERSION" ] || SANDGATE_VERSION="unknown"
    SANDGATE_VERSION="$SANDGATE_VERSION (binary ${SANDGATE_BIN#"$ROOT"/} built $(date -u -r "$SANDGATE_BIN" '+%Y-%m-%d %H:%M UTC'); repository at $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'))"
    SANDGATE_STATUS=failed
    admin_hash="$("$SANDGATE_BIN" hash-key "bench-admin-$(openssl rand -hex 16)" 2>/dev/null || true)"
    tenant_hash="$("$SANDGATE_BIN" hash-key "$TENANT_KEY" 2>/dev/null || true)"
    mkdir -p "$TMP/sandgate"
    if [[ ! "$admin_hash" =~ ^sha256:[0-9a-f]{64}$ || ! "$tenant_hash" =~ ^sha256:[0-9a-f]{64}$ ]]; then
        SANDGATE_REASON="'sandgate hash-key' failed"
    else
        render "$BENCH_DIR/sandgate.yaml.in" "$TMP/sandgate.yaml" TMP="$TMP" UPSTREAM_PORT="$UPSTREAM_PORT" \
            PROXY_PORT="$PROXY_PORT" ADMIN_PORT="$ADMIN_PORT" ADMIN_KEY_HASH="$admin_hash" TENANT_KEY_HASH="$tenant_hash"
        cp "$TMP/sandgate.yaml" "$OUT_DIR/sandgate.yaml"
        if ! "$SANDGATE_BIN" -t -c "$TMP/sandgate.yaml" >"$TMP/sandgate/check.log" 2>&1; then
            cat "$TMP/sandgate/check.log" >&2
            SANDGATE_REASON="sandgate -t rejected the config (see above)"
        else
            "${PROXY_CPU[@]}" "$SANDGATE_BIN" -c "$TMP/sandgate.yaml" >"$TMP/sandgate/stdout.log" 2>&1 &
            SANDGATE_PID=$!
            pids+=("$SANDGATE_PID")
            if wait_proxied "$SANDGATE_PID" "http://127.0.0.1:$PROXY_PORT$SANDGATE_BENCH_PATH" "$SANDGATE_BENCH_HEADER"; then
                bench_target sandgate "$SANDGATE_PID" "http://127.0.0.1:$PROXY_PORT$SANDGATE_BENCH_PATH" "$SANDGATE_BENCH_HEADER"
                stop_and_forget "$SANDGATE_PID"
                SANDGATE_STATUS=ok
                NOTE[sandgate]="access log lines: $(wc -l <"$TMP/sandgate/access.log" 2>/dev/null || echo '?')"
            else
                tail -n 20 "$TMP/sandgate/stdout.log" >&2 || true
                SANDGATE_REASON="GET $SANDGATE_BENCH_PATH through sandgate never returned the upstream's 200 (set SANDGATE_BENCH_PATH / SANDGATE_BENCH_HEADER)"
            fi
        fi
    fi
    [ "$SANDGATE_STATUS" = ok ] || log "sandgate FAILED: $SANDGATE_REASON"
fi
fi
# ---------------------------------------------------------------- tenancy path
# (a) direct, (b) sandgate without tenants, (c) sandgate with a tenant, key-auth
# and Redis; the same request GET /v1/sandboxes/$SBX_ID with the tenant key.
T_PATH="/v1/sandboxes/$SBX_ID"
TEN_STATUS=skipped
TEN_REASON=""
REDIS_PORT=""
REDIS_PID=""
REDIS_VERSION="n/a"
declare -A T_UPX T_RCMD T_RREQ T_RDETAIL
TEN_COLD=""
TEN_WARM=""
TEN_COLD_REDIS=""
TEN_ADOPTION=""
TEN_STORE_AFTER=""
TEN_REDIS_RSS=""
TEN_LOAD_START=""
TEN_LOAD_END=""

rcli() { "$REDIS_CLI" -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# redis_cmdstats: "command calls" per line from INFO commandstats (INFO itself left out).
redis_cmdstats() {
    rcli INFO commandstats 2>/dev/null | tr -d '\r' |
        awk -F'[:=,]' '/^cmdstat_/ { sub(/^cmdstat_/, "", $1); if ($1 != "info") print $1, $3 }'
}

# redis_delta BEFORE AFTER: "total cmd=n cmd=n..." (commands run between the two snapshots).
redis_delta() {
    awk 'NR == FNR { a[$1] = $2; next } { d = $2 - a[$1]; if (d > 0) { t += d; s = s " " $1 "=" d } } END { printf "%d%s\n", t, s }' \
        <(printf '%s\n' "$1") <(printf '%s\n' "$2")
}

# upstream_requests: requests the upstream nginx has handled (stub_status; counts itself).
upstream_requests() {
    curl -s --max-time 2 "http://127.0.0.1:$UPSTREAM_PORT/_bench/status" | awk 'NR == 3 { print $3 }'
}

# tenancy_hook before|after NAME CONNS RUN [REQUESTS]: upstream requests and Redis
# commands during each measured run.
HOOK_UP0=0
HOOK_RS0=""
tenancy_hook() {
    local phase="$1" name="$2" c="$3" req="${5:-0}" up1 rs1 d k
    if [ "$phase" = before ]; then
        HOOK_UP0="$(upstream_requests)"
        HOOK_RS0="$(redis_cmdstats)"
        return 0
    fi
    up1="$(upstream_requests)"
    rs1="$(redis_cmdstats)"
    # minus 1: the "after" status request counts itself
    T_UPX[$name,$c]=$((${T_UPX[$name,$c]:-0} + ${up1:-0} - ${HOOK_UP0:-0} - 1 - req))
    T_RREQ[$name,$c]=$((${T_RREQ[$name,$c]:-0} + req))
    read -r d k <<<"$(redis_delta "$HOOK_RS0" "$rs1")"
    T_RCMD[$name,$c]=$((${T_RCMD[$name,$c]:-0} + d))
    if [ -n "${k:-}" ]; then T_RDETAIL[$name,$c]="${T_RDETAIL[$name,$c]:-}${T_RDETAIL[$name,$c]:+; }run $4: $k"; fi
    log "$name c=$c run $4: $d Redis command(s) for $req requests${k:+ ($k)}; upstream saw $((${up1:-0} - ${HOOK_UP0:-0} - 1)) requests"
}

# wait_backend_up ADMIN_KEY [ADMIN_PORT]: until sandgate's admin API reports its backend up (15 s).
wait_backend_up() {
    local key="$1" port="${2:-$ADMIN_PORT}"
    for _ in $(seq 75); do
        if curl -s --max-time 2 -H "Authorization: Bearer $key" "http://127.0.0.1:$port/admin/v1/backends" |
            grep -q '"state": *"up"'; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# start_sandgate CONF DIR: starts sandgate (placed like the proxy); sets STARTED_PID.
start_sandgate() {
    local conf="$1" dir="$2"
    if ! "$SANDGATE_BIN" -t -c "$conf" >"$dir/check.log" 2>&1; then
        cat "$dir/check.log" >&2
        return 1
    fi
    "${PROXY_CPU[@]}" "$SANDGATE_BIN" -c "$conf" >"$dir/stdout.log" 2>&1 &
    STARTED_PID=$!
    pids+=("$STARTED_PID")
}

# access_summary FILE: "N lines, M not 200".
access_summary() {
    awk '{ n++; if ($0 !~ /"status":200[,}]/) bad++ } END { printf "%d lines, %d not 200\n", n, bad }' "$1" 2>/dev/null || echo "?"
}

# seed_key: the tenant key in Redis only ({prefix}key:{sha256 hex}, docs/STORE.md).
seed_key() {
    local hex="${TENANT_KEY_HASH_T#sha256:}"
    [ "$(rcli HSET "${REDIS_PREFIX}key:$hex" tenant "$TENANT_ID" expires_at_ms 0 revoked 0)" = 3 ] ||
        [ "$(rcli HGET "${REDIS_PREFIX}key:$hex" tenant)" = "$TENANT_ID" ]
}

# run_port_tokens PID: GET /sandboxes/$SBX_ID/port/8080/bench through sandgate (c), authenticated by the tenant
# key, then by the token that GET .../endpoints/8080 returned in Endpoint.headers; same process, same upstream.
TOK_REASON=""
run_port_tokens() {
    local pid="$1" purl="http://127.0.0.1:$PROXY_PORT/sandboxes/$SBX_ID/port/8080/bench" tok k t
    tok="$(curl -s -H "$T_HEADER" "http://127.0.0.1:$PROXY_PORT/v1/sandboxes/$SBX_ID/endpoints/8080" |
        sed -n 's/.*"X-Sandgate-Token":"\([^"]*\)".*/\1/p')"
    if [ -z "$tok" ]; then
        TOK_REASON="GET /v1/sandboxes/$SBX_ID/endpoints/8080 returned no X-Sandgate-Token"
        return 1
    fi
    k="$(curl -s -o /dev/null -w '%{http_code}' -H "$T_HEADER" "$purl")"
    t="$(curl -s -o /dev/null -w '%{http_code}' -H "X-Sandgate-Token: $tok" "$purl")"
    if [ "$k" != 200 ] || [ "$t" != 200 ]; then
        TOK_REASON="port traffic answered $k with the key and $t with the token (expected 200 and 200)"
        return 1
    fi
    local saved=("${VERIFY_ARGS[@]}")
    VERIFY_ARGS=() # the port answer is the upstream's catch-all, not the sandbox JSON
    bench_ab tn-port-token "X-Sandgate-Token: $tok" tn-port-key "$T_HEADER" "$pid" "$purl"
    VERIFY_ARGS=("${saved[@]}")
    return 0
}

# run_port_signed PID: (f) GET /sandboxes/$SBX_ID/port/8080/bench through sandgate (c), authenticated by the cookie
# that the first visit of a signed URL sets (GET .../endpoints/8080?expires=now+1h gives .../port/8080-<e36>-<sig>;
# a browser then sends Cookie: sg_access=<e36>-<sig> on the unsigned path), then by the access token of
# Endpoint.headers; same process, same upstream, pairs in turn (ab_pairs key "signed"). Its own, shorter
# duration, repeat and connection counts (BENCH_SIGNED_*).
SIGNED_REASON=""
SIGNED_C=""
run_port_signed() {
    local pid="$1" purl="http://127.0.0.1:$PROXY_PORT/sandboxes/$SBX_ID/port/8080/bench" ep seg tok c t n exp
    local ep_url="http://127.0.0.1:$PROXY_PORT/v1/sandboxes/$SBX_ID/endpoints/8080"
    tok="$(curl -s -H "$T_HEADER" "$ep_url" | sed -n 's/.*"X-Sandgate-Token":"\([^"]*\)".*/\1/p')"
    exp=$(($(date +%s) + 3600))
    ep="$(curl -s -H "$T_HEADER" "$ep_url?expires=$exp" | sed -n 's/.*"endpoint":"\([^"]*\)".*/\1/p')"
    seg="${ep##*/port/8080-}"
    if [ -z "$tok" ] || [[ ! "$seg" =~ ^[0-9a-z]{1,13}-[0-9a-z]{12}$ ]]; then
        SIGNED_REASON="GET .../endpoints/8080 gave token '${tok:0:12}...' and signed endpoint '$ep' (expected .../port/8080-<e36>-<sig>)"
        return 1
    fi
    c="$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: sg_access=$seg" "$purl")"
    t="$(curl -s -o /dev/null -w '%{http_code}' -H "X-Sandgate-Token: $tok" "$purl")"
    n="$(curl -s -o /dev/null -w '%{http_code}' "$purl")"
    if [ "$c" != 200 ] || [ "$t" != 200 ] || [ "$n" != 401 ]; then
        SIGNED_REASON="port traffic answered $c with the cookie, $t with the token, $n with neither (expected 200, 200, 401)"
        return 1
    fi
    local saved=("${VERIFY_ARGS[@]}") conns=("${CONNS[@]}") dur="$DURATION" rep="$REPEAT"
    VERIFY_ARGS=() # the port answer is the upstream's catch-all, not the sandbox JSON
    CONNS=("${SIGNED_CONNS[@]}")
    DURATION="$SIGNED_DURATION"
    REPEAT="$SIGNED_REPEAT"
    SIGNED_C="${CONNS[${#CONNS[@]}-1]}"
    ab_pairs signed 1 tn-signed-cookie "$pid" "$purl" "Cookie: sg_access=$seg" tn-signed-token "$pid" "$purl" "X-Sandgate-Token: $tok"
    VERIFY_ARGS=("${saved[@]}")
    CONNS=("${conns[@]}")
    DURATION="$dur"
    REPEAT="$rep"
    return 0
}

# (e) the rate-limit plugin (issue 9) on the tenancy path: the (c) config with rate-limit after key-auth and one limit
# per tenant that no request reaches (so every request is counted and allowed), in each mode; one sandgate process per
# mode, same upstream, same Redis.
# BENCH_RL_MODES: which modes (e) measures; "none" is the control: the same process without the plugin, measured the same
# way, which shows what the pairing itself reads for two identical processes (ideally 1.00)
read -r -a RL_MODES <<<"${BENCH_RL_MODES:-local redis batched}"
RL_SYNC="${BENCH_RL_SYNC:-100ms}"
RL_REASON=""
rl_plugin_yaml() { # rl_plugin_yaml MODE: the plugin entry, indented for the top-level plugins list
    local mode="$1"
    [ "$mode" != none ] || return 0
    echo "  - name: rate-limit"
    echo "    config:"
    case "$mode" in
    local) echo "      mode: local" ;;
    redis) echo "      mode: redis" ;;
    batched) printf '      mode: redis\n      sync_interval: %s\n' "$RL_SYNC" ;;
    esac
    echo "      limits:"
    echo "        - {name: bench, route: lifecycle, by: [tenant], rate: 1000000000, per: 1s}"
}
# start_rl MODE PORT ADMIN_PORT: a tenant-path sandgate with the rate-limit plugin in MODE ("none": without it) on PORT;
# sets STARTED_PID, or RL_REASON and returns 1.
start_rl() {
    local mode="$1" port="$2" admin="$3" dir="$TMP/rl-$1-$2" url="http://127.0.0.1:$2$T_PATH" hdrs want=5 pid
    mkdir -p "$dir/sandgate"
    render "$BENCH_DIR/sandgate-tenancy.yaml.in" "$dir/base.yaml" TMP="$dir" UPSTREAM_PORT="$UPSTREAM_PORT" \
        PROXY_PORT="$port" ADMIN_PORT="$admin" ADMIN_KEY_HASH="$TEN_ADMIN_HASH" BACKEND_API_KEY=bench-backend-key \
        TENANT_ID="$TENANT_ID" REDIS_PORT="$REDIS_PORT" REDIS_PREFIX="$REDIS_PREFIX" KEY_POSITIVE_TTL="$KEY_TTL" \
        RECONCILE_INTERVAL="$RECONCILE"
    # the plugin goes right after key-auth's entry (its positive_ttl line)
    rl_plugin_yaml "$mode" >"$dir/plugin.yaml"
    sed "/positive_ttl:/r $dir/plugin.yaml" "$dir/base.yaml" >"$dir/sandgate.yaml"
    cp "$dir/sandgate.yaml" "$OUT_DIR/sandgate-ratelimit-$mode.yaml"
    start_sandgate "$dir/sandgate.yaml" "$dir/sandgate" || {
        RL_REASON="sandgate -t rejected $dir/sandgate.yaml"
        return 1
    }
    pid="$STARTED_PID"
    wait_backend_up "$TEN_ADMIN_KEY" "$admin" && wait_proxied "$pid" "$url" "$T_HEADER" || {
        tail -n 20 "$dir/sandgate/stdout.log" >&2 || true
        RL_REASON="($mode): GET $T_PATH through sandgate never returned the upstream's 200"
        stop_and_forget "$pid"
        return 1
    }
    [ "$mode" != none ] || want=0
    hdrs="$(curl -s -D - -o /dev/null -H "$T_HEADER" "$url" | tr -d '\r' | grep -ic '^ratelimit' || true)"
    if [ "$hdrs" != "$want" ]; then
        RL_REASON="($mode): the response carries $hdrs RateLimit fields, not $want"
        stop_and_forget "$pid"
        return 1
    fi
    STARTED_PID="$pid"
}

# run_ratelimit: per mode, two fresh processes with the same config but for the plugin, side by side, measured in turn
# (a process started earlier and already loaded reads cheaper: with the (c) process as the reference, the control
# "none" read 1.11). Mode "none" is that control: two identical processes.
run_ratelimit() {
    local mode pid ref rl_port rl_admin ref_port ref_admin
    rl_port="$(free_port 18750 "$UPSTREAM_PORT" "$PROXY_PORT" "$ADMIN_PORT" "$REDIS_PORT")"
    rl_admin="$(free_port 18760 "$UPSTREAM_PORT" "$PROXY_PORT" "$ADMIN_PORT" "$REDIS_PORT" "$rl_port")"
    ref_port="$(free_port 18770 "$UPSTREAM_PORT" "$PROXY_PORT" "$ADMIN_PORT" "$REDIS_PORT" "$rl_port" "$rl_admin")"
    ref_admin="$(free_port 18780 "$UPSTREAM_PORT" "$PROXY_PORT" "$ADMIN_PORT" "$REDIS_PORT" "$rl_port" "$rl_admin" "$ref_port")"
    for mode in "${RL_MODES[@]}"; do
        start_rl none "$ref_port" "$ref_admin" || return 1
        ref="$STARTED_PID"
        start_rl "$mode" "$rl_port" "$rl_admin" || {
            stop_and_forget "$ref"
            return 1
        }
        pid="$STARTED_PID"
        bench_ab_procs "rl-$mode" "tn-rl-$mode" "$pid" "http://127.0.0.1:$rl_port$T_PATH" "tn-tenancy-ref-$mode" "$ref" \
            "http://127.0.0.1:$ref_port$T_PATH" "$T_HEADER"
        stop_and_forget "$pid"
        stop_and_forget "$ref"
        NOTE[tn-rl-$mode]="access log: $(access_summary "$TMP/rl-$mode-$rl_port/sandgate/access.log")"
        cp "$TMP/rl-$mode-$rl_port/sandgate/stdout.log" "$OUT_DIR/sandgate-ratelimit-$mode.log"
    done
    return 0
}

run_tenancy() {
    local url_a="http://127.0.0.1:$UPSTREAM_PORT$T_PATH" url="http://127.0.0.1:$PROXY_PORT$T_PATH" pid before after
    TEN_ADMIN_KEY="bench-admin-$(openssl rand -hex 16)"
    TEN_ADMIN_HASH="$("$SANDGATE_BIN" hash-key "$TEN_ADMIN_KEY" 2>/dev/null || true)"
    TENANT_KEY_HASH_T="$("$SANDGATE_BIN" hash-key "$TENANT_KEY" 2>/dev/null || true)"
    if [[ ! "$TEN_ADMIN_HASH" =~ ^sha256:[0-9a-f]{64}$ || ! "$TENANT_KEY_HASH_T" =~ ^sha256:[0-9a-f]{64}$ ]]; then
        TEN_REASON="'sandgate hash-key' failed"
        return 1
    fi

    # Redis, in memory only, on CPU 0 with the upstream and wrk (start_redis: bench/tls.sh)
    if ! start_redis; then
        TEN_REASON="redis-server did not start (see $TMP/redis/redis.log)"
        return 1
    fi
    seed_key || {
        TEN_REASON="could not store the tenant key in Redis"
        return 1
    }

    GROUP=tenancy
    RUN_HOOK=tenancy_hook
    VERIFY_ARGS=("$SBX_ID")

    # (a) direct
    if [ "$SIGNED_ONLY" != 1 ]; then bench_target tn-direct "$UPSTREAM_PID" "$url_a" "$T_HEADER"; fi

    # (b) plain proxy: the config of the sandgate run above, no tenants
    mkdir -p "$TMP/plain/sandgate"
    render "$BENCH_DIR/sandgate.yaml.in" "$TMP/plain/sandgate.yaml" TMP="$TMP/plain" UPSTREAM_PORT="$UPSTREAM_PORT" \
        PROXY_PORT="$PROXY_PORT" ADMIN_PORT="$ADMIN_PORT" ADMIN_KEY_HASH="$TEN_ADMIN_HASH" TENANT_KEY_HASH="$TENANT_KEY_HASH_T"
    cp "$TMP/plain/sandgate.yaml" "$OUT_DIR/sandgate-plain.yaml"
    start_sandgate "$TMP/plain/sandgate.yaml" "$TMP/plain/sandgate" || {
        TEN_REASON="sandgate -t rejected $TMP/plain/sandgate.yaml"
        return 1
    }
    pid="$STARTED_PID"
    wait_proxied "$pid" "$url" "$T_HEADER" || {
        tail -n 20 "$TMP/plain/sandgate/stdout.log" >&2 || true
        TEN_REASON="(b): GET $T_PATH through sandgate never returned the upstream's 200"
        return 1
    }
    if [ "$SIGNED_ONLY" != 1 ]; then bench_target tn-plain "$pid" "$url" "$T_HEADER"; fi
    stop_and_forget "$pid"
    NOTE[tn-plain]="access log: $(access_summary "$TMP/plain/sandgate/access.log")"

    # (c) auth + routing: tenant, key-auth, Redis store
    mkdir -p "$TMP/tenancy/sandgate"
    render "$BENCH_DIR/sandgate-tenancy.yaml.in" "$TMP/tenancy/sandgate.yaml" TMP="$TMP/tenancy" UPSTREAM_PORT="$UPSTREAM_PORT" \
        PROXY_PORT="$PROXY_PORT" ADMIN_PORT="$ADMIN_PORT" ADMIN_KEY_HASH="$TEN_ADMIN_HASH" BACKEND_API_KEY=bench-backend-key \
        TENANT_ID="$TENANT_ID" REDIS_PORT="$REDIS_PORT" REDIS_PREFIX="$REDIS_PREFIX" KEY_POSITIVE_TTL="$KEY_TTL" \
        RECONCILE_INTERVAL="$RECONCILE"
    cp "$TMP/tenancy/sandgate.yaml" "$OUT_DIR/sandgate-tenancy.yaml"
    start_sandgate "$TMP/tenancy/sandgate.yaml" "$TMP/tenancy/sandgate" || {
        TEN_REASON="sandgate -t rejected $TMP/tenancy/sandgate.yaml"
        return 1
    }
    pid="$STARTED_PID"
    wait_backend_up "$TEN_ADMIN_KEY" || {
        tail -n 20 "$TMP/tenancy/sandgate/stdout.log" >&2 || true
        TEN_REASON="(c): sandgate never reported its backend up"
        return 1
    }
    # The first request: key not cached (Redis lookup), sandbox unknown to the
    # store (Redis miss) -> adoption probe of the backend -> store write -> proxied.
    # (Reconciliation could adopt it first: it starts 2 s after sandgate.)
    if [ "$(rcli EXISTS "${REDIS_PREFIX}sbx:$SBX_ID")" = 0 ]; then
        TEN_ADOPTION="not in the store (store miss, then adoption probe)"
    else
        TEN_ADOPTION="already in the store (reconciliation adopted it first)"
    fi
    before="$(redis_cmdstats)"
    TEN_COLD="$(curl -s -o "$OUT_DIR/tenancy-first-response.json" -w '%{http_code} %{time_total}' -H "$T_HEADER" "$url" |
        awk '{ printf "HTTP %s in %.3f ms\n", $1, $2 * 1000 }' || true)"
    sleep 0.3 # the adoption write is not awaited by the request
    after="$(redis_cmdstats)"
    TEN_COLD_REDIS="$(redis_delta "$before" "$after")"
    TEN_WARM="$(for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H "$T_HEADER" "$url"; done |
        sort -k2 -n | awk 'NR == 3 { printf "HTTP %s in %.3f ms\n", $1, $2 * 1000 }')"
    log "(c) first request: ${TEN_COLD} (sandbox $TEN_ADOPTION; Redis: $TEN_COLD_REDIS); warm (median of 5 curls): $TEN_WARM"
    wait_proxied "$pid" "$url" "$T_HEADER" || {
        tail -n 20 "$TMP/tenancy/sandgate/stdout.log" >&2 || true
        TEN_REASON="(c): GET $T_PATH through sandgate never returned the upstream's 200"
        return 1
    }
    if [ "$SIGNED_ONLY" != 1 ]; then bench_target tn-tenancy "$pid" "$url" "$T_HEADER"; fi
    # (d) port traffic through the same process: tenant key vs the access token of Endpoint.headers (issue 7)
    if [ "${BENCH_TOKENS:-1}" = 1 ]; then run_port_tokens "$pid" || log "port tokens: $TOK_REASON"; fi
    # (f) port traffic through the same process: a signed URL's cookie vs the access token (issue 10)
    if [ "${BENCH_SIGNED:-1}" = 1 ]; then run_port_signed "$pid" || log "signed URLs: $SIGNED_REASON"; fi
    # (e) the same path with rate limits, each mode measured in turn with this process
    if [ "${BENCH_RATELIMIT:-1}" = 1 ]; then
        RL_STATUS=failed
        if run_ratelimit; then RL_STATUS=ok; else log "rate limits: $RL_REASON"; fi
    fi
    TEN_STORE_AFTER="$(rcli HGETALL "${REDIS_PREFIX}sbx:$SBX_ID" | paste -sd' ')"
    TEN_REDIS_RSS="$(mem_kb VmRSS "$REDIS_PID")"
    stop_and_forget "$pid"
    NOTE[tn-tenancy]="access log: $(access_summary "$TMP/tenancy/sandgate/access.log")"
    if grep -qiE 'error|warn' "$TMP/tenancy/sandgate/stdout.log"; then
        NOTE[tn-tenancy]+="; sandgate log: $(grep -ciE 'error|warn' "$TMP/tenancy/sandgate/stdout.log") warning/error line(s) (see bench/out/sandgate-tenancy.log)"
    fi
    cp "$TMP/tenancy/sandgate/stdout.log" "$OUT_DIR/sandgate-tenancy.log"
    return 0
}

if [ "${BENCH_TENANCY:-1}" != 1 ]; then
    TEN_REASON="BENCH_TENANCY=${BENCH_TENANCY}"
elif [ ! -x "$SANDGATE_BIN" ]; then
    TEN_REASON="$SANDGATE_BIN does not exist (run 'make build')"
elif ! command -v "$REDIS_SERVER" >/dev/null || ! command -v "$REDIS_CLI" >/dev/null; then
    TEN_REASON="redis-server / redis-cli not found (apt-get install redis-server)"
else
    TEN_STATUS=failed
    TEN_LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
    if run_tenancy; then TEN_STATUS=ok; fi
    TEN_LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
fi
GROUP=main
RUN_HOOK=""
VERIFY_ARGS=()
[ "$TEN_STATUS" = ok ] || log "tenancy path $TEN_STATUS: $TEN_REASON"

# ---------------------------------------------------------------- TLS and HTTP/2 (bench/tls.sh)
if [ "${BENCH_TLS:-1}" != 1 ]; then
    TLS_REASON="BENCH_TLS=${BENCH_TLS}"
elif [ ! -x "$SANDGATE_BIN" ]; then
    TLS_REASON="$SANDGATE_BIN does not exist (run 'make build')"
elif ! command -v "$H2LOAD" >/dev/null; then
    TLS_REASON="h2load not found (Debian package nghttp2-client: scripts/install-deps.sh)"
else
    TLS_STATUS=failed
    TLS_LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
    if run_tls; then TLS_STATUS=ok; fi
    TLS_LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
fi
GROUP=main
RUN_HOOK=""
VERIFY_ARGS=()
[ "$TLS_STATUS" = ok ] || log "TLS section $TLS_STATUS: $TLS_REASON"

stop_and_forget "$UPSTREAM_PID"

# ---------------------------------------------------------------- simulator latency
# (a) and (c) again, in front of the OpenSandbox simulator (node) instead of
# the static nginx: realistic latency, one shorter run per connection count.
SIM_STATUS=skipped
SIM_REASON=""
SIM_SBX=""
SIM_VERSION=""

run_sim() {
    local sim_key sim_port line pid sim_pid body id state url_a url
    sim_key="bench-sim-$(openssl rand -hex 8)"
    SIM_VERSION="node $("$NODE" --version 2>/dev/null)"
    sim_port="$(free_port 18740 "$UPSTREAM_PORT" "$PROXY_PORT" "$ADMIN_PORT" "$REDIS_PORT")"
    mkdir -p "$TMP/sim" "$TMP/simgate/sandgate"
    "${LOAD_CPU[@]}" "$NODE" "$ROOT/tests/simulator/server.js" --port "$sim_port" --api-key "$sim_key" --name bench-sim \
        --ready-delay-ms 0 >"$TMP/sim/stdout.log" 2>"$TMP/sim/stderr.log" &
    sim_pid=$!
    pids+=("$sim_pid")
    line=""
    for _ in $(seq 100); do
        line="$(grep -m1 -E '"event" *: *"listening"' "$TMP/sim/stdout.log" || true)"
        [ -n "$line" ] && break
        kill -0 "$sim_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$line" ]; then
        SIM_REASON="the simulator did not start (see $TMP/sim/stderr.log: $(tail -n 3 "$TMP/sim/stderr.log" | tr '\n' ' '))"
        return 1
    fi
    # a clean store: only the tenant key
    rcli FLUSHALL >/dev/null
    seed_key || {
        SIM_REASON="could not store the tenant key in Redis"
        return 1
    }
    render "$BENCH_DIR/sandgate-tenancy.yaml.in" "$TMP/simgate/sandgate.yaml" TMP="$TMP/simgate" UPSTREAM_PORT="$sim_port" \
        PROXY_PORT="$PROXY_PORT" ADMIN_PORT="$ADMIN_PORT" ADMIN_KEY_HASH="$TEN_ADMIN_HASH" BACKEND_API_KEY="$sim_key" \
        TENANT_ID="$TENANT_ID" REDIS_PORT="$REDIS_PORT" REDIS_PREFIX="$REDIS_PREFIX" KEY_POSITIVE_TTL="$KEY_TTL" \
        RECONCILE_INTERVAL="$RECONCILE"
    cp "$TMP/simgate/sandgate.yaml" "$OUT_DIR/sandgate-simulator.yaml"
    start_sandgate "$TMP/simgate/sandgate.yaml" "$TMP/simgate/sandgate" || {
        SIM_REASON="sandgate -t rejected $TMP/simgate/sandgate.yaml"
        return 1
    }
    pid="$STARTED_PID"
    wait_backend_up "$TEN_ADMIN_KEY" || {
        SIM_REASON="sandgate never reported the simulator up"
        return 1
    }
    # create the sandbox through sandgate (so it is tagged and recorded), wait until Running
    body="$(curl -s --max-time 10 -H "$T_HEADER" -H 'Content-Type: application/json' "http://127.0.0.1:$PROXY_PORT/v1/sandboxes" \
        -d '{"image":{"uri":"python:3.11"},"entrypoint":["tail","-f","/dev/null"],"timeout":3600,"resourceLimits":{"cpu":"500m","memory":"512Mi"}}' || true)"
    id="$(grep -o '"id" *: *"[^"]*"' <<<"$body" | head -n1 | sed 's/.*"\([^"]*\)"$/\1/')"
    if [ -z "$id" ]; then
        SIM_REASON="creating a sandbox through sandgate failed: $body"
        return 1
    fi
    SIM_SBX="$id"
    url_a="http://127.0.0.1:$sim_port/v1/sandboxes/$id"
    url="http://127.0.0.1:$PROXY_PORT/v1/sandboxes/$id"
    state=""
    for _ in $(seq 50); do
        state="$(curl -s --max-time 2 -H "$T_HEADER" "$url" | grep -o '"state" *: *"[^"]*"' | head -n1 || true)"
        [[ "$state" == *Running* ]] && break
        sleep 0.1
    done
    if [[ "$state" != *Running* ]]; then
        SIM_REASON="the sandbox $id never got Running through sandgate (last: ${state:-none})"
        return 1
    fi
    curl -s -H "OPEN-SANDBOX-API-KEY: $sim_key" "$url_a" >"$OUT_DIR/simulator-sandbox.json" || true
    grep -q "\"sandgate.io/tenant\" *: *\"$TENANT_ID\"" "$OUT_DIR/simulator-sandbox.json" ||
        log "warning: the simulator's sandbox $id does not carry the tenant tag (see $OUT_DIR/simulator-sandbox.json)"

    local save_d="$DURATION" save_r="$REPEAT"
    DURATION="$SIM_DURATION"
    REPEAT=1
    GROUP=sim
    VERIFY_ARGS=("$id" -)
    bench_target sim-direct "$sim_pid" "$url_a" "OPEN-SANDBOX-API-KEY: $sim_key"
    bench_target sim-tenancy "$pid" "$url" "$T_HEADER"
    DURATION="$save_d"
    REPEAT="$save_r"
    NOTE[sim-tenancy]="access log: $(access_summary "$TMP/simgate/sandgate/access.log") (the create and the state polls included)"
    curl -s -o /dev/null -X DELETE -H "$T_HEADER" "$url" || true
    stop_and_forget "$pid"
    stop_and_forget "$sim_pid"
    return 0
}

if [ "$TEN_STATUS" != ok ]; then
    SIM_REASON="the tenancy path did not run"
elif [ "${BENCH_SIM:-1}" != 1 ]; then
    SIM_REASON="BENCH_SIM=${BENCH_SIM}"
elif ! command -v "$NODE" >/dev/null; then
    SIM_REASON="node not found"
elif [ ! -d "$ROOT/tests/node_modules/ws" ]; then
    SIM_REASON="tests/node_modules missing (cd tests && npm ci)"
else
    SIM_STATUS=failed
    if run_sim; then SIM_STATUS=ok; fi
fi
GROUP=main
VERIFY_ARGS=()
[ "$SIM_STATUS" = ok ] || log "simulator latency run $SIM_STATUS: $SIM_REASON"
if [ -n "$REDIS_PID" ]; then stop_and_forget "$REDIS_PID"; fi

# ---------------------------------------------------------------- report
fmt_ratio() { # fmt_ratio A B: A/B with 2 decimals, "n/a" if either is missing or B <= 0
    awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 <= 0) print "n/a"; else printf "%.2f\n", a / b }'
}
added() { # added TARGET CONNS PCT: proxy latency - direct latency (us)
    local v d
    if [ "$3" = 50 ]; then v="${R_P50[$1,$2]:-}"; d="${R_P50[direct,$2]:-}"; else v="${R_P99[$1,$2]:-}"; d="${R_P99[direct,$2]:-}"; fi
    awk -v a="$v" -v b="$d" 'BEGIN { if (a == "" || b == "") print ""; else printf "%.1f\n", a - b }'
}

# ---- tenancy-path report helpers
label() {
    case "$1" in
    tn-direct) echo "(a) direct" ;;
    tn-plain) echo "(b) plain proxy" ;;
    tn-tenancy) echo "(c) auth + routing" ;;
    tn-port-key) echo "(d) port traffic, tenant key" ;;
    tn-port-token) echo "(d) port traffic, access token" ;;
    tn-signed-cookie) echo "(f) port traffic, signed URL's cookie" ;;
    tn-signed-token) echo "(f) port traffic, access token" ;;
    tn-rl-local) echo "(e) (c) + rate-limit, local" ;;
    tn-rl-redis) echo "(e) (c) + rate-limit, redis" ;;
    tn-rl-batched) echo "(e) (c) + rate-limit, redis + sync_interval" ;;
    sim-direct) echo "(a) direct → simulator" ;;
    sim-tenancy) echo "(c) auth + routing → simulator" ;;
    *) echo "$1" ;;
    esac
}
added_vs() { # added_vs TARGET BASE CONNS PCT: TARGET's percentile minus BASE's (us)
    local v d
    if [ "$4" = 50 ]; then v="${R_P50[$1,$3]:-}"; d="${R_P50[$2,$3]:-}"; else v="${R_P99[$1,$3]:-}"; d="${R_P99[$2,$3]:-}"; fi
    awk -v a="$v" -v b="$d" 'BEGIN { if (a == "" || b == "") print "n/a"; else printf "%.1f\n", a - b }'
}
redis_per_req() { # redis_per_req TARGET CONNS: "cmds/req (total)"
    awk -v n="${T_RCMD[$1,$2]:-}" -v r="${T_RREQ[$1,$2]:-}" 'BEGIN { if (n == "" || r + 0 <= 0) print "n/a"; else if (n + 0 == 0) print "0 (0)"; else printf "%.6f (%d)\n", n / r, n }'
}
rl_cmd_total() { # rl_cmd_total TARGET CONNS CMD: calls of CMD (exact name) in the measured runs of TARGET
    printf ' %s\n' "${T_RDETAIL[$1,$2]:-}" | grep -oE "[ ]$3=[0-9]+" | awk -F= '{ s += $2 } END { print s + 0 }'
}
# rl_round_trips TARGET CONNS: the rate limit's Redis round trips per request. Every pipeline the plugin sends holds, per
# limit, one op on the current window and one on the previous (INCRBY, with PEXPIRE, or GET): with one limit the
# pipelines are (GET + INCRBY) / 2. (c)'s own GET/INCRBY per request (none on a warm cache) is subtracted.
rl_round_trips() {
    local g i r g0 i0 r0
    g="$(rl_cmd_total "$1" "$2" get)" i="$(rl_cmd_total "$1" "$2" incrby)" r="${T_RREQ[$1,$2]:-0}"
    local ref="tn-tenancy-ref-${1#tn-rl-}"
    g0="$(rl_cmd_total "$ref" "$2" get)" i0="$(rl_cmd_total "$ref" "$2" incrby)" r0="${T_RREQ[$ref,$2]:-0}"
    awk -v g="$g" -v i="$i" -v r="$r" -v g0="$g0" -v i0="$i0" -v r0="$r0" 'BEGIN {
        if (r + 0 <= 0) { print "n/a"; exit }
        v = (g + i) / 2 / r - (r0 > 0 ? (g0 + i0) / 2 / r0 : 0)
        printf "%.4f\n", v < 0 ? 0 : v }'
}
rl_report() {
    local m
    echo
    echo "### Rate limits (e)"
    echo
    if [ "${RL_STATUS:-skipped}" != ok ]; then
        echo "- **rate limits ${RL_STATUS:-skipped}**: ${RL_REASON:-BENCH_RATELIMIT=${BENCH_RATELIMIT:-1}}"
        return 0
    fi
    echo "(c) again with the \`rate-limit\` plugin after key-auth (\`bench/out/sandgate-ratelimit-*.yaml\`): one limit per tenant"
    echo "on lifecycle routes (1e9 per second, never reached: every request is counted and allowed), in \`local\` mode (one"
    echo "table and mutex per process), \`redis\` mode (one pipeline per request: INCRBY+PEXPIRE the current window, GET the"
    echo "previous) and \`redis\` with \`sync_interval: $RL_SYNC\` (one pipeline per worker thread and interval). Each is its own"
    echo "process, started together with a reference process of the same config without the plugin and measured in turn"
    echo "with it (A B, B A, ...): *CPU per request* is the median of the run-by-run ratios, (min–max) in brackets, so that"
    echo "the machine's drift hits both alike. \`BENCH_RL_MODES=\"none ...\"\` adds the control: two identical processes."
    echo "*Round trips/req*: the plugin's pipelines, counted from \`INFO commandstats\` as (GET + INCRBY) / 2 (one op per window"
    echo "and limit in every pipeline), minus (c)'s, divided by the completed requests."
    echo
    echo "| Ratio to (c) | CPU per request (${C_HIGH} conns) | CPU per request (${C_LOW} conn) | Throughput (${C_HIGH} conns) | Round trips/req (${C_HIGH} conns) | Target |"
    echo "|---|---:|---:|---:|---:|---|"
    for m in "${RL_MODES[@]}"; do
        echo "| ratelimit-$m/tenancy | $(abp_range "rl-$m" "$C_HIGH") | $(abp_range "rl-$m" "$C_LOW") | $(fmt_ratio "${R_RPS[tn-rl-$m,$C_HIGH]:-}" "${R_RPS[tn-tenancy-ref-$m,$C_HIGH]:-}") | $(rl_round_trips "tn-rl-$m" "$C_HIGH") | $(case $m in local) echo "≤ 1.05, 0 round trips" ;; redis) echo "≤ 1.3, ≤ 1 round trip" ;; batched) echo "≤ 1.1, ≤ 0.01 round trips" ;; none) echo "control: 1.00 expected" ;; esac) |"
    done
    for m in "${RL_MODES[@]}"; do
        if [ -n "${NOTE[tn-rl-$m]:-}" ]; then echo "- $(label "tn-rl-$m") ${NOTE[tn-rl-$m]}"; fi
        for c in "${CONNS[@]}"; do
            if [ -n "${T_RDETAIL[tn-rl-$m,$c]:-}" ]; then echo "- $(label "tn-rl-$m") Redis commands at $c conn(s), by run: ${T_RDETAIL[tn-rl-$m,$c]}"; fi
        done
    done
}
# group_rows GROUP BASE EXTRA: table rows of a group; EXTRA=1 adds the Redis and upstream columns
group_rows() {
    local group="$1" base="$2" extra="$3" t c a50 a99 more
    for t in ${GROUP_TARGETS[$group]:-}; do
        for c in "${CONNS[@]}"; do
            [ -n "${R_REQ[$t,$c]:-}" ] || continue
            if [ "$t" = "$base" ]; then a50="—"; a99="—"; else a50="$(added_vs "$t" "$base" "$c" 50)"; a99="$(added_vs "$t" "$base" "$c" 99)"; fi
            more=""
            if [ "$extra" = 1 ]; then more=" $(redis_per_req "$t" "$c") | ${T_UPX[$t,$c]:-n/a} |"; fi
            awk -v t="$(label "$t")" -v c="$c" -v rps="${R_RPS[$t,$c]}" -v p50="${R_P50[$t,$c]}" -v p99="${R_P99[$t,$c]}" \
                -v a50="$a50" -v a99="$a99" -v cpu="${R_CPU[$t,$c]}" -v rss="${R_RSS[$t,$c]}" -v hwm="${R_HWM[$t,$c]}" \
                -v req="${R_REQ[$t,$c]}" -v err="${R_ERR[$t,$c]}" -v more="$more" 'BEGIN {
                    printf "| %s | %d | %.0f | %.0f | %.0f | %s | %s | %.2f | %.1f | %.1f | %d | %d |%s\n",
                        t, c, rps, p50, p99, a50, a99, cpu, rss / 1024, hwm / 1024, req, err, more }'
        done
    done
}
tenancy_report() {
    local t c verdict
    echo "What a tenant's call costs on top of plain proxying, measured in the same run on the same upstream."
    echo "Request: \`GET $T_PATH\` with \`OPEN-SANDBOX-API-KEY: <tenant key>\` (the same bytes for every target)."
    echo
    echo "- **(a) direct**: wrk → upstream nginx, which answers the sandbox with a fixed Sandbox JSON of ${#SANDBOX_JSON} bytes"
    echo "  (metadata \`sandgate.io/tenant: $TENANT_ID\`, state Running, \`expiresAt\` 2099; the list \`GET /v1/sandboxes\` holds it too)."
    echo "- **(b) plain proxy**: sandgate without tenants (\`bench/sandgate.yaml.in\`, as in the table above: foundation mode,"
    echo "  \`/v1/*\` proxied to a backend), request-id and access-log plugins."
    echo "- **(c) auth + routing**: sandgate with tenant \`$TENANT_ID\` (in the config with \`keys: []\`), the Redis store and the"
    echo "  request-id, key-auth and access-log plugins (\`bench/sandgate-tenancy.yaml.in\`). The tenant key exists only in Redis"
    echo "  (\`${REDIS_PREFIX}key:<sha256 hex>\` hash: tenant, expires_at_ms 0, revoked 0). Per request: key-auth (SHA-256 of the key,"
    echo "  key cache, \`positive_ttl: $KEY_TTL\`, plugin default 10s) → owner of the sandbox (per-thread cache of 30 s, fixed in"
    echo "  \`gateway/tenancy/ownership.c\`; then the store; then an adoption probe of the backends) → proxied to the owner's backend."
    echo "  Reconciliation every $RECONCILE and health checks every 1 s run in the background (a few Redis commands / upstream requests)."
    echo "- Redis: redis-server $REDIS_VERSION started by \`bench/run.sh\` on a free port (\`--save '' --appendonly no\`), on CPU 0 with"
    echo "  the upstream and wrk$([ -n "$TEN_REDIS_RSS" ] && awk -v r="$TEN_REDIS_RSS" 'BEGIN { printf "; RSS %.1f MiB after (c)", r / 1024 }')."
    echo "- Same load, pinning, runs and medians as above; CPU µs/req is sandgate's (all its threads), for (a) the upstream's."
    echo "- *Redis cmds/req*: \`INFO commandstats\` calls (INFO itself left out) before and after each measured run (the warm-up"
    echo "  already ran), summed over the runs and divided by the completed requests; total in brackets. A MULTI/EXEC block"
    echo "  counts every command in it, so round trips ≤ commands. (a) and (b) do not use Redis: their figure shows that nothing"
    echo "  else talks to it."
    echo "- *Upstream − completed*: requests the upstream handled (nginx \`stub_status\`) minus the requests wrk completed,"
    echo "  summed over the runs: health checks (1/s), reconciliation lists, and requests still in flight when wrk stopped"
    echo "  (≤ connections per run). Far below the request count = every counted 200 was really answered by the upstream."
    echo "- Added latency: percentile minus (a)'s at the same connection count."
    echo
    echo "| Target | Conns | Requests/s | p50 µs | p99 µs | Added p50 µs | Added p99 µs | CPU µs/req | RSS MiB | Peak RSS MiB | Requests | Errors | Redis cmds/req (total) | Upstream − completed |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    group_rows tenancy tn-direct 1
    echo
    for t in tn-direct tn-plain tn-tenancy; do
        verdict="${R_VERIFY[$t]:-}"
        echo "- $(label "$t") warm-up check (\`bench/verify.lua\`, every response): ${verdict:-no verdict}"
    done
    for t in tn-plain tn-tenancy; do
        if [ -n "${NOTE[$t]:-}" ]; then echo "- $(label "$t") ${NOTE[$t]}"; fi
    done
    echo "- (c) first request after start (curl, connection setup included): ${TEN_COLD:-n/a}; the sandbox was $TEN_ADOPTION;"
    echo "  Redis commands it caused: ${TEN_COLD_REDIS:-n/a} (total, then by command). A warm request measured the same way:"
    echo "  ${TEN_WARM:-n/a} (median of 5)."
    echo "- Store record of the sandbox after (c): \`${TEN_STORE_AFTER:-none}\`"
    echo "- Load average at the start / end of the tenancy section: $TEN_LOAD_START / ${TEN_LOAD_END:-?}$(awk -v l="${TEN_LOAD_START%% *}" -v n="$NCPU" 'BEGIN { if (l + 0 > 0.5) printf " (other processes shared the %d CPUs: p99 at many connections is mostly scheduling noise; CPU µs/req holds up better)", n }')"
    for c in "${CONNS[@]}"; do
        if [ -n "${T_RDETAIL[tn-tenancy,$c]:-}" ]; then echo "- (c) Redis commands at $c conn(s), by run: ${T_RDETAIL[tn-tenancy,$c]}"; fi
    done
    echo
    echo "| Ratio | CPU per request (${C_HIGH} conns) | CPU per request (${C_LOW} conn) | Throughput (${C_HIGH} conns) |"
    echo "|---|---:|---:|---:|"
    echo "| tenancy/plain ((c)/(b)) | $(fmt_ratio "${R_CPU[tn-tenancy,$C_HIGH]:-}" "${R_CPU[tn-plain,$C_HIGH]:-}") | $(fmt_ratio "${R_CPU[tn-tenancy,$C_LOW]:-}" "${R_CPU[tn-plain,$C_LOW]:-}") | $(fmt_ratio "${R_RPS[tn-tenancy,$C_HIGH]:-}" "${R_RPS[tn-plain,$C_HIGH]:-}") |"
    if [ -n "${R_ABP[ab,$C_HIGH]:-}" ]; then
        echo "| token/key ((d), medians of the targets) | $(fmt_ratio "${R_CPU[tn-port-token,$C_HIGH]:-}" "${R_CPU[tn-port-key,$C_HIGH]:-}") | $(fmt_ratio "${R_CPU[tn-port-token,$C_LOW]:-}" "${R_CPU[tn-port-key,$C_LOW]:-}") | $(fmt_ratio "${R_RPS[tn-port-token,$C_HIGH]:-}" "${R_RPS[tn-port-key,$C_HIGH]:-}") |"
        echo
        echo "(d) was measured in turn (token, key; key, token; ...), $REPEAT pairs per connection count, so that the"
        echo "machine's drift hits both alike. CPU per request token/key, pair by pair: ${C_HIGH} connections median"
        echo "$(abp_range ab "$C_HIGH"); ${C_LOW} connection median $(abp_range ab "$C_LOW"). Target: ≤ 1.05 (the printed line is the"
        echo "median pair ratio at ${C_HIGH} connections)."
    fi
    if [ -n "${R_ABP[signed,$SIGNED_C]:-}" ]; then
        echo
        echo "(f) port traffic on \`/sandboxes/$SBX_ID/port/8080/bench\` with the cookie a signed URL leaves in a browser"
        echo "(\`Cookie: sg_access=<e36>-<sig>\`, minted by \`GET .../endpoints/8080?expires=now+1h\`) against the same requests"
        echo "with \`X-Sandgate-Token\`, same process, measured in turn: $SIGNED_REPEAT pairs of ${SIGNED_DURATION}s at"
        echo "${SIGNED_CONNS[*]} connection(s). CPU per request cookie/token, pair by pair: median $(abp_range signed "$SIGNED_C")"
        echo "at $SIGNED_C connections (target: within 5 %)."
    fi
    echo
    echo "| Latency added (µs) | p50 (${C_LOW} conn) | p99 (${C_LOW} conn) | p50 (${C_HIGH} conns) | p99 (${C_HIGH} conns) |"
    echo "|---|---:|---:|---:|---:|"
    echo "| by plain proxying ((b) − (a)) | $(added_vs tn-plain tn-direct "$C_LOW" 50) | $(added_vs tn-plain tn-direct "$C_LOW" 99) | $(added_vs tn-plain tn-direct "$C_HIGH" 50) | $(added_vs tn-plain tn-direct "$C_HIGH" 99) |"
    echo "| by auth + routing ((c) − (b)) | $(added_vs tn-tenancy tn-plain "$C_LOW" 50) | $(added_vs tn-tenancy tn-plain "$C_LOW" 99) | $(added_vs tn-tenancy tn-plain "$C_HIGH" 50) | $(added_vs tn-tenancy tn-plain "$C_HIGH" 99) |"
    echo "| in all ((c) − (a)) | $(added_vs tn-tenancy tn-direct "$C_LOW" 50) | $(added_vs tn-tenancy tn-direct "$C_LOW" 99) | $(added_vs tn-tenancy tn-direct "$C_HIGH" 50) | $(added_vs tn-tenancy tn-direct "$C_HIGH" 99) |"
    echo
    local r
    r="$(fmt_ratio "${R_CPU[tn-tenancy,$C_HIGH]:-}" "${R_CPU[tn-plain,$C_HIGH]:-}")"
    echo "Target: (c)/(b) CPU per request ≤ 1.5 at ${C_HIGH} connections: $r, $(awk -v r="$r" 'BEGIN { if (r == "n/a") print "n/a"; else if (r + 0 <= 1.5) print "met"; else print "**not met**" }')."
    echo "Target: 0 Redis round trips per request on a warm cache: $(redis_per_req tn-tenancy "$C_HIGH") commands per request at ${C_HIGH} connections, $(redis_per_req tn-tenancy "$C_LOW") at ${C_LOW}."
    echo "None of the Redis traffic in a measured window is per request; it comes from (1) the key-auth cache entry expiring"
    echo "(every \`positive_ttl\`, here $KEY_TTL), (2) the ownership cache entry expiring (every 30 s), (3) reconciliation (SMEMBERS"
    echo "and one pipelined HGETALL every $RECONCILE). The caches refresh ahead: in the last fifth of an entry's life one request"
    echo "per second renews it while the others keep hitting, so a hot entry costs about one lookup per TTL, not one per busy"
    echo "connection. With the plugin default \`positive_ttl: 10s\` the key lookups recur every 10 s instead of every $KEY_TTL."
    echo
    rl_report
    echo
    echo "### Against the OpenSandbox simulator (realistic latency)"
    echo
    if [ "$SIM_STATUS" != ok ]; then
        echo "- **simulator run $SIM_STATUS**: $SIM_REASON"
        return 0
    fi
    echo "Not comparable with the tables above: the upstream is \`tests/simulator/server.js\` ($SIM_VERSION, one process, on CPU 0"
    echo "with wrk), which builds each Sandbox JSON in JavaScript. One ${SIM_DURATION}s run per connection count after a warm-up."
    echo "The sandbox (\`$SIM_SBX\`) was created through sandgate (so the simulator holds it tagged and the store knows it)."
    echo "(a) sends the simulator's API key; (c) the tenant key (Redis, as above). CPU µs/req: the simulator's for (a), sandgate's for (c)."
    echo
    echo "| Target | Conns | Requests/s | p50 µs | p99 µs | Added p50 µs | Added p99 µs | CPU µs/req | RSS MiB | Peak RSS MiB | Requests | Errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    group_rows sim sim-direct 0
    echo
    for t in sim-direct sim-tenancy; do
        echo "- $(label "$t") warm-up check (200 naming the sandbox): ${R_VERIFY[$t]:-no verdict} (no upstream header check)"
    done
    if [ -n "${NOTE[sim-tenancy]:-}" ]; then echo "- $(label sim-tenancy) ${NOTE[sim-tenancy]}"; fi
}

C_LOW="${CONNS[0]}"
C_HIGH="${CONNS[${#CONNS[@]}-1]}"
cpu_model="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
nginx_version="$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
haproxy_version="$("$HAPROXY" -v 2>/dev/null | head -n1 || echo "n/a (not installed)")"
wrk_version="$("$WRK" -v 2>&1 | head -n1 || true)"

{
    echo "# sandgate benchmark results"
    echo
    echo "Generated by \`bench/run.sh\` (\`make bench\`) on $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo
    echo "## Machine"
    echo
    echo "- CPUs: $NCPU ($cpu_model)"
    echo "- Kernel: $(uname -sr)"
    echo "- OS: $(awk -F= '$1 == "PRETTY_NAME" { gsub(/"/, "", $2); print $2 }' /etc/os-release)"
    echo "- Memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "- Load average at start / end: $LOADAVG_START / $(cut -d' ' -f1-3 /proc/loadavg) (other activity skews the figures)"
    echo
    echo "## Versions"
    echo
    echo "- sandgate: $SANDGATE_VERSION"
    echo "- nginx: $nginx_version (Debian nginx-light; also the upstream)"
    echo "- haproxy: $haproxy_version"
    echo "- wrk: $wrk_version"
    echo
    echo "## Method"
    echo
    echo "- Every proxy runs with **one worker** (nginx \`worker_processes 1\`, haproxy \`nbthread 1\`,"
    echo "  sandgate \`workers: 1\`): figures are per core."
    if [ "$PIN" -eq 1 ]; then
        echo "- CPU pinning (\`taskset\`): the upstream and wrk always on CPU 0. At 1 connection the proxy"
        echo "  is on CPU 0 too: the request chain then runs without cross-CPU wake-ups (tens of µs each on"
        echo "  virtual machines, which would swamp the proxy's own cost), so *added latency at 1 connection*"
        echo "  is the proxy's processing time. At more connections the proxy runs alone on CPU 1."
    else
        echo "- No CPU pinning."
    fi
    echo "- Upstream: nginx, 1 worker, fixed 200 response of $(printf 'hello from the benchmark upstream\n' | wc -c) bytes, access log off."
    echo "- All proxies: plain HTTP/1.1, client keep-alive, pooled keep-alive connections to the upstream,"
    echo "  a request id generated, sent upstream and returned, one JSON access-log line per request"
    echo "  written to a file (haproxy: to stdout redirected to a file)."
    echo "- Load: wrk, ${DURATION}s per run after a ${WARMUP}s warm-up, 1 thread at 1 connection, 2 threads otherwise;"
    echo "  $REPEAT run(s) per target and connection count, each figure is the median over the runs."
    echo "- Paths: \`$BENCH_PATH\` for direct/nginx/haproxy; \`$SANDGATE_BENCH_PATH\` for sandgate (port-traffic route)."
    echo "- CPU/req: utime+stime of the proxy's processes (nginx: master + worker) from /proc/PID/stat"
    echo "  during the run, divided by the requests completed. For *direct* it is the upstream's own CPU."
    echo "- RSS / peak: VmRSS / VmHWM after the run, summed over the proxy's processes."
    echo "- Added latency: proxy percentile minus the direct (no proxy) percentile at the same connection count."
    echo
    echo "## Results"
    echo
    echo "| Target | Conns | Requests/s | p50 µs | p99 µs | Added p50 µs | Added p99 µs | CPU µs/req | RSS MiB | Peak RSS MiB | Requests | Errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for t in "${TARGETS[@]}"; do
        for c in "${CONNS[@]}"; do
            if [ "$t" = direct ]; then a50="—"; a99="—"; else a50="$(added "$t" "$c" 50)"; a99="$(added "$t" "$c" 99)"; fi
            awk -v t="$t" -v c="$c" -v rps="${R_RPS[$t,$c]}" -v p50="${R_P50[$t,$c]}" -v p99="${R_P99[$t,$c]}" \
                -v a50="$a50" -v a99="$a99" -v cpu="${R_CPU[$t,$c]}" -v rss="${R_RSS[$t,$c]}" -v hwm="${R_HWM[$t,$c]}" \
                -v req="${R_REQ[$t,$c]}" -v err="${R_ERR[$t,$c]}" 'BEGIN {
                    printf "| %s | %d | %.0f | %.0f | %.0f | %s | %s | %.2f | %.1f | %.1f | %d | %d |\n",
                        t, c, rps, p50, p99, a50, a99, cpu, rss / 1024, hwm / 1024, req, err }'
        done
    done
    echo
    if [ "$SANDGATE_STATUS" != ok ]; then
        echo "- **sandgate $SANDGATE_STATUS**: $SANDGATE_REASON"
    fi
    for t in nginx haproxy sandgate; do
        if [ -n "${NOTE[$t]:-}" ]; then echo "- $t ${NOTE[$t]}"; fi
    done
    echo
    echo "## Ratios"
    echo
    echo "| Ratio | CPU per request (${C_HIGH} conns) | CPU per request (${C_LOW} conn) | Added p50 latency (${C_LOW} conn) | Throughput (${C_HIGH} conns) |"
    echo "|---|---:|---:|---:|---:|"
    for pair in sandgate/nginx sandgate/haproxy haproxy/nginx; do
        a="${pair%/*}"
        b="${pair#*/}"
        echo "| $pair | $(fmt_ratio "${R_CPU[$a,$C_HIGH]:-}" "${R_CPU[$b,$C_HIGH]:-}") | $(fmt_ratio "${R_CPU[$a,$C_LOW]:-}" "${R_CPU[$b,$C_LOW]:-}") | $(fmt_ratio "$(added "$a" "$C_LOW" 50)" "$(added "$b" "$C_LOW" 50)") | $(fmt_ratio "${R_RPS[$a,$C_HIGH]:-}" "${R_RPS[$b,$C_HIGH]:-}") |"
    done
    echo
    echo "Lower is better for CPU and latency ratios; higher is better for throughput."
    echo
    echo "## Tenancy path"
    echo
    if [ "$TEN_STATUS" != ok ]; then
        echo "- **tenancy path $TEN_STATUS**: $TEN_REASON"
    else
        tenancy_report
    fi
    echo
    echo "## TLS and HTTP/2"
    echo
    tls_report
    echo
    echo "Raw wrk outputs and the rendered configs of the last run: \`bench/out/\` (not committed)."
} >"$RESULTS"
log "wrote $RESULTS"

cat "$RESULTS" >&2
echo "tenancy/plain cpu-per-request: $(fmt_ratio "${R_CPU[tn-tenancy,$C_HIGH]:-}" "${R_CPU[tn-plain,$C_HIGH]:-}")"
echo "token/key cpu-per-request: $(if [ -n "${R_ABP[ab,$C_HIGH]:-}" ]; then echo "${R_ABP[ab,$C_HIGH]%% *}"; else echo n/a; fi)"
echo "signed/token cpu-per-request: $(if [ -n "${R_ABP[signed,${SIGNED_C:-x}]:-}" ]; then abp_range signed "$SIGNED_C"; else echo n/a; fi)"
for m in "${RL_MODES[@]}"; do
    echo "ratelimit-$m/tenancy cpu-per-request: $(abp_range "rl-$m" "$C_HIGH")"
done
for m in "${RL_MODES[@]}"; do
    echo "ratelimit-$m redis-round-trips-per-request: $(if [ "${RL_STATUS:-}" = ok ]; then rl_round_trips "tn-rl-$m" "$C_HIGH"; else echo n/a; fi)"
done
tls_lines
headline="$(fmt_ratio "${R_CPU[sandgate,$C_HIGH]:-}" "${R_CPU[nginx,$C_HIGH]:-}")"
echo "sandgate/nginx cpu-per-request: $headline"
[ "$SANDGATE_STATUS" != failed ] && [ "$TEN_STATUS" != failed ] && [ "$TLS_STATUS" != failed ]
