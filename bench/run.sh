#!/usr/bin/env bash
# Reproducible reverse-proxy benchmark: sandgate vs nginx vs haproxy, each with
# ONE worker process/thread (per-core comparison), in front of the same nginx
# upstream that returns a small fixed 200 response, on plain HTTP/1.1 with
# keep-alive on both sides. Writes bench/RESULTS.md; raw wrk outputs and the
# rendered configs go to bench/out/. Last line printed:
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

log() { echo "bench: $*" >&2; }
die() {
    echo "bench: error: $*" >&2
    exit 1
}

# ---------------------------------------------------------------- prerequisites
[ -x "$NGINX" ] || die "nginx not found at $NGINX: run 'scripts/install-deps.sh --bench'"
[ -x "$HAPROXY" ] || die "haproxy not found at $HAPROXY: run 'scripts/install-deps.sh --bench'"
command -v "$WRK" >/dev/null || die "wrk not found: run 'scripts/install-deps.sh --bench'"
for cmd in curl awk taskset timeout pgrep openssl; do
    command -v "$cmd" >/dev/null || die "'$cmd' not found: run 'scripts/install-deps.sh --bench'"
done
[[ "$DURATION" =~ ^[0-9]+$ && "$DURATION" -gt 0 ]] || die "BENCH_DURATION must be a positive integer (seconds)"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be an integer (seconds)"
[[ "$REPEAT" =~ ^[0-9]+$ && "$REPEAT" -gt 0 ]] || die "BENCH_REPEAT must be a positive integer"

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
rm -f "$OUT_DIR"/wrk-*.txt "$OUT_DIR"/*.conf "$OUT_DIR"/*.cfg "$OUT_DIR"/*.yaml

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

# port_in_use PORT: something listens on TCP PORT (any address, v4 or v6).
port_in_use() {
    local hex
    hex="$(printf '%04X' "$1")"
    awk -v h="$hex" 'FNR > 1 { n = split($2, a, ":"); if (a[n] == h && $4 == "0A") found = 1 } END { exit !found }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# free_port START [EXCLUDED...]: first port >= START nobody listens on.
free_port() {
    local p="$1" x
    shift
    while [ "$p" -lt 65535 ]; do
        local taken=0
        for x in "$@"; do [ "$x" = "$p" ] && taken=1; done
        if [ "$taken" -eq 0 ] && ! port_in_use "$p"; then
            echo "$p"
            return 0
        fi
        p=$((p + 1))
    done
    return 1
}

# render TEMPLATE OUT NAME=VALUE...: replaces every @NAME@; fails on leftovers.
render() {
    local tpl="$1" out="$2" content kv
    shift 2
    content="$(cat "$tpl")"
    shopt -u patsub_replacement 2>/dev/null || true
    for kv in "$@"; do
        content="${content//"@${kv%%=*}@"/"${kv#*=}"}"
    done
    if grep -qE '@[A-Z0-9_]+@' <<<"$content"; then
        die "unreplaced placeholders in $tpl: $(grep -oE '@[A-Z0-9_]+@' <<<"$content" | sort -u | tr '\n' ' ')"
    fi
    printf '%s\n' "$content" >"$out"
}

# wait_proxied PID URL [HEADER]: waits up to 30 s until URL answers 200 with
# the upstream's X-Bench-Upstream header (i.e. the request was really proxied).
wait_proxied() {
    local pid="$1" url="$2" hdr="${3:-}" status="" headers
    local args=(-s -o /dev/null -D - --max-time 2)
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

# bench_target NAME PID URL [HEADER]: warm-up, then one measured run per
# connection count, with the CPU time and memory of PID and its children.
bench_target() {
    local name="$1" pid="$2" url="$3" hdr="${4:-}" c i procs t0 t1 f runs req rps p50 p99 err cpu
    TARGETS+=("$name")
    if [ "$WARMUP" -gt 0 ]; then
        local wargs=(-t2 -c16 -d"${WARMUP}s" --timeout 5s)
        [ -n "$hdr" ] && wargs+=(-H "$hdr")
        timeout $((WARMUP + 30)) "${LOAD_CPU[@]}" "$WRK" "${wargs[@]}" "$url" >/dev/null 2>&1 &
        WRK_PID=$!
        wait "$WRK_PID" || true
        WRK_PID=
    fi
    for c in "${CONNS[@]}"; do
        mapfile -t procs < <(tree "$pid")
        [ "$name" = direct ] || place_proxy "$c" "${procs[@]}"
        runs=""
        for i in $(seq "$REPEAT"); do
            f="$OUT_DIR/wrk-$name-c$c-run$i.txt"
            log "$name: $c connection(s), ${DURATION}s (run $i/$REPEAT)"
            t0="$(cpu_ticks "${procs[@]}")"
            run_wrk "$f" "$c" "$url" "$hdr"
            t1="$(cpu_ticks "${procs[@]}")"
            read -r req rps p50 p99 err < <(parse_wrk "$f")
            [ "$req" -gt 0 ] || die "$name: wrk completed no requests (see $f)"
            cpu="$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')"
            runs+="$req $rps $p50 $p99 $err $cpu"$'\n'
        done
        # Per-figure median over the runs (errors: total).
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
        R_RSS[$name,$c]="$(mem_kb VmRSS "${procs[@]}")"
        R_HWM[$name,$c]="$(mem_kb VmHWM "${procs[@]}")"
        log "$name c=$c: $rps req/s, p50 ${p50}us, p99 ${p99}us, $cpu us CPU/req, errors $err"
        [ "$err" -eq 0 ] || log "warning: $name c=$c: $err errors / non-2xx responses (see $OUT_DIR/wrk-$name-c$c-run*.txt)"
    done
}

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

# Upstream.
render "$BENCH_DIR/upstream-nginx.conf.in" "$TMP/upstream.conf" \
    TMP="$TMP" UPSTREAM_PORT="$UPSTREAM_PORT" USER_LINE="$USER_LINE"
cp "$TMP/upstream.conf" "$OUT_DIR/upstream-nginx.conf"
start_nginx upstream "$TMP/upstream.conf" "${LOAD_CPU[@]}"
UPSTREAM_PID="$STARTED_PID"
wait_proxied "$UPSTREAM_PID" "http://127.0.0.1:$UPSTREAM_PORT$BENCH_PATH" ||
    die "upstream nginx did not start (see $TMP/upstream/error.log)"

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
stop_and_forget "$UPSTREAM_PID"

# ---------------------------------------------------------------- report
fmt_ratio() { # fmt_ratio A B: A/B with 2 decimals, "n/a" if either is missing or B <= 0
    awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 <= 0) print "n/a"; else printf "%.2f\n", a / b }'
}
added() { # added TARGET CONNS PCT: proxy latency - direct latency (us)
    local v d
    if [ "$3" = 50 ]; then v="${R_P50[$1,$2]:-}"; d="${R_P50[direct,$2]:-}"; else v="${R_P99[$1,$2]:-}"; d="${R_P99[direct,$2]:-}"; fi
    awk -v a="$v" -v b="$d" 'BEGIN { if (a == "" || b == "") print ""; else printf "%.1f\n", a - b }'
}

C_LOW="${CONNS[0]}"
C_HIGH="${CONNS[${#CONNS[@]}-1]}"
cpu_model="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
nginx_version="$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
haproxy_version="$("$HAPROXY" -v 2>&1 | head -n1)"
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
    echo "Raw wrk outputs and the rendered configs of the last run: \`bench/out/\` (not committed)."
} >"$RESULTS"
log "wrote $RESULTS"

cat "$RESULTS" >&2
headline="$(fmt_ratio "${R_CPU[sandgate,$C_HIGH]:-}" "${R_CPU[nginx,$C_HIGH]:-}")"
echo "sandgate/nginx cpu-per-request: $headline"
[ "$SANDGATE_STATUS" != failed ]
