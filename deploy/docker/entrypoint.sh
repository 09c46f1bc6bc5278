#!/bin/sh
# Container entry point: for every FILE__VAR=PATH in the environment, export
# VAR=<contents of PATH> (trailing newlines dropped) and unset FILE__VAR, then
# exec sandgate with the arguments. This is how file secrets (compose
# `secrets:`, Kubernetes secret volumes) reach the config's `api_key_env` and
# `redis.password_env`, which read environment variables only. (A prefix, not
# the common VAR_FILE suffix: SSL_CERT_FILE and the like must stay as they are.)
set -eu
for name in $(env | sed -n 's/^FILE__\([A-Za-z_][A-Za-z0-9_]*\)=.*$/\1/p'); do
    file="$(printenv "FILE__$name")"
    if [ ! -r "$file" ]; then
        echo "sandgate-entrypoint: FILE__$name: cannot read '$file'" >&2
        exit 1
    fi
    value="$(cat "$file")"
    export "$name=$value"
    unset "FILE__$name"
done
exec sandgate "$@"
