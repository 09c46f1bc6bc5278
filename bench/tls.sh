# shellcheck shell=bash
# The real client path (issue 11, sourced by bench/run.sh, which defines every helper used here): sandgate and nginx
# terminating TLS with the same ECDSA P-256 certificate (generated in bench/out), in front of the same upstream, in the
# same run:
#   (t0) plain HTTP/1.1 at 1 connection (the main table's configs), sandgate vs nginx in pairs, and direct:
#        "sandgate/nginx c1 cpu-per-request" and "sandgate/nginx c1 added-p50" (pairs resist the drift of a shared
#        machine better than the main table's one-target-after-another runs);
#   (t1) HTTP/1.1 keep-alive over TLS (wrk), sandgate vs nginx, pairs in turn: "sandgate/nginx tls cpu-per-request";
#   (t2) HTTP/2 over TLS (h2load, BENCH_H2_CONNS connections x BENCH_H2_STREAMS streams), the same two processes:
#        "sandgate/nginx h2 cpu-per-request";
#   (t3) the full tenancy chain over TLS (tenant key in Redis, key-auth, owner routing, the rate-limit plugin) vs nginx
#        proxying the same request over TLS: "tenancy-tls/nginx-tls cpu-per-request";
#   (t4) scaling: sandgate with 2 workers vs 1 (TLS, HTTP/1.1), and nginx 2 vs 1 as the machine's reference, the
#        proxies unpinned: "sandgate 2w/1w throughput" (and "nginx 2w/1w throughput").
# Environment (defaults in brackets; short by default, like the signed-URL section):
#   BENCH_TLS           1|0: run this section [1]
#   BENCH_TLS_ONLY      1: run only this section (BENCH_MAIN, BENCH_TENANCY and BENCH_SIM default to 0)
#   BENCH_TLS_CONNS     connection counts of (t1) and (t3) [1 64]
#   BENCH_TLS_DURATION  seconds per measured run [5]
#   BENCH_TLS_REPEAT    pairs per comparison and connection count [3]
#   BENCH_H2_CONNS, BENCH_H2_STREAMS  h2load -c and -m [16, 10]
#   BENCH_TLS_RL_MODE   mode of the rate-limit plugin in (t3): local|redis|batched [local, the plugin's default]
#   BENCH_SCALE_CONNS   connections of (t4) [64]
#   BENCH_TLS_C1        1|0: run (t0) [1]
#   H2LOAD              [h2load]

TLS_STATUS=skipped
TLS_REASON=""
H2LOAD="${H2LOAD:-h2load}"
read -r -a TLS_CONNS <<<"${BENCH_TLS_CONNS:-1 64}"
TLS_DURATION="${BENCH_TLS_DURATION:-5}"
TLS_REPEAT="${BENCH_TLS_REPEAT:-3}"
H2_CONNS="${BENCH_H2_CONNS:-16}"
H2_STREAMS="${BENCH_H2_STREAMS:-10}"
TLS_RL_MODE="${BENCH_TLS_RL_MODE:-local}"
SCALE_CONNS="${BENCH_SCALE_CONNS:-64}"
TLS_C1="${BENCH_TLS_C1:-1}"
TLS_CERT="$OUT_DIR/tls-cert.pem"
TLS_KEY="$OUT_DIR/tls-key.pem"
TLS_LOAD_START=""
TLS_LOAD_END=""
declare -A TLS_PROTO     # target -> "TLSv1.3 TLS_AES_256_GCM_SHA384" (what openssl s_client negotiated)
declare -A H2_REQ H2_RPS H2_MEAN H2_ERR H2_CPU

tls_check_env() {
    [[ "$TLS_DURATION" =~ ^[0-9]+$ && "$TLS_DURATION" -gt 0 ]] || die "BENCH_TLS_DURATION must be a positive integer (seconds)"
    [[ "$TLS_REPEAT" =~ ^[0-9]+$ && "$TLS_REPEAT" -gt 0 ]] || die "BENCH_TLS_REPEAT must be a positive integer"
    [[ "$H2_CONNS" =~ ^[0-9]+$ && "$H2_CONNS" -gt 0 ]] || die "BENCH_H2_CONNS must be a positive integer"
    [[ "$H2_STREAMS" =~ ^[0-9]+$ && "$H2_STREAMS" -gt 0 ]] || die "BENCH_H2_STREAMS must be a positive integer"
    [[ "$SCALE_CONNS" =~ ^[0-9]+$ && "$SCALE_CONNS" -gt 1 ]] || die "BENCH_SCALE_CONNS must be an integer > 1"
    case "$TLS_RL_MODE" in local | redis | batched) ;; *) die "BENCH_TLS_RL_MODE must be local, redis or batched" ;; esac
}

# tls_cert: a fresh self-signed ECDSA P-256 certificate for 127.0.0.1 / localhost in bench/out.
tls_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$TLS_KEY" -out "$TLS_CERT" >/dev/null 2>&1
}

# tls_negotiated NAME PORT: what a default OpenSSL client (as wrk's) negotiates with the listener.
tls_negotiated() {
    TLS_PROTO[$1]="$(openssl s_client -connect "127.0.0.1:$2" -alpn http/1.1 </dev/null 2>/dev/null |
        awk '/^New, / { p = $2; c = $NF } /Server Temp Key:/ { k = $4 $5 } END { printf "%s %s %s", p, c, k }')"
}

# start_nginx_tls NAME PORT WORKERS: nginx with bench/nginx-tls.conf.in; sets STARTED_PID.
start_nginx_tls() {
    local name="$1" port="$2" workers="$3" dir="$TMP/$1"
    mkdir -p "$dir"
    render "$BENCH_DIR/nginx-tls.conf.in" "$dir/nginx.conf" DIR="$dir" UPSTREAM_PORT="$UPSTREAM_PORT" PROXY_PORT="$port" \
        USER_LINE="$USER_LINE" WORKERS="$workers" CERT="$TLS_CERT" KEY="$TLS_KEY"
    cp "$dir/nginx.conf" "$OUT_DIR/$name.conf"
    start_nginx "$name" "$dir/nginx.conf" "${PROXY_CPU[@]}"
}

# tls_yaml IN OUT PORT WORKERS: a rendered sandgate config with TLS (the bench certificate) on its listener and WORKERS.
tls_yaml() {
    awk -v port="$3" -v cert="$TLS_CERT" -v key="$TLS_KEY" -v w="$4" '
        /^workers:/ { print "workers: " w; next }
        { print }
        $0 ~ "^  - address: 127\\.0\\.0\\.1:" port "$" {
            print "    tls:"
            print "      certificates:"
            print "        - {cert: \"" cert "\", key: \"" key "\"}"
        }' "$1" >"$2"
    grep -q "^      certificates:" "$2" || die "tls_yaml: no listener on port $3 in $1"
}

# start_sandgate_tls NAME TEMPLATE PORT ADMIN WORKERS [PLUGIN_YAML]: sandgate on TEMPLATE (sandgate.yaml.in or
# sandgate-tenancy.yaml.in) with TLS; PLUGIN_YAML goes after key-auth's entry. Sets STARTED_PID, returns 1 on failure.
start_sandgate_tls() {
    local name="$1" tpl="$2" port="$3" admin="$4" workers="$5" plugin="${6:-}" dir="$TMP/$1"
    mkdir -p "$dir/sandgate"
    render "$BENCH_DIR/$tpl" "$dir/base.yaml" TMP="$dir" UPSTREAM_PORT="$UPSTREAM_PORT" PROXY_PORT="$port" ADMIN_PORT="$admin" \
        ADMIN_KEY_HASH="$TLS_ADMIN_HASH" TENANT_KEY_HASH="$TENANT_KEY_HASH_T" BACKEND_API_KEY=bench-backend-key \
        TENANT_ID="$TENANT_ID" REDIS_PORT="${REDIS_PORT:-0}" REDIS_PREFIX="$REDIS_PREFIX" KEY_POSITIVE_TTL="$KEY_TTL" \
        RECONCILE_INTERVAL="$RECONCILE"
    if [ -n "$plugin" ]; then
        printf '%s\n' "$plugin" >"$dir/plugin.yaml"
        sed -i "/positive_ttl:/r $dir/plugin.yaml" "$dir/base.yaml"
    fi
    tls_yaml "$dir/base.yaml" "$dir/sandgate.yaml" "$port" "$workers"
    cp "$dir/sandgate.yaml" "$OUT_DIR/$name.yaml"
    start_sandgate "$dir/sandgate.yaml" "$dir/sandgate" || {
        TLS_REASON="sandgate -t rejected $dir/sandgate.yaml"
        return 1
    }
}

# start_redis: the Redis of the tenancy path (run.sh's tenancy section), or of this one when that did not run;
# in memory only, on the load CPU. Sets REDIS_PORT, REDIS_PID, REDIS_VERSION.
start_redis() {
    [ -z "$REDIS_PID" ] || return 0
    REDIS_PORT="$(free_port 18830 "$UPSTREAM_PORT" "$PROXY_PORT" "$ADMIN_PORT")"
    mkdir -p "$TMP/redis"
    "${LOAD_CPU[@]}" "$REDIS_SERVER" --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        --dir "$TMP/redis" --daemonize no --loglevel warning >"$TMP/redis/redis.log" 2>&1 &
    REDIS_PID=$!
    pids+=("$REDIS_PID")
    for _ in $(seq 50); do
        [ "$(rcli PING 2>/dev/null)" = PONG ] && break
        sleep 0.1
    done
    [ "$(rcli PING 2>/dev/null)" = PONG ] || return 1
    REDIS_VERSION="$(rcli INFO server | tr -d '\r' | sed -n 's/^redis_version://p')"
}

# ---------------------------------------------------------------- HTTP/2 (h2load)

# parse_h2load FILE: "requests rps mean_us errors" (errors: requests not succeeded + non-2xx)
parse_h2load() {
    awk '
        function us(v) {
            if (v ~ /us$/) return v + 0
            if (v ~ /ms$/) return v * 1000
            if (v ~ /s$/) return v * 1e6
            return v + 0
        }
        /^finished in / { rps = $4 }
        /^requests: / { total = $2; ok = $8 }
        /^status codes: / { two = $3 }
        /^time for request: / { mean = us($6) }
        END { printf "%d %.2f %.1f %d\n", two, rps, mean, (total - ok) + (ok - two) }
    ' "$1"
}

# measure_h2 NAME RUN URL HEADER PID...: one h2load run; MEASURED = "requests rps mean errors cpu-us/req".
measure_h2() {
    local name="$1" i="$2" url="$3" hdr="$4" f t0 t1 req rps mean err
    shift 4
    f="$OUT_DIR/h2load-$name-run$i.txt"
    local args=(-c "$H2_CONNS" -m "$H2_STREAMS" -t 1 -D "$TLS_DURATION")
    [ -n "$hdr" ] && args+=(-H "$hdr")
    log "$name: h2load ${H2_CONNS}x${H2_STREAMS}, ${TLS_DURATION}s (run $i/$TLS_REPEAT)"
    t0="$(cpu_ticks "$@")"
    timeout $((TLS_DURATION + 30)) "${LOAD_CPU[@]}" "$H2LOAD" "${args[@]}" "$url" >"$f" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || die "h2load failed or timed out against $url (output: $f)"
    WRK_PID=
    t1="$(cpu_ticks "$@")"
    read -r req rps mean err < <(parse_h2load "$f")
    [ "$req" -gt 0 ] || die "$name: h2load completed no 2xx request (see $f)"
    grep -q 'Application protocol: h2' "$f" || die "$name: h2load did not negotiate h2 (see $f)"
    MEASURED="$req $rps $mean $err $(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')"
}

# h2_pairs NAME_A PID_A URL_A HEADER_A NAME_B PID_B URL_B HEADER_B: h2load against A and B in turn (A B, B A, ...);
# medians per target in H2_*, and R_ABP[h2,H2_CONNS] = "median min max" of the pair ratios A/B of CPU per request.
h2_pairs() {
    local na="$1" pa="$2" ua="$3" ha="$4" nb="$5" pb="$6" ub="$7" hb="$8" i la lb ra="" rb="" ratios="" procs_a procs_b
    mapfile -t procs_a < <(tree "$pa")
    mapfile -t procs_b < <(tree "$pb")
    place_proxy "$H2_CONNS" "${procs_a[@]}" "${procs_b[@]}"
    if [ "$WARMUP" -gt 0 ]; then
        local w=(-c "$H2_CONNS" -m "$H2_STREAMS" -t 1 -D "$WARMUP") wa=() wb=()
        [ -z "$ha" ] || wa=(-H "$ha")
        [ -z "$hb" ] || wb=(-H "$hb")
        timeout $((WARMUP + 30)) "${LOAD_CPU[@]}" "$H2LOAD" "${w[@]}" "${wa[@]}" "$ua" >/dev/null 2>&1 || true
        timeout $((WARMUP + 30)) "${LOAD_CPU[@]}" "$H2LOAD" "${w[@]}" "${wb[@]}" "$ub" >/dev/null 2>&1 || true
    fi
    for i in $(seq "$TLS_REPEAT"); do
        if [ $((i % 2)) -eq 1 ]; then
            measure_h2 "$na" "$i" "$ua" "$ha" "${procs_a[@]}"
            la="$MEASURED"
            measure_h2 "$nb" "$i" "$ub" "$hb" "${procs_b[@]}"
            lb="$MEASURED"
        else
            measure_h2 "$nb" "$i" "$ub" "$hb" "${procs_b[@]}"
            lb="$MEASURED"
            measure_h2 "$na" "$i" "$ua" "$ha" "${procs_a[@]}"
            la="$MEASURED"
        fi
        ra+="$la"$'\n'
        rb+="$lb"$'\n'
        ratios+="$(awk -v a="${la##* }" -v b="${lb##* }" 'BEGIN { if (b > 0) printf "%.4f", a / b }')"$'\n'
    done
    local n rows
    for n in "$na" "$nb"; do
        if [ "$n" = "$na" ]; then rows="$ra"; else rows="$rb"; fi
        read -r H2_REQ[$n] H2_RPS[$n] H2_MEAN[$n] H2_ERR[$n] H2_CPU[$n] < <(printf '%s' "$rows" | awk '
            { for (k = 1; k <= 5; k++) v[k, NR] = $k; e += $4 }
            END {
                for (k = 1; k <= 5; k++) {
                    for (i = 1; i <= NR; i++) a[i] = v[k, i]
                    for (i = 2; i <= NR; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
                    m[k] = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
                }
                printf "%d %.2f %.1f %d %.2f\n", m[1], m[2], m[3], e, m[5]
            }')
        log "$n h2: ${H2_RPS[$n]} req/s, mean ${H2_MEAN[$n]}us, ${H2_CPU[$n]} us CPU/req, errors ${H2_ERR[$n]}"
    done
    R_ABP[h2,$H2_CONNS]="$(printf '%s' "$ratios" | sort -g | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.2f %.2f %.2f\n", m, v[1], v[NR] }')"
    log "$na/$nb h2: CPU per request run by run, median min max: ${R_ABP[h2,$H2_CONNS]}"
}

# ---------------------------------------------------------------- the section

# tls_run_pairs KEY NAME_A PID_A URL_A HEADER_A NAME_B PID_B URL_B HEADER_B [CONNS...]: ab_pairs with this section's
# duration, repeat and connection counts (both registered as targets of the "tls" group).
tls_run_pairs() {
    local key="$1" na="$2" pa="$3" ua="$4" ha="$5" nb="$6" pb="$7" ub="$8" hb="$9"
    shift 9
    local conns=("${CONNS[@]}") dur="$DURATION" rep="$REPEAT"
    if [ "$#" -gt 0 ]; then CONNS=("$@"); else CONNS=("${TLS_CONNS[@]}"); fi
    DURATION="$TLS_DURATION"
    REPEAT="$TLS_REPEAT"
    ab_pairs "$key" 1 "$na" "$pa" "$ua" "$ha" "$nb" "$pb" "$ub" "$hb"
    CONNS=("${conns[@]}")
    DURATION="$dur"
    REPEAT="$rep"
}

run_tls() {
    local sg_port sg_admin ng_port ngx sg sg_url ng_url plugin rl
    local tls_p=(18800) # ports chosen so far (free_port exclusions)
    TLS_ADMIN_KEY="bench-admin-$(openssl rand -hex 16)"
    TLS_ADMIN_HASH="$("$SANDGATE_BIN" hash-key "$TLS_ADMIN_KEY" 2>/dev/null || true)"
    TENANT_KEY_HASH_T="$("$SANDGATE_BIN" hash-key "$TENANT_KEY" 2>/dev/null || true)"
    if [[ ! "$TLS_ADMIN_HASH" =~ ^sha256:[0-9a-f]{64}$ || ! "$TENANT_KEY_HASH_T" =~ ^sha256:[0-9a-f]{64}$ ]]; then
        TLS_REASON="'sandgate hash-key' failed"
        return 1
    fi
    tls_cert || {
        TLS_REASON="openssl could not make the ECDSA P-256 certificate"
        return 1
    }
    next_port() { # next_port BASE: a free port not handed out yet
        local p
        p="$(free_port "$1" "$UPSTREAM_PORT" "$PROXY_PORT" "$ADMIN_PORT" "${REDIS_PORT:-0}" "${tls_p[@]}")"
        tls_p+=("$p")
        echo "$p"
    }
    sg_port="$(next_port 18800)"
    sg_admin="$(next_port 18810)"
    ng_port="$(next_port 18820)"
    GROUP=tls

    # (t0) plain HTTP/1.1 at 1 connection: direct, then sandgate and nginx in pairs
    if [ "$TLS_C1" = 1 ]; then
        local conns=("${CONNS[@]}") dur="$DURATION" rep="$REPEAT"
        CONNS=(1)
        DURATION="$TLS_DURATION"
        REPEAT="$TLS_REPEAT"
        bench_target c1-direct "$UPSTREAM_PID" "http://127.0.0.1:$UPSTREAM_PORT$BENCH_PATH"
        CONNS=("${conns[@]}")
        DURATION="$dur"
        REPEAT="$rep"
        mkdir -p "$TMP/c1-nginx/nginx" "$TMP/c1-sandgate/sandgate"
        render "$BENCH_DIR/nginx-proxy.conf.in" "$TMP/c1-nginx/nginx.conf" TMP="$TMP/c1-nginx" UPSTREAM_PORT="$UPSTREAM_PORT" \
            PROXY_PORT="$ng_port" USER_LINE="$USER_LINE"
        start_nginx c1-nginx "$TMP/c1-nginx/nginx.conf" "${PROXY_CPU[@]}"
        ngx="$STARTED_PID"
        render "$BENCH_DIR/sandgate.yaml.in" "$TMP/c1-sandgate/sandgate.yaml" TMP="$TMP/c1-sandgate" UPSTREAM_PORT="$UPSTREAM_PORT" \
            PROXY_PORT="$sg_port" ADMIN_PORT="$sg_admin" ADMIN_KEY_HASH="$TLS_ADMIN_HASH" TENANT_KEY_HASH="$TENANT_KEY_HASH_T"
        start_sandgate "$TMP/c1-sandgate/sandgate.yaml" "$TMP/c1-sandgate/sandgate" || {
            TLS_REASON="sandgate -t rejected $TMP/c1-sandgate/sandgate.yaml"
            return 1
        }
        sg="$STARTED_PID"
        sg_url="http://127.0.0.1:$sg_port$SANDGATE_BENCH_PATH"
        ng_url="http://127.0.0.1:$ng_port$BENCH_PATH"
        wait_proxied "$ngx" "$ng_url" && wait_proxied "$sg" "$sg_url" "$SANDGATE_BENCH_HEADER" || {
            TLS_REASON="(t0): a proxy did not answer the upstream's 200"
            return 1
        }
        tls_run_pairs c1 c1-sandgate "$sg" "$sg_url" "$SANDGATE_BENCH_HEADER" c1-nginx "$ngx" "$ng_url" "" 1
        stop_and_forget "$sg"
        stop_and_forget "$ngx"
    fi

    # (t1) and (t2): plain proxying over TLS, the configs of the main comparison
    start_nginx_tls nginx-tls "$ng_port" 1
    ngx="$STARTED_PID"
    ng_url="https://127.0.0.1:$ng_port$BENCH_PATH"
    wait_proxied "$ngx" "$ng_url" || {
        TLS_REASON="nginx with TLS did not start (see $TMP/nginx-tls/error.log)"
        return 1
    }
    start_sandgate_tls sandgate-tls sandgate.yaml.in "$sg_port" "$sg_admin" 1 || return 1
    sg="$STARTED_PID"
    sg_url="https://127.0.0.1:$sg_port$SANDGATE_BENCH_PATH"
    wait_proxied "$sg" "$sg_url" "$SANDGATE_BENCH_HEADER" || {
        TLS_REASON="GET $SANDGATE_BENCH_PATH through sandgate over TLS never returned the upstream's 200"
        return 1
    }
    tls_negotiated tls-sandgate "$sg_port"
    tls_negotiated tls-nginx "$ng_port"
    tls_run_pairs tls tls-sandgate "$sg" "$sg_url" "$SANDGATE_BENCH_HEADER" tls-nginx "$ngx" "$ng_url" ""
    h2_pairs h2-sandgate "$sg" "$sg_url" "$SANDGATE_BENCH_HEADER" h2-nginx "$ngx" "$ng_url" ""
    stop_and_forget "$sg"
    NOTE[tls-sandgate]="access log: $(access_summary "$TMP/sandgate-tls/sandgate/access.log") (status 0: HTTP/2 streams still open when h2load stops at the end of its duration)"

    # (t3) the tenancy chain over TLS vs nginx proxying the same request over TLS
    if ! command -v "$REDIS_SERVER" >/dev/null || ! start_redis; then
        TLS_REASON="no Redis for the tenancy chain (redis-server)"
        return 1
    fi
    seed_key || {
        TLS_REASON="could not store the tenant key in Redis"
        return 1
    }
    RL_SYNC="${RL_SYNC:-100ms}"
    plugin="$(rl_plugin_yaml "$TLS_RL_MODE")"
    start_sandgate_tls tenancy-tls sandgate-tenancy.yaml.in "$sg_port" "$sg_admin" 1 "$plugin" || return 1
    sg="$STARTED_PID"
    sg_url="https://127.0.0.1:$sg_port$T_PATH"
    if ! wait_backend_up "$TLS_ADMIN_KEY" "$sg_admin" || ! wait_proxied "$sg" "$sg_url" "$T_HEADER"; then
        tail -n 20 "$TMP/tenancy-tls/sandgate/stdout.log" >&2 || true
        TLS_REASON="GET $T_PATH through the tenancy chain over TLS never returned the upstream's 200"
        return 1
    fi
    rl="$(curl -sk -D - -o /dev/null -H "$T_HEADER" "$sg_url" | tr -d '\r' | grep -ic '^ratelimit' || true)"
    [ "$rl" -gt 0 ] || {
        TLS_REASON="the tenancy chain's answer carries no RateLimit field: the plugin is not in the chain"
        return 1
    }
    VERIFY_ARGS=("$SBX_ID")
    RUN_HOOK=tenancy_hook
    tls_run_pairs tenancy-tls tls-tenancy "$sg" "$sg_url" "$T_HEADER" tls-nginx-tenancy "$ngx" "https://127.0.0.1:$ng_port$T_PATH" "$T_HEADER"
    RUN_HOOK=""
    VERIFY_ARGS=()
    stop_and_forget "$sg"
    stop_and_forget "$ngx"
    NOTE[tls-tenancy]="access log: $(access_summary "$TMP/tenancy-tls/sandgate/access.log")"
    cp "$TMP/tenancy-tls/sandgate/stdout.log" "$OUT_DIR/sandgate-tenancy-tls.log"

    # (t4) scaling: 1 and 2 workers, unpinned (wrk and the upstream stay on CPU 0)
    local s1 s2 n1 n2 p2 a2 np2 pin="$PIN"
    p2="$(next_port 18840)"
    a2="$(next_port 18850)"
    np2="$(next_port 18860)"
    start_sandgate_tls sandgate-tls-1w sandgate.yaml.in "$sg_port" "$sg_admin" 1 || return 1
    s1="$STARTED_PID"
    start_sandgate_tls sandgate-tls-2w sandgate.yaml.in "$p2" "$a2" 2 || return 1
    s2="$STARTED_PID"
    start_nginx_tls nginx-tls-1w "$ng_port" 1
    n1="$STARTED_PID"
    start_nginx_tls nginx-tls-2w "$np2" 2
    n2="$STARTED_PID"
    wait_proxied "$s1" "https://127.0.0.1:$sg_port$SANDGATE_BENCH_PATH" "$SANDGATE_BENCH_HEADER" &&
        wait_proxied "$s2" "https://127.0.0.1:$p2$SANDGATE_BENCH_PATH" "$SANDGATE_BENCH_HEADER" &&
        wait_proxied "$n1" "https://127.0.0.1:$ng_port$BENCH_PATH" && wait_proxied "$n2" "https://127.0.0.1:$np2$BENCH_PATH" || {
        TLS_REASON="a scaling target did not start"
        return 1
    }
    local p
    for p in $(tree "$s1") $(tree "$s2") $(tree "$n1") $(tree "$n2"); do
        taskset -a -p -c "0-$((NCPU - 1))" "$p" >/dev/null || die "taskset failed for pid $p"
    done
    PIN=0
    tls_run_pairs scale-sg tls-sandgate-2w "$s2" "https://127.0.0.1:$p2$SANDGATE_BENCH_PATH" "$SANDGATE_BENCH_HEADER" \
        tls-sandgate-1w "$s1" "https://127.0.0.1:$sg_port$SANDGATE_BENCH_PATH" "$SANDGATE_BENCH_HEADER" "$SCALE_CONNS"
    tls_run_pairs scale-ng tls-nginx-2w "$n2" "https://127.0.0.1:$np2$BENCH_PATH" "" \
        tls-nginx-1w "$n1" "https://127.0.0.1:$ng_port$BENCH_PATH" "" "$SCALE_CONNS"
    PIN="$pin"
    for p in "$s1" "$s2" "$n1" "$n2"; do stop_and_forget "$p"; done
    return 0
}

# ---------------------------------------------------------------- report

tls_ratio_line() { # tls_ratio_line KEY CONNS: "median (min–max)" of a pairing, or n/a
    if [ -n "${R_ABP[$1,$2]:-}" ]; then abp_range "$1" "$2"; else echo n/a; fi
}

tls_throughput() { # tls_throughput A B CONNS: ratio of the median throughputs
    fmt_ratio "${R_RPS[$1,$3]:-}" "${R_RPS[$2,$3]:-}"
}

tls_report() {
    local lo="${TLS_CONNS[0]}" hi="${TLS_CONNS[${#TLS_CONNS[@]}-1]}" t
    if [ "$TLS_STATUS" != ok ]; then
        echo "- **TLS section $TLS_STATUS**: ${TLS_REASON:-BENCH_TLS=${BENCH_TLS:-1}}"
        return 0
    fi
    echo "sandgate and nginx terminating TLS with the same self-signed ECDSA P-256 certificate (\`openssl req -newkey ec"
    echo "-pkeyopt ec_paramgen_curve:prime256v1\`, made in \`bench/out/\` by each run), in front of the upstream above."
    echo "One worker each (\`bench/out/nginx-tls.conf\`, \`bench/out/sandgate-tls.yaml\`: the plain configs plus TLS); the"
    echo "proxy pinned as above. Pairs measured in turn (A B, B A, ...), $TLS_REPEAT pairs of ${TLS_DURATION}s per connection"
    echo "count after a ${WARMUP}s warm-up; *CPU per request* ratios are the median of the pair-by-pair ratios, (min–max)."
    echo "Negotiated by a default OpenSSL client: sandgate \`${TLS_PROTO[tls-sandgate]:-?}\`, nginx \`${TLS_PROTO[tls-nginx]:-?}\`."
    echo
    echo "- **(t0) plain HTTP/1.1 at 1 connection**: the main table's nginx and sandgate configs, measured in pairs (the"
    echo "  same proxies, pinned with wrk and the upstream on CPU 0), after ${TLS_REPEAT} runs direct to the upstream; added"
    echo "  latency: p50 minus direct's. The main table measures its targets one after another, which a busy machine skews."
    echo "- **(t1) HTTP/1.1 keep-alive over TLS**: wrk (handshake once per connection), same paths and header as the main table."
    echo "- **(t2) HTTP/2 over TLS**: h2load \`-c$H2_CONNS -m$H2_STREAMS -t1\` (ALPN h2) against the same two processes."
    echo "- **(t3) the tenancy chain over TLS**: \`bench/out/tenancy-tls.yaml\`: (c) of the tenancy path (tenant key in Redis,"
    echo "  key-auth, owner routing) plus the rate-limit plugin in \`$TLS_RL_MODE\` mode (one limit never reached); against nginx"
    echo "  proxying the same \`GET $T_PATH\` over TLS (no authentication, the upstream's answer relayed)."
    echo "- **(t4) scaling**: sandgate \`workers: 2\` vs \`workers: 1\` over TLS at $SCALE_CONNS connections, and nginx"
    echo "  \`worker_processes 2\` vs 1 as the machine's reference; the proxies unpinned, wrk and the upstream on CPU 0, so"
    echo "  a second worker shares that CPU with them (2.00 is out of reach on $NCPU CPUs)."
    echo
    echo "| Target | Conns | Requests/s | p50 µs | p99 µs | p50 − nginx's µs | p99 − nginx's µs | CPU µs/req | RSS MiB | Peak RSS MiB | Requests | Errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    group_rows tls c1-direct 0 | grep '^| c1-' || true
    group_rows tls tls-nginx 0 | grep -v '^| c1-\|^| tls-nginx-tenancy\|^| tls-tenancy\|[0-9]w |' || true
    group_rows tls tls-nginx-tenancy 0 | grep '^| tls-tenancy\|^| tls-nginx-tenancy' || true
    group_rows tls tls-nginx-1w 0 | grep '^| tls-[a-z]*-[12]w' || true
    echo
    echo "| HTTP/2 target | Connections × streams | Requests/s | Mean request µs | CPU µs/req | Requests (2xx) | Errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for t in h2-sandgate h2-nginx; do
        echo "| $t | ${H2_CONNS} × ${H2_STREAMS} | ${H2_RPS[$t]:-n/a} | ${H2_MEAN[$t]:-n/a} | ${H2_CPU[$t]:-n/a} | ${H2_REQ[$t]:-n/a} | ${H2_ERR[$t]:-n/a} |"
    done
    echo
    for t in tls-sandgate tls-tenancy; do
        if [ -n "${NOTE[$t]:-}" ]; then echo "- $t ${NOTE[$t]}"; fi
    done
    echo "- (t3) warm-up check (\`bench/verify.lua\`): sandgate ${R_VERIFY[tls-tenancy]:-no verdict}; nginx ${R_VERIFY[tls-nginx-tenancy]:-no verdict}"
    echo "- (t3) Redis commands per request at $hi connections: $(redis_per_req tls-tenancy "$hi")"
    echo "- Load average at the start / end of this section: $TLS_LOAD_START / ${TLS_LOAD_END:-?}"
    echo
    echo "| Ratio | CPU per request (${hi} conns) | CPU per request (${lo} conn) | Throughput (${hi} conns) | Target |"
    echo "|---|---:|---:|---:|---|"
    echo "| sandgate/nginx plain HTTP (t0) | — | $(tls_ratio_line c1 1) | — | ≤ 1.05; added p50 $(c1_added_p50) (≤ 1.05) |"
    echo "| sandgate/nginx tls | $(tls_ratio_line tls "$hi") | $(tls_ratio_line tls "$lo") | $(tls_throughput tls-sandgate tls-nginx "$hi") | ≤ 1.0 |"
    echo "| sandgate/nginx h2 (${H2_CONNS} × ${H2_STREAMS}) | $(tls_ratio_line h2 "$H2_CONNS") | — | $(fmt_ratio "${H2_RPS[h2-sandgate]:-}" "${H2_RPS[h2-nginx]:-}") | ≤ 1.0 |"
    echo "| tenancy-tls/nginx-tls | $(tls_ratio_line tenancy-tls "$hi") | $(tls_ratio_line tenancy-tls "$lo") | $(tls_throughput tls-tenancy tls-nginx-tenancy "$hi") | ≤ 1.3 |"
    echo
    echo "| Scaling (${SCALE_CONNS} conns) | Throughput 2w/1w | CPU per request 2w/1w |"
    echo "|---|---:|---:|"
    echo "| sandgate | $(tls_throughput tls-sandgate-2w tls-sandgate-1w "$SCALE_CONNS") | $(tls_ratio_line scale-sg "$SCALE_CONNS") |"
    echo "| nginx | $(tls_throughput tls-nginx-2w tls-nginx-1w "$SCALE_CONNS") | $(tls_ratio_line scale-ng "$SCALE_CONNS") |"
}

c1_added_p50() { # (sandgate's p50 − direct's) / (nginx's p50 − direct's) at 1 connection, medians of (t0)
    fmt_ratio "$(added_vs c1-sandgate c1-direct 1 50 | sed 's/^n\/a$//')" "$(added_vs c1-nginx c1-direct 1 50 | sed 's/^n\/a$//')"
}

tls_lines() {
    local hi="${TLS_CONNS[${#TLS_CONNS[@]}-1]}"
    echo "sandgate/nginx c1 cpu-per-request: $(tls_ratio_line c1 1)"
    echo "sandgate/nginx c1 added-p50: $(c1_added_p50)"
    echo "sandgate/nginx tls cpu-per-request: $(tls_ratio_line tls "$hi")"
    echo "sandgate/nginx h2 cpu-per-request: $(tls_ratio_line h2 "$H2_CONNS")"
    echo "tenancy-tls/nginx-tls cpu-per-request: $(tls_ratio_line tenancy-tls "$hi")"
    echo "sandgate 2w/1w throughput: $(tls_throughput tls-sandgate-2w tls-sandgate-1w "$SCALE_CONNS")"
    echo "nginx 2w/1w throughput: $(tls_throughput tls-nginx-2w tls-nginx-1w "$SCALE_CONNS")"
}
