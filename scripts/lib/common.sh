# Helpers shared by scripts/demo.sh and bench/run.sh (sourced, bash): free ports and
# template rendering. The sourcing script defines die().

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
