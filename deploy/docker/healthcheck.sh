#!/bin/bash
# Container health probe: GET /health on 127.0.0.1:${SANDGATE_HEALTH_PORT:-8080}
# (a plain-HTTP listener of the config) and exit 0 only on a 200. Uses bash's
# /dev/tcp: the slim image has no curl, and installing it would add a dozen
# libraries to the image only for this.
set -u
port="${SANDGATE_HEALTH_PORT:-8080}"
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 || exit 1
IFS= read -r -t 2 status <&3 || exit 1
case "$status" in
"HTTP/1."?" 200 "*) exit 0 ;;
*)
    echo "sandgate-healthcheck: ${status:-no answer}" >&2
    exit 1
    ;;
esac
