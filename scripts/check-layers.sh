#!/usr/bin/env bash
# The layer check: fails when a file includes a header of a higher layer.
#
# The layers of gateway/, top to bottom. THIS LIST IS THE ONLY PLACE WHERE THE
# ALLOWED DIRECTIONS ARE WRITTEN: a file in gateway/<folder>/ may include
# headers of its own folder and of the folders listed below it, never above.
# Headers are named with their folder ("tenancy/port.h", gateway/ is the
# include root); "plugin.h" (the plugin ABI, lua-free-plugins/) and the
# generated "version.h" may be included from anywhere. Plugins under
# lua-free-plugins/ include nothing of gateway/ (only plugin.h, and their own headers in their folder).
LAYERS=(
    core    # main, the two threads (server, health), the dispatcher (handler), request intake
    admin   # /admin/v1 and /metrics
    plugin  # the plugin pipeline and the gateway side of the plugin ABI
    tenancy # the tenant-aware /v1 API, owner routing, port traffic, caches
    proxy   # the streaming proxy engine
    backend # backends: state, calls, the HTTP client and its connection pools, reconciliation
    runtime # per-request state and errors, worker threads, metrics shards, lingering close
    config  # the configuration model: parsing, tenants, admission rules, TLS, plugin registry, port-token keys
    store   # the state store (memory, Redis)
    util    # event loop and timers, clock, log, hash map, URL and YAML helpers, route classification
)

set -euo pipefail
cd "$(dirname "$0")/.."

rank_of() {
    local i
    for i in "${!LAYERS[@]}"; do
        if [ "${LAYERS[$i]}" = "$1" ]; then
            echo "$i"
            return
        fi
    done
    echo -1
}

errors=0
fail() {
    echo "$1" >&2
    errors=$((errors + 1))
}

# every folder of gateway/ must have a place in LAYERS
for dir in gateway/*/; do
    folder=$(basename "$dir")
    [ "$(rank_of "$folder")" -ge 0 ] || fail "gateway/$folder/: folder not in LAYERS (scripts/check-layers.sh)"
done

while IFS= read -r file; do
    folder=$(echo "$file" | cut -d/ -f2)
    from=$(rank_of "$folder")
    while IFS=: read -r line inc; do
        case "$inc" in
        plugin.h | version.h) continue ;;
        *..*)
            fail "$file:$line: #include \"$inc\": no \"..\" in includes (name the header from gateway/)"
            continue
            ;;
        */*) ;;
        *)
            fail "$file:$line: #include \"$inc\" does not name its layer (write \"<folder>/$inc\")"
            continue
            ;;
        esac
        to_folder=${inc%%/*}
        to=$(rank_of "$to_folder")
        if [ "$to" -lt 0 ] || [ ! -f "gateway/$inc" ]; then
            fail "$file:$line: #include \"$inc\": no such header under gateway/"
        elif [ "$to" -lt "$from" ]; then
            fail "$file:$line: #include \"$inc\": $folder/ may not include $to_folder/ (a higher layer)"
        fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" | sed 's/^\([0-9]*\):.*"\([^"]*\)".*/\1:\2/' || true)
done < <(find gateway -mindepth 2 -type f \( -name '*.c' -o -name '*.h' \) -not -path '*/compat/*' | LC_ALL=C sort)

while IFS= read -r file; do
    while IFS=: read -r line inc; do
        case "$inc" in
        plugin.h | ../plugin.h) ;;
        */*) fail "$file:$line: #include \"$inc\": plugins include only plugin.h (and their own headers next to them)" ;;
        *)
            # a plugin's own header in its folder (itself checked by this loop) is fine: it is not the gateway's
            [ -f "$(dirname "$file")/$inc" ] ||
                fail "$file:$line: #include \"$inc\": plugins include only plugin.h (and their own headers next to them)"
            ;;
        esac
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" | sed 's/^\([0-9]*\):.*"\([^"]*\)".*/\1:\2/' || true)
done < <(find lua-free-plugins -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)

if [ "$errors" -ne 0 ]; then
    echo "layer check: $errors violation(s); allowed directions: scripts/check-layers.sh, docs/ARCHITECTURE.md" >&2
    exit 1
fi
echo "layer check: ok (${LAYERS[*]})"
