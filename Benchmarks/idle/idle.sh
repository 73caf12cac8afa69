#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Issue 15's idle benchmark: NODES release-built `inos node` processes in a mesh on loopback (TCP transport,
# the embedded manifest), left alone. After SETTLE seconds each node's CPU time (the node and any child
# processes: the process CPU clock in ns, and utime + stime from /proc/<pid>/stat as a cross-check; see cpu.py)
# is read over WINDOW seconds and printed as % of one core, with the median over the nodes. CPU *time consumed* is measured, not speed, so the figure holds on a loaded
# machine. Baselines from the same window: a process that only blocks (`sleep`), and one node alone with no
# peers. THREADS=1 also prints where the mesh nodes' CPU went, per thread name, summed over the nodes.
# Goal: median < 1% of one core for a 5-node mesh.
# Usage: Benchmarks/idle/idle.sh [NODES=5] [WINDOW=30] [SETTLE=15]   (env: BASE_PORT, SKIP_BUILD=1, THREADS=1,
# INOS=<another inos binary>, NODE_ARGS="<extra inos node options>",
# PUT_KIB=<each node first stores a random resource of this size>)
set -euo pipefail
NODES=${1:-5}
WINDOW=${2:-30}
SETTLE=${3:-15}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[ "${SKIP_BUILD:-0}" = 1 ] || (cd "$ROOT" && nice -n 10 swift build -c release >/dev/null)
INOS=${INOS:-"$ROOT/.build/release/inos"}
W=$(mktemp -d /tmp/inos-idle.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT

# NODES + 1 consecutive ports nobody listens on, from 42000–48999 unless BASE_PORT is given.
port_free() { ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
if [ -z "${BASE_PORT:-}" ]; then
    for _ in $(seq 1 50); do
        BASE_PORT=$((42000 + (RANDOM % 700) * 10))
        ok=1
        for i in $(seq 0 "$NODES"); do port_free $((BASE_PORT + i)) || { ok=0; break; }; done
        [ $ok = 1 ] && break
    done
fi

start_node() {  # name port [bootstrap]
    if [ "${PUT_KIB:-0}" -gt 0 ]; then  # the node holds (pins) a resource of its own: repair rounds census it
        head -c $((PUT_KIB << 10)) /dev/urandom > "$W/$1.bin"
        "$INOS" put "$W/$1.bin" --data-dir "$W/$1" > /dev/null 2>&1
    fi
    local args=(node --data-dir "$W/$1" --listen "tcp://127.0.0.1:$2")
    [ -n "${3:-}" ] && args+=(--bootstrap "$3")
    # shellcheck disable=SC2206
    args+=(${NODE_ARGS:-})
    "$INOS" "${args[@]}" > "$W/$1.log" 2>&1 &
    PIDS+=($!)
    echo $! > "$W/$1.pid"
    until grep -q "listening on" "$W/$1.log" 2>/dev/null; do
        kill -0 "$(cat "$W/$1.pid")" 2>/dev/null || { echo "node $1 exited:" >&2; cat "$W/$1.log" >&2; exit 1; }
        sleep 0.1
    done
}

SEED="tcp://127.0.0.1:$BASE_PORT"
start_node n1 "$BASE_PORT"
for i in $(seq 2 "$NODES"); do start_node "n$i" $((BASE_PORT + i - 1)) "$SEED"; done
start_node alone $((BASE_PORT + NODES))
sleep 1000000 &
PIDS+=($!)
SLEEPER=$!
sleep "$SETTLE"

# Sessions each mesh node made (distinct peers): a full mesh has NODES - 1 each.
MESH_PIDS=()
for i in $(seq 1 "$NODES"); do MESH_PIDS+=("$(cat "$W/n$i.pid")"); done
SESSIONS=()
for i in $(seq 1 "$NODES"); do
    SESSIONS+=("$(grep -o 'secure session with node [^ ]*' "$W/n$i.log" | sort -u | wc -l)")
done

python3 "$ROOT/Benchmarks/idle/cpu.py" "$WINDOW" "${THREADS:-0}" "${MESH_PIDS[@]}" -- \
    "one node alone:=$(cat "$W/alone.pid")" "blocked sleep:=$SLEEPER"
echo "  sessions per mesh node (distinct peers, full mesh = $((NODES - 1))): ${SESSIONS[*]}"
