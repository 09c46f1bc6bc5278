#!/usr/bin/env bash
# Generate a throw-away CA and TLS certificates for tests and the demo.
#
# Usage: scripts/gen-certs.sh OUTDIR
#
# OUTDIR/ca.crt, ca.key       self-signed CA ("sandgate test CA")
# OUTDIR/server.crt, .key     signed by the CA for IP 127.0.0.1, IP ::1,
#                             DNS localhost (the default certificate)
# OUTDIR/alt.crt, alt.key     signed by the CA for DNS alt.localhost (SNI tests)
# OUTDIR/sandbox.crt, .key    signed by the CA for DNS *.sandbox.localhost only: the
#                             wildcard certificate of host routing
#                             ({id}-{port}.sandbox.localhost, ports.sandbox_domain),
#                             chosen by SNI
#
# Idempotent: existing files are kept. If the CA is (re)created, the leaf
# certificates are re-issued so that they always chain to OUTDIR/ca.crt.
set -euo pipefail

die() {
    echo "gen-certs: error: $*" >&2
    exit 1
}

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
command -v openssl >/dev/null || die "openssl not found (scripts/install-deps.sh installs it)"

out="$1"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

DAYS_CA=3650
DAYS_LEAF=825
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# new_key FILE: RSA 2048, the key type every client and SDK accepts.
new_key() {
    (umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null)
}

renew_leaves=0
if [ ! -s "$out/ca.crt" ] || [ ! -s "$out/ca.key" ]; then
    echo "gen-certs: creating CA in $out"
    new_key "$out/ca.key"
    cat >"$tmp/ca.ext" <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = sandgate test CA
O = sandgate
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    openssl req -x509 -new -key "$out/ca.key" -sha256 -days "$DAYS_CA" -config "$tmp/ca.ext" -out "$out/ca.crt"
    renew_leaves=1
fi

# issue NAME CN SAN: OUTDIR/NAME.{crt,key} signed by the CA.
issue() {
    local name="$1" cn="$2" san="$3"
    if [ "$renew_leaves" -eq 0 ] && [ -s "$out/$name.crt" ] && [ -s "$out/$name.key" ]; then
        echo "gen-certs: $out/$name.crt exists, keeping it"
        return
    fi
    echo "gen-certs: issuing $name.crt for $san"
    new_key "$out/$name.key"
    cat >"$tmp/$name.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    openssl req -new -key "$out/$name.key" -subj "/O=sandgate/CN=$cn" -out "$tmp/$name.csr"
    openssl x509 -req -in "$tmp/$name.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" -days "$DAYS_LEAF" -sha256 \
        -extfile "$tmp/$name.ext" -out "$out/$name.crt" 2>/dev/null
    openssl verify -CAfile "$out/ca.crt" "$out/$name.crt" >/dev/null || die "$name.crt does not verify"
}

issue server localhost "IP:127.0.0.1, IP:::1, DNS:localhost"
issue alt alt.localhost "DNS:alt.localhost"
issue sandbox "*.sandbox.localhost" "DNS:*.sandbox.localhost"

chmod 600 "$out/ca.key" "$out/server.key" "$out/alt.key" "$out/sandbox.key"
chmod 644 "$out/ca.crt" "$out/server.crt" "$out/alt.crt" "$out/sandbox.crt"
echo "gen-certs: done: $out/{ca.crt,server.crt,server.key,alt.crt,alt.key,sandbox.crt,sandbox.key}"
