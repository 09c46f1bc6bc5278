#!/usr/bin/env bash
# make deploy-check: the checks of deploy/ and of make install/uninstall. No container
# engine and no Kubernetes here, so deploy/ is checked with the tools of the field that
# Debian and npm ship:
#   yamllint       every YAML file of deploy/ (deploy/.yamllint)
#   ShellCheck     the scripts of deploy/ and of tests/deploy
#   sandgate -t    every config deploy/ ships, as mounted: compose, the ConfigMaps of both
#                  kustomize overlays (as rendered), conf/sandgate.yaml (what make install
#                  installs for the systemd unit). Their host names resolve to 127.0.0.1 in
#                  a private mount namespace (unshare -m, a bind-mounted /etc/hosts); their
#                  /run/secrets, /etc/sandgate and /var/log/sandgate paths are moved to
#                  generated files in a temporary directory; the variables of api_key_env
#                  and password_env are set to dummies
#   check.js       Kubernetes schemas and policy, compose schema and references, Dockerfile
#                  against `make build` and the binary's libraries, systemd stop timeout
#   haproxy -c     the compose balancer's config (when haproxy is installed)
#   install        make install / uninstall with PREFIX and with DESTDIR; the installed
#                  unit through `systemd-analyze verify` (any warning fails) and its
#                  hardening directives; sandgate loading a plugin under the kernel's
#                  PR_SET_MDWE, the rule of MemoryDenyWriteExecute=yes
#   docker         the image's health probe against a running sandgate (200, refused after
#                  SIGTERM, non-200) and its entry point's FILE__VAR secrets
# Environment: SANDGATE_BIN (default build/sandgate), DEPLOY_CHECK_ROOT (the tree to check,
# default this repository: tests/deploy/mutants.sh points it at broken copies),
# DEPLOY_CHECK_ONLY (a name prefix: run only the checks whose name starts with it).
# Prints "ok - NAME" / "not ok - NAME" and a closing "N passed, N failed".
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${DEPLOY_CHECK_ROOT:-$(cd "$HERE/../.." && pwd)}"
SANDGATE_BIN="${SANDGATE_BIN:-$ROOT/build/sandgate}"
ONLY="${DEPLOY_CHECK_ONLY:-}"

tmp="$(mktemp -d)"
sg_pid=""
cleanup() {
    if [ -n "$sg_pid" ]; then kill -TERM "$sg_pid" 2>/dev/null && wait "$sg_pid" 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

passed=0
failed=0
ok() {
    passed=$((passed + 1))
    echo "ok - $1"
}
not_ok() {
    failed=$((failed + 1))
    echo "not ok - $1"
    [ -s "$tmp/log" ] && sed 's/^/    /' "$tmp/log" | head -40
    return 0
}
wanted() {
    [ -z "$ONLY" ] || [[ "$1" == "$ONLY"* ]]
}
# check NAME CMD...: ok when CMD exits 0
check() {
    local name="$1"
    shift
    wanted "$name" || return 0
    if "$@" >"$tmp/log" 2>&1; then ok "$name"; else not_ok "$name"; fi
}
# check_quiet NAME CMD...: ok when CMD exits 0 and prints nothing
check_quiet() {
    local name="$1"
    shift
    wanted "$name" || return 0
    if "$@" >"$tmp/log" 2>&1 && [ ! -s "$tmp/log" ]; then ok "$name"; else not_ok "$name"; fi
}

for tool in node yamllint shellcheck systemd-analyze openssl perl curl; do
    command -v "$tool" >/dev/null || {
        echo "deploy-check: $tool not found: run scripts/install-deps.sh" >&2
        exit 1
    }
done
[ -x "$SANDGATE_BIN" ] || {
    echo "deploy-check: $SANDGATE_BIN not found: run 'make build'" >&2
    exit 1
}
[ -d "$HERE/../node_modules/kubernetes-models" ] || {
    echo "deploy-check: tests/node_modules lacks kubernetes-models: run scripts/install-deps.sh" >&2
    exit 1
}

# ---------------------------------------------------------------- lint
check "yamllint deploy/" yamllint --strict -c "$ROOT/deploy/.yamllint" "$ROOT/deploy"
mapfile -t scripts < <(find "$ROOT/deploy" -name '*.sh' | sort)
check "shellcheck deploy/ scripts" shellcheck "${scripts[@]}" "$HERE/check.sh" "$HERE/mutants.sh"

# ---------------------------------------------------------------- check.js
# Debian packages of the binary's NEEDED libraries (libc6 is in every image)
needed="$tmp/needed"
for so in $(objdump -p "$SANDGATE_BIN" | awk '$1 == "NEEDED" {print $2}'); do
    lib="$(ldd "$SANDGATE_BIN" | awk -v s="$so" '$1 == s {print $3}')"
    dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1
done | sort -u | grep -vx libc6 >"$needed"
mkdir -p "$tmp/out"
cp -r "$ROOT/deploy/compose" "$tmp/compose"
rm -rf "$tmp/compose/secrets"
"$tmp/compose/gen-secrets.sh" "$tmp/compose/secrets" >/dev/null
js_only=()
if [ -n "$ONLY" ]; then js_only=("$ONLY"); fi
COMPOSE_DIR="$tmp/compose" node "$HERE/check.js" "$ROOT" "$tmp/out" "$needed" "${js_only[@]}" >"$tmp/js.log" 2>&1
js_rc=$?
while IFS= read -r line; do
    case "$line" in
    "ok - "*) passed=$((passed + 1)) ;;
    "not ok - "*) failed=$((failed + 1)) ;;
    esac
    echo "$line"
done <"$tmp/js.log"
if [ "$js_rc" -ne 0 ] && ! grep -q '^not ok - ' "$tmp/js.log"; then
    failed=$((failed + 1))
    echo "not ok - check.js exited $js_rc"
fi

# ---------------------------------------------------------------- sandgate -t
files="$tmp/files"
mkdir -p "$files/run" "$files/etc/sandgate/tls" "$files/var/log/sandgate"
"$ROOT/deploy/compose/gen-secrets.sh" "$files/run/secrets" >/dev/null
for n in tls.crt gateway.crt backend-ca.pem; do cp "$files/run/secrets/tls_cert" "$files/etc/sandgate/tls/$n"; done
for n in tls.key gateway.key; do cp "$files/run/secrets/tls_key" "$files/etc/sandgate/tls/$n"; done

# config_test NAME FILE: sandgate -t on FILE as it would be mounted
config_test() {
    local name="$1" src="$2" conf="$tmp/conf-$RANDOM.yaml" hosts="$tmp/hosts-$RANDOM"
    wanted "$name" || return 0
    if [ ! -f "$src" ]; then
        echo "$src: missing" >"$tmp/log"
        not_ok "$name"
        return 0
    fi
    sed -e "s|/run/secrets/|$files/run/secrets/|g" -e "s|/etc/sandgate/|$files/etc/sandgate/|g" \
        -e "s|/var/log/sandgate/|$files/var/log/sandgate/|g" "$src" >"$conf"
    cat /etc/hosts >"$hosts"
    grep -oE '(url: *https?://|address: *)[A-Za-z][A-Za-z0-9.-]*' "$src" | sed -E 's/.*(\/\/|: *)//' |
        sort -u | sed 's/^/127.0.0.1 /' >>"$hosts"
    if [ "$can_unshare" = 1 ]; then
        # shellcheck disable=SC2016 # $1 and $@ are the inner shell's
        check "$name" env SANDBOX_A_KEY=dummy-a SANDBOX_B_KEY=dummy-b REDIS_PASSWORD=dummy-r \
            unshare -m sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh "$hosts" \
            "$SANDGATE_BIN" -t -c "$conf"
    else
        # no private mount namespace here (an unprivileged container): the service names become 127.0.0.1 in the
        # copy instead, which checks everything but the names themselves
        grep -oE '(url: *https?://|address: *)[A-Za-z][A-Za-z0-9.-]*' "$src" | sed -E 's/.*(\/\/|: *)//' | sort -u |
            while read -r host; do sed -i -E "s#(//|address: *)$host([:/\"]|\$)#\1127.0.0.1\2#g" "$conf"; done
        check "$name" env SANDBOX_A_KEY=dummy-a SANDBOX_B_KEY=dummy-b REDIS_PASSWORD=dummy-r "$SANDGATE_BIN" -t -c "$conf"
    fi
}
can_unshare=0
unshare -m true 2>/dev/null && can_unshare=1
[ "${DEPLOY_CHECK_NO_UNSHARE:-0}" = 1 ] && can_unshare=0
config_test "sandgate -t deploy/compose/sandgate.yaml" "$ROOT/deploy/compose/sandgate.yaml"
for o in single replicated; do
    config_test "sandgate -t ConfigMap of overlay $o" "$tmp/out/k8s-$o.yaml"
done
config_test "sandgate -t conf/sandgate.yaml (installed for systemd)" "$ROOT/conf/sandgate.yaml"

# ---------------------------------------------------------------- haproxy
if wanted "haproxy -c"; then
    if command -v haproxy >/dev/null; then
        check "haproxy -c deploy/compose/haproxy.cfg" haproxy -c -q -f "$ROOT/deploy/compose/haproxy.cfg"
    else
        echo "ok - haproxy -c deploy/compose/haproxy.cfg # SKIP haproxy not installed"
    fi
fi

# ---------------------------------------------------------------- install / uninstall
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
build_dir="$(dirname "$SANDGATE_BIN")"
mk() { make --no-print-directory -s -C "$ROOT" BUILD_DIR="$build_dir" "$@"; }

install_prefix() {
    local p="$tmp/prefix" unit
    mkdir -p "$p/etc/sandgate"
    echo "# the operator's config" >"$p/etc/sandgate/sandgate.yaml"
    mk install PREFIX="$p" || return 1
    unit="$p/lib/systemd/system/sandgate.service"
    if ! { cmp "$SANDGATE_BIN" "$p/bin/sandgate" && [ -x "$p/bin/sandgate" ] &&
        cmp "$ROOT/conf/sandgate.yaml" "$p/etc/sandgate/sandgate.yaml.example" &&
        [ -f "$p/lib/sysusers.d/sandgate.conf" ] && [ -f "$unit" ]; }; then
        echo "installed files missing or different:"
        find "$p" -type f
        return 1
    fi
    grep -qx "ExecStart=$p/bin/sandgate -c $p/etc/sandgate/sandgate.yaml" "$unit" || {
        echo "ExecStart of the installed unit does not use PREFIX:"
        grep -n '^Exec' "$unit"
        return 1
    }
    if grep -n '@[A-Z]*@' "$unit"; then
        echo "placeholders left in the unit"
        return 1
    fi
    [ "$(cat "$p/etc/sandgate/sandgate.yaml")" = "# the operator's config" ] || {
        echo "install overwrote etc/sandgate/sandgate.yaml"
        return 1
    }
}
uninstall_prefix() {
    local p="$tmp/prefix" left
    mk uninstall PREFIX="$p" || return 1
    left="$(find "$p" -type f)"
    [ "$left" = "$p/etc/sandgate/sandgate.yaml" ] || {
        echo "after uninstall (only the operator's config should be left):"
        echo "$left"
        return 1
    }
}
install_destdir() {
    local d="$tmp/dest" left
    mk install DESTDIR="$d" PREFIX=/usr || return 1
    [ -x "$d/usr/bin/sandgate" ] && [ -f "$d/usr/etc/sandgate/sandgate.yaml.example" ] || return 1
    grep -qx "ExecStart=/usr/bin/sandgate -c /usr/etc/sandgate/sandgate.yaml" "$d/usr/lib/systemd/system/sandgate.service" || {
        echo "with DESTDIR, the unit must name the final paths:"
        grep -n '^ExecStart' "$d/usr/lib/systemd/system/sandgate.service"
        return 1
    }
    mk uninstall DESTDIR="$d" PREFIX=/usr || return 1
    left="$(find "$d" -type f)"
    [ -z "$left" ] || {
        echo "left after uninstall: $left"
        return 1
    }
}
if wanted "make install PREFIX"; then
    check "make install PREFIX: every file, unit paths, existing config kept" install_prefix
else
    case "$ONLY" in systemd* | "make uninstall"*) install_prefix >/dev/null 2>&1 ;; esac
fi
# systemd-analyze verify exits 0 on unknown keys and bad values: any output fails the check
wanted "systemd-analyze verify" && [ -f "$tmp/prefix/lib/systemd/system/sandgate.service" ] &&
    check_quiet "systemd-analyze verify (installed unit)" systemd-analyze verify "$tmp/prefix/lib/systemd/system/sandgate.service"
unit_hardening() {
    local unit="$tmp/prefix/lib/systemd/system/sandgate.service" want missing=0
    # shellcheck disable=SC2016 # $MAINPID is systemd's
    for want in 'ProtectSystem=strict' 'NoNewPrivileges=yes' 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE' \
        'AmbientCapabilities=CAP_NET_BIND_SERVICE' 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
        'SystemCallFilter=@system-service' 'PrivateTmp=yes' 'ProtectHome=yes' 'KillSignal=SIGTERM' \
        "ExecReload=$tmp/prefix/bin/sandgate -t -c $tmp/prefix/etc/sandgate/sandgate.yaml" \
        'ExecReload=/bin/kill -HUP $MAINPID'; do
        grep -qxF "$want" "$unit" || {
            echo "missing: $want"
            missing=1
        }
    done
    grep -qE '^(User=[a-z]|DynamicUser=yes)' "$unit" || {
        echo "missing: User= or DynamicUser=yes"
        missing=1
    }
    return "$missing"
}
wanted "systemd unit" && [ -f "$tmp/prefix/lib/systemd/system/sandgate.service" ] &&
    check "systemd unit hardening and reload" unit_hardening
# MemoryDenyWriteExecute=yes: systemd refuses memory that is writable and executable, or made
# executable later. The kernel's PR_SET_MDWE (Linux >= 6.3) applies the same rule to a process
# and what it executes: sandgate must load a plugin .so and serve under it. The control
# (mprotect(PROT_EXEC) on anonymous memory refused) shows the rule is in force.
mdwe_plugin() {
    local port out=""
    perl -e 'syscall(157, 65, 1, 0, 0, 0) == 0 or exit 3;
             my $a = syscall(9, 0, 4096, 3, 0x22, -1, 0);
             exit(syscall(10, $a, 4096, 5) == 0 ? 1 : 0)' || {
        echo "control: PR_SET_MDWE did not refuse an executable mapping"
        return 1
    }
    port="$(free_port)"
    cat >"$tmp/mdwe.yaml" <<EOF
listen:
  - address: 127.0.0.1:$port
plugins:
  - name: header-stamp
    path: $build_dir/lua-free-plugins/sg_example_plugin.so
    config: {header: X-Stamp, value: mdwe}
EOF
    perl -e 'syscall(157, 65, 1, 0, 0, 0) == 0 or die "prctl: $!\n"; exec @ARGV or die "exec: $!\n"' \
        "$SANDGATE_BIN" -c "$tmp/mdwe.yaml" 2>"$tmp/mdwe.log" &
    sg_pid=$!
    for _ in $(seq 50); do
        out="$(curl -sI "http://127.0.0.1:$port/health" 2>/dev/null)" && break
        sleep 0.1
    done
    kill -TERM "$sg_pid" 2>/dev/null && wait "$sg_pid"
    sg_pid=""
    grep -qi '^x-stamp: mdwe' <<<"$out" || {
        echo "no answer with the plugin's header under PR_SET_MDWE:"
        echo "$out"
        cat "$tmp/mdwe.log"
        return 1
    }
}
if wanted "systemd MemoryDenyWriteExecute"; then
    # PR_GET_MDWE (66) answers >= 0 where the kernel has it
    if [ "$(uname -m)" != x86_64 ] || ! perl -e 'exit(syscall(157, 66, 0, 0, 0, 0) >= 0 ? 0 : 1)'; then
        echo "ok - systemd MemoryDenyWriteExecute: plugin loads under PR_SET_MDWE # SKIP needs x86_64 and Linux >= 6.3"
    else
        check "systemd MemoryDenyWriteExecute: plugin loads under PR_SET_MDWE" mdwe_plugin
    fi
fi
check "make uninstall PREFIX: nothing left but the operator's config" uninstall_prefix
check "make install/uninstall DESTDIR" install_destdir

# ---------------------------------------------------------------- image scripts
health_probe() {
    local port admin i
    port="$(free_port)"
    admin="$(free_port)"
    cat >"$tmp/health.yaml" <<EOF
listen:
  - address: 127.0.0.1:$port
admin:
  address: 127.0.0.1:$admin
  api_key_hash: "sha256:0000000000000000000000000000000000000000000000000000000000000000"
EOF
    "$SANDGATE_BIN" -c "$tmp/health.yaml" 2>"$tmp/sandgate.log" &
    sg_pid=$!
    for i in $(seq 50); do
        SANDGATE_HEALTH_PORT="$port" bash "$ROOT/deploy/docker/healthcheck.sh" 2>/dev/null && break
        sleep 0.1
    done
    [ "$i" -lt 50 ] || {
        echo "healthcheck.sh never succeeded against a running sandgate on $port"
        return 1
    }
    if SANDGATE_HEALTH_PORT="$admin" bash "$ROOT/deploy/docker/healthcheck.sh" 2>/dev/null; then
        echo "healthcheck.sh succeeded on the admin listener, which answers /health with an error"
        return 1
    fi
    kill -TERM "$sg_pid" && wait "$sg_pid"
    sg_pid=""
    if SANDGATE_HEALTH_PORT="$port" bash "$ROOT/deploy/docker/healthcheck.sh" 2>/dev/null; then
        echo "healthcheck.sh succeeded after sandgate stopped"
        return 1
    fi
}
entrypoint_secrets() {
    mkdir -p "$tmp/fake"
    # shellcheck disable=SC2016 # the fake sandgate's own expansions
    printf '#!/bin/sh\nprintf "%%s|%%s|%%s" "$*" "$SANDBOX_A_KEY" "${FILE__SANDBOX_A_KEY:-unset}"\n' >"$tmp/fake/sandgate"
    chmod +x "$tmp/fake/sandgate"
    printf 'k3y value\n' >"$tmp/fake/secret"
    local out
    out="$(PATH="$tmp/fake:$PATH" FILE__SANDBOX_A_KEY="$tmp/fake/secret" SSL_CERT_FILE=/keep sh "$ROOT/deploy/docker/entrypoint.sh" -c /etc/sandgate/sandgate.yaml)" || return 1
    [ "$out" = "-c /etc/sandgate/sandgate.yaml|k3y value|unset" ] || {
        echo "entrypoint passed: '$out'"
        return 1
    }
    if PATH="$tmp/fake:$PATH" FILE__X="$tmp/fake/missing" sh "$ROOT/deploy/docker/entrypoint.sh" 2>/dev/null; then
        echo "entrypoint started sandgate with an unreadable secret file"
        return 1
    fi
}
check "docker healthcheck.sh against a running sandgate" health_probe
check "docker entrypoint.sh FILE__VAR secrets" entrypoint_secrets

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
