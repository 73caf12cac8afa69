#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Issue 17's gateway benchmark, in one run on one machine: a SIZE_MIB resource read through the content gateway
# (curl GET /ipfs/ID) against `inos get` reading the same resource, ROUNDS alternating rounds, medians and ratios:
#   local:  node A holds it; curl A's gateway  vs  `inos get` through A (its API: the node writes the file);
#   remote: B, C, D hold it (each fetched a copy); a node E that holds nothing serves it through its gateway,
#           fetching every chunk from the holders  vs  `inos get --mesh` from a fresh client (routed, several holders).
# And the first byte of a 100-byte Range request in the middle of the resource (curl's time_starttransfer), local
# and remote (a fresh E each round, so nothing is cached). Files on tmpfs (GATEWAY_DIR, default /dev/shm).
# Usage: Benchmarks/gateway/gateway.sh [SIZE_MIB=1024] [ROUNDS=3]   (SKIP_BUILD=1 uses the existing release build)
set -euo pipefail
SIZE_MIB=${1:-1024}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[ "${SKIP_BUILD:-0}" = 1 ] || (cd "$ROOT" && swift build -c release >/dev/null)
INOS=${INOS:-"$ROOT/.build/release/inos"}
W=$(mktemp -d "${GATEWAY_DIR:-/dev/shm}/inos-gateway.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
value() { grep -m1 "^$2" "$1" | sed "s|^$2||; s|/ipfs/$||; s|/metrics$||"; }

# start NAME ARGS...: an inos node on its own data dir; waits for its transport and gateway lines.
start() {
    local name=$1; shift
    "$INOS" node --data-dir "$W/$name" --listen tcp://127.0.0.1:0 --gateway-listen 127.0.0.1:0 --metrics-listen none --provide-interval 1 "$@" > "$W/$name.log" 2>&1 &
    PIDS+=($!)
    until grep -q "^gateway on" "$W/$name.log" 2>/dev/null; do sleep 0.1; done
}

head -c $((SIZE_MIB << 20)) /dev/urandom > "$W/file.bin"
cat "$W/file.bin" > /dev/null
ID=$("$INOS" put "$W/file.bin" --parity none --data-dir "$W/a" 2>/dev/null | tail -1)
start a
A=$(value "$W/a.log" "listening on ")
GW_A=$(value "$W/a.log" "gateway on ")
for holder in b c d; do
    start $holder --bootstrap "$A"
    INOS_DATA_DIR="$W/$holder" "$INOS" get "$ID" --mesh "$A" >/dev/null 2>&1  # a whole copy, pinned (through the node)
done
MIDDLE=$(( (SIZE_MIB << 19) ))
RANGE="bytes=$MIDDLE-$((MIDDLE + 99))"
: > "$W/local-gw" ; : > "$W/local-get" ; : > "$W/remote-gw" ; : > "$W/remote-get" ; : > "$W/ttfb-local" ; : > "$W/ttfb-remote"
for round in $(seq 1 "$ROUNDS"); do
    # local
    t=$(now); curl -sf -o "$W/out-gw" "$GW_A/ipfs/$ID"; echo "$(now) - $t" | bc >> "$W/local-gw"
    cmp -s "$W/file.bin" "$W/out-gw" || { echo "gateway bytes differ (local)" >&2; exit 1; }
    t=$(now); INOS_DATA_DIR="$W/a" "$INOS" get "$ID" -o "$W/out-get" >/dev/null 2>&1; echo "$(now) - $t" | bc >> "$W/local-get"
    curl -sf -o /dev/null -H "Range: $RANGE" -w '%{time_starttransfer}\n' "$GW_A/ipfs/$ID" >> "$W/ttfb-local"
    rm -f "$W/out-gw" "$W/out-get"
    # remote: a fresh E (nothing cached) and a fresh client
    start "e$round" --bootstrap "$A"
    GW_E=$(value "$W/e$round.log" "gateway on ")
    # Until E knows the holders (their provider records): this reads the first chunk only.
    until curl -sf -o /dev/null -H "Range: bytes=0-0" "$GW_E/ipfs/$ID" 2>/dev/null; do sleep 0.5; done
    curl -sf -o /dev/null -H "Range: $RANGE" -w '%{time_starttransfer}\n' "$GW_E/ipfs/$ID" >> "$W/ttfb-remote"
    t=$(now); curl -sf -o "$W/out-gw" "$GW_E/ipfs/$ID"; echo "$(now) - $t" | bc >> "$W/remote-gw"
    cmp -s "$W/file.bin" "$W/out-gw" || { echo "gateway bytes differ (remote)" >&2; exit 1; }
    t=$(now); "$INOS" get "$ID" --mesh "$A" -o "$W/out-get" --data-dir "$W/client$round" >/dev/null 2>&1; echo "$(now) - $t" | bc >> "$W/remote-get"
    rm -rf "$W/out-gw" "$W/out-get" "$W/client$round"
done
report() {
    local gw get; gw=$(median < "$W/$1-gw"); get=$(median < "$W/$1-get")
    printf '%-7s gateway %7.2f s (%6.0f MB/s)   inos get %7.2f s (%6.0f MB/s)   gateway/get %.2f\n' "$1" "$gw" \
        "$(echo "$SIZE_MIB * 1.048576 / $gw" | bc -l)" "$get" "$(echo "$SIZE_MIB * 1.048576 / $get" | bc -l)" "$(echo "$gw / $get" | bc -l)"
}
echo "gateway vs inos get, $SIZE_MIB MiB, $ROUNDS rounds (medians), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
report local
report remote
printf 'first byte of a 100-byte Range at %d MiB: local %.1f ms, remote (fresh node, fetched from the holders) %.1f ms\n' \
    $((MIDDLE >> 20)) "$(echo "$(median < "$W/ttfb-local") * 1000" | bc -l)" "$(echo "$(median < "$W/ttfb-remote") * 1000" | bc -l)"
