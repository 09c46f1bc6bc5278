#!/usr/bin/env bash
# Install what sandgate needs to build, test, run the demo and (with --bench)
# benchmark, on Debian bookworm. Idempotent: only missing packages are
# installed, `apt-get update` runs at most once and only when something is
# missing, and `npm ci` in tests/ runs only when tests/node_modules is missing
# or older than tests/package-lock.json.
#
# Usage: scripts/install-deps.sh [--bench] [--no-npm]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Build, unit/integration tests, sanitizers, formatting, demo. chromium: the headless browser of
# tests/integration/ports/browser.test.js (driven by puppeteer-core from tests/package.json, which
# never downloads a browser of its own); fonts-liberation so that its screenshots show text.
# yamllint, shellcheck, systemd (systemd-analyze verify): make deploy-check (tests/deploy/check.sh).
# strace: tests/integration/keepalive.test.js counts the epoll_ctl calls of keep-alive requests.
BASE_PKGS=(
    build-essential cmake pkg-config
    libh2o-evloop-dev libssl-dev libhiredis-dev libyaml-dev libjansson-dev libhttp-parser-dev
    redis-server nghttp2-client curl openssl ca-certificates procps strace
    clang libclang-rt-14-dev clang-format
    nginx-light
    chromium fonts-liberation
    yamllint shellcheck systemd
)
# Only needed by bench/run.sh (they also start system services when installed,
# which the test suite does not need).
BENCH_PKGS=(haproxy wrk)

want_bench=0
want_npm=1
for arg in "$@"; do
    case "$arg" in
    --bench) want_bench=1 ;;
    --no-npm) want_npm=0 ;;
    -h | --help)
        sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "install-deps: unknown argument: $arg (try --help)" >&2
        exit 2
        ;;
    esac
done

log() { echo "install-deps: $*"; }
die() {
    echo "install-deps: error: $*" >&2
    exit 1
}

[ -r /etc/debian_version ] || die "this script supports Debian (bookworm) only"
command -v dpkg-query >/dev/null || die "dpkg-query not found"

# Run a command as root: directly, or through sudo when available.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "not root and sudo is not installed: cannot run '$*'"
    fi
}

pkgs=("${BASE_PKGS[@]}")
if [ "$want_bench" -eq 1 ]; then pkgs+=("${BENCH_PKGS[@]}"); fi
# Node.js: keep whatever `node` is installed (e.g. NodeSource's Node 20, which
# bundles npm); install Debian's only when there is none.
command -v node >/dev/null || pkgs+=(nodejs)
command -v npm >/dev/null || pkgs+=(npm)

installed() {
    # "ii " = installed and configured.
    [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]
}

missing=()
for p in "${pkgs[@]}"; do
    installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
    log "all ${#pkgs[@]} Debian packages already installed"
else
    log "missing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    still=()
    for p in "${missing[@]}"; do
        installed "$p" || still+=("$p")
    done
    [ "${#still[@]}" -eq 0 ] || die "packages still not installed: ${still[*]}"
    log "installed: ${missing[*]}"
fi

# Node version check: the tests use node:test features of Node >= 20.
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$node_major" -lt 20 ]; then
    log "warning: Node.js $(node --version 2>/dev/null || echo '?') found; the tests need Node >= 20" >&2
fi

if [ "$want_npm" -eq 1 ] && [ -f "$ROOT/tests/package-lock.json" ]; then
    # npm ci rewrites node_modules/.package-lock.json: use it as the stamp.
    stamp="$ROOT/tests/node_modules/.package-lock.json"
    if [ ! -f "$stamp" ] || [ "$ROOT/tests/package-lock.json" -nt "$stamp" ] ||
        [ "$ROOT/tests/package.json" -nt "$stamp" ]; then
        log "npm ci in tests/"
        (cd "$ROOT/tests" && npm ci --no-audit --no-fund)
        touch "$stamp" 2>/dev/null || true
    else
        log "tests/node_modules is up to date"
    fi
fi
log "done"
