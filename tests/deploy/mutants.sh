#!/usr/bin/env bash
# Shows that every check of tests/deploy/check.sh can fail: each mutant below breaks one
# input in a copy of the tree (deploy/, conf/, Makefile, scripts/), runs the check it
# should break (DEPLOY_CHECK_ONLY) on that copy, and passes only when that check reports
# "not ok". A mutant that changes nothing is an error too.
#
# Usage: tests/deploy/mutants.sh   (make deploy-check-mutants; about 30 s)
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export SANDGATE_BIN="${SANDGATE_BIN:-$ROOT/build/sandgate}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# check prefix | file | perl substitution applied to the whole file (perl -0: use /m for ^ and $)
# shellcheck disable=SC2016 # the substitutions are perl's, not the shell's
MUTANTS=(
    'yamllint|deploy/kubernetes/base/service.yaml|s/type: ClusterIP/type: ClusterIP   /'
    'shellcheck|deploy/docker/entrypoint.sh|s/exec sandgate "\$\@"/exec sandgate \$*/'
    'k8s single: every object valid|deploy/kubernetes/base/deployment.yaml|s/containerPort: 9901/containerPort: "9901x"/'
    'k8s replicated: every object valid|deploy/kubernetes/base/hpa.yaml|s/averageUtilization: 70/averageUtilization: seventy/'
    'k8s single: Deployment|deploy/kubernetes/base/deployment.yaml|s/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/'
    'k8s replicated: Deployment|deploy/kubernetes/base/deployment.yaml|s/terminationGracePeriodSeconds: 40/terminationGracePeriodSeconds: 30/'
    'k8s replicated: Deployment|deploy/kubernetes/overlays/replicated/deployment-patch.yaml|s/key: password/key: passwd/'
    'k8s single: Deployment|deploy/kubernetes/overlays/single/deployment-patch.yaml|s/replicas: 1/replicas: 2/'
    'k8s replicated: kustomize renders|deploy/kubernetes/overlays/replicated/kustomization.yaml|s/- redis.yaml/- redis-missing.yaml/'
    'k8s single: kustomize renders|deploy/kubernetes/overlays/single/kustomization.yaml|s/^patches:/images: []\npatches:/m'
    'compose: compose.yaml valid|deploy/compose/compose.yaml|s/stop_grace_period: 35s/stop_grace_period: 35 seconds/'
    'compose: references|deploy/compose/compose.yaml|s/FILE__REDIS_PASSWORD: \/run\/secrets\/redis_password/FILE__REDIS_PASSWORD: \/run\/secrets\/redis_pass/'
    'compose: references|deploy/compose/haproxy.cfg|s/sandgate-2:8443/sandgate-2:9443/'
    'dockerfile: build stage|deploy/docker/Dockerfile|s/-DCMAKE_BUILD_TYPE=Release/-DCMAKE_BUILD_TYPE=Debug/'
    'dockerfile: build stage|Makefile|s/cmake --build \$\(BUILD_DIR\) -j\$\(JOBS\)$/cmake --build \$(BUILD_DIR) -j\$(JOBS) --verbose/m'
    'dockerfile: runtime stage|deploy/docker/Dockerfile|s/ libjansson4//'
    'dockerfile: runtime stage|deploy/docker/Dockerfile|s/^USER 10001:10001/USER root/m'
    'systemd: TimeoutStopSec|deploy/systemd/sandgate.service.in|s/^TimeoutStopSec=35s/TimeoutStopSec=20s/m'
    'sandgate -t deploy/compose|deploy/compose/sandgate.yaml|s/graceful_shutdown_timeout: 30s/graceful_shutdown_timout: 30s/'
    'sandgate -t ConfigMap of overlay single|deploy/kubernetes/overlays/single/sandgate.yaml|s/capacity: 100/capacity: -1/'
    'sandgate -t ConfigMap of overlay replicated|deploy/kubernetes/overlays/replicated/sandgate.yaml|s/command_timeout: 500ms/command_timeout: soon/'
    'sandgate -t conf|conf/sandgate.yaml|s/level: info /level: loud /'
    'haproxy -c|deploy/compose/haproxy.cfg|s/balance leastconn/balance leastconnx/'
    'systemd-analyze verify|deploy/systemd/sandgate.service.in|s/^ProtectHome=yes/ProtectHome=yess/m'
    'systemd unit|deploy/systemd/sandgate.service.in|s/^NoNewPrivileges=yes\n//m'
    'make install PREFIX|Makefile|s/\@SYSCONFDIR\@\|\$\(SYSCONFDIR\)/\@SYSCONFDIR\@|\/etc/'
    'make uninstall PREFIX|Makefile|s/ \$\(SYSUSERSDIR\)\/sandgate.conf$//m'
    'make install/uninstall DESTDIR|Makefile|s/"\$\(DESTDIR\)\$\(BINDIR\)\/sandgate"$/"\$(BINDIR)\/sandgate"/m'
    'docker healthcheck|deploy/docker/healthcheck.sh|s/"HTTP\/1\."\?" 200 "\*\)/"HTTP\/1."*)/'
    'docker entrypoint|deploy/docker/entrypoint.sh|s/unset "FILE__\$name"/: unset/'
)

killed=0
survived=0
for m in "${MUTANTS[@]}"; do
    IFS='|' read -r prefix file expr <<<"$m"
    copy="$tmp/tree"
    rm -rf "$copy"
    mkdir -p "$copy"
    cp -r "$ROOT/deploy" "$ROOT/conf" "$ROOT/scripts" "$ROOT/Makefile" "$copy/"
    rm -rf "$copy/deploy/compose/secrets"
    perl -0pi -e "$expr" "$copy/$file"
    if cmp -s "$ROOT/$file" "$copy/$file"; then
        echo "not ok - mutant [$prefix] $file: '$expr' changed nothing"
        survived=$((survived + 1))
        continue
    fi
    out="$(DEPLOY_CHECK_ROOT="$copy" DEPLOY_CHECK_ONLY="$prefix" "$HERE/check.sh" 2>&1)"
    rc=$?
    if [ "$rc" -ne 0 ] && grep -q "^not ok - $prefix" <<<"$out"; then
        killed=$((killed + 1))
        echo "ok - mutant [$prefix] $file: '$expr' fails the check"
    else
        survived=$((survived + 1))
        echo "not ok - mutant [$prefix] $file: '$expr' passes the check"
        tail -5 <<<"$out" | sed 's/^/    /'
    fi
done
echo "$killed passed, $survived failed"
[ "$survived" -eq 0 ]
