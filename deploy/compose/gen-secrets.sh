#!/usr/bin/env bash
# Write the secret files compose.yaml reads, in deploy/compose/secrets/ (or DIR):
# random API keys of the two OpenSandbox servers, a random Redis password, and a
# self-signed ECDSA P-256 certificate for localhost (replace tls_cert / tls_key
# with your own). Existing files are kept.
#
# Usage: deploy/compose/gen-secrets.sh [DIR]
set -euo pipefail

dir="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/secrets}"
command -v openssl >/dev/null || {
    echo "gen-secrets: openssl not found" >&2
    exit 1
}
mkdir -p "$dir"
chmod 0700 "$dir"
# 0644: compose bind-mounts secret files as they are, and sandgate runs as uid 10001;
# the 0700 directory keeps other users of the host out.
umask 022

random_secret() {
    [ -s "$dir/$1" ] || openssl rand -hex 32 >"$dir/$1"
}
random_secret sandbox_a_api_key
random_secret sandbox_b_api_key
random_secret redis_password
if [ ! -s "$dir/tls_cert" ] || [ ! -s "$dir/tls_key" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
        -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$dir/tls_key" -out "$dir/tls_cert" 2>/dev/null
    chmod 0644 "$dir/tls_key"
fi
echo "gen-secrets: secrets in $dir"
