#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Issue 6's benchmark: a file fetched by PEERS local clients from one source, INOS against aria2 (BitTorrent)
# doing the same on loopback, in the same script, on the same machine, in ROUNDS alternating rounds. Prints each
# side's median completion time (the last client to finish) and the ratio.
# Usage: Benchmarks/swarm/swarm.sh [SIZE_MIB=1024] [PEERS=8] [ROUNDS=3]
set -euo pipefail
SIZE_MIB=${1:-1024}
PEERS=${2:-8}
ROUNDS=${3:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v aria2c >/dev/null; then
    if [ "$(id -u)" = 0 ]; then apt-get install -y -q aria2 >/dev/null; else echo "aria2c is missing: apt-get install aria2" >&2; exit 2; fi
fi
(cd "$ROOT" && swift build -c release >/dev/null)
(cd "$ROOT/Benchmarks" && swift build -c release --product TransportBench >/dev/null)
INOS="$ROOT/.build/release/inos"
# On tmpfs (SWARM_DIR, default /dev/shm), so the CPU bounds the run, not the disk (issue 15).
W=$(mktemp -d "${SWARM_DIR:-/dev/shm}/inos-swarm.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
now() { date +%s.%N; }

head -c $((SIZE_MIB << 20)) /dev/urandom > "$W/file.bin"
# Warm the page cache and guest memory (Firecracker returns freed pages to the host; see docs/benchmarks.md).
cat "$W/file.bin" > /dev/null

inos_round() {
# --- INOS: one source node; PEERS clients read it through the mesh (secure sessions, every piece verified).
"$INOS" put "$W/file.bin" --parity none --data-dir "$W/src" > "$W/id.txt" 2>/dev/null
ID=$(tail -1 "$W/id.txt")
"$INOS" node --data-dir "$W/src" --listen tcp://127.0.0.1:0 --provide-interval 1 > "$W/src.log" 2>&1 &
PIDS+=($!)
until grep -q "listening on" "$W/src.log"; do sleep 0.1; done
SRC=$(grep -m1 "listening on" "$W/src.log" | awk '{print $3}')
until "$INOS" find "$ID" --from "$SRC" --data-dir "$W/finder" 2>/dev/null | grep -q tcp://; do sleep 0.3; done
start=$(now)
GETS=()
for i in $(seq 1 "$PEERS"); do
    # Fetched, verified and stored (durable when it returns), as aria2's leechers download into their file.
    "$INOS" get "$ID" --mesh "$SRC" --data-dir "$W/r$i" > "$W/get-$i.log" 2>&1 &
    GETS+=($!)
done
for p in "${GETS[@]}"; do wait "$p"; done
INOS_TIMES+=("$(python3 -c "print($(now) - $start)")")
# Untimed: every client wrote the whole resource into its store.
for i in $(seq 1 "$PEERS"); do
    "$INOS" get "$ID" -o "$W/inos-$i.bin" --data-dir "$W/r$i" > /dev/null 2>&1 && cmp -s "$W/file.bin" "$W/inos-$i.bin" || { echo "INOS client $i: incomplete or different" >&2; cat "$W/get-$i.log" >&2; exit 1; }
    rm -f "$W/inos-$i.bin"
done
kill -9 "${PIDS[@]}" 2>/dev/null || true
PIDS=()
rm -rf "$W"/r* "$W"/inos-*.bin "$W/src"

}

aria2_round() {
# --- aria2: one seeder; PEERS leechers in a swarm (they upload to each other), tracker on loopback.
PORT=$((20000 + RANDOM % 20000))
rm -rf "$W"/seed "$W"/l* "$W/file.torrent"
python3 "$ROOT/Benchmarks/swarm/torrent_tools.py" make "$W/file.bin" "http://127.0.0.1:$PORT/announce" "$W/file.torrent"
python3 "$ROOT/Benchmarks/swarm/torrent_tools.py" tracker "$PORT" &
PIDS+=($!)
sleep 0.5
COMMON=(--enable-dht=false --enable-peer-exchange=true --bt-enable-lpd=false --bt-max-peers=0 --file-allocation=none
        --console-log-level=warn --summary-interval=0 --bt-tracker-interval=1 --bt-min-crypto-level=plain --bt-require-crypto=false
        --disk-cache=64M --max-overall-upload-limit=0)
mkdir -p "$W/seed" && cp "$W/file.bin" "$W/seed/"
aria2c "${COMMON[@]}" --dir="$W/seed" --seed-ratio=0.0 --check-integrity=true --listen-port=$((PORT + 1)) "$W/file.torrent" > "$W/seed.log" 2>&1 &
PIDS+=($!)
# The seeder hashes the file once (--check-integrity) before it seeds.
sleep $((2 + SIZE_MIB / 400))
start=$(now)
LEECH=()
for i in $(seq 1 "$PEERS"); do
    mkdir -p "$W/l$i"
    # Leechers keep seeding after they finish (so the others can still use them) and write when they finished.
    aria2c "${COMMON[@]}" --dir="$W/l$i" --seed-ratio=0.0 --listen-port=$((PORT + 1 + i)) \
        --on-bt-download-complete="$ROOT/Benchmarks/swarm/done.sh" "$W/file.torrent" > "$W/leech-$i.log" 2>&1 &
    LEECH+=($!)
    PIDS+=($!)
done
until [ "$(ls "$W"/l*/done 2>/dev/null | wc -l)" -ge "$PEERS" ]; do sleep 0.05; done
ARIA_TIMES+=("$(python3 -c "print($(now) - $start)")")
for i in $(seq 1 "$PEERS"); do cmp -s "$W/file.bin" "$W/l$i/file.bin" || { echo "aria2 leecher $i: output differs" >&2; exit 1; }; done

kill -9 "${PIDS[@]}" 2>/dev/null || true
wait 2>/dev/null || true
PIDS=()
rm -rf "$W"/seed "$W"/l*
}

INOS_TIMES=()
ARIA_TIMES=()
for round in $(seq 1 "$ROUNDS"); do
    inos_round
    aria2_round
    echo "round $round: INOS ${INOS_TIMES[-1]} s, aria2 ${ARIA_TIMES[-1]} s" >&2
done
# The CPU bound, from one-core rates measured now (issue 15): every byte is sealed once per client (source) and
# opened, hashed (SHA-256) and copied into the store once (client); the work spread over every core.
read -r _ SHA _ AEAD _ COPY _ SUITE <<< "$(cd "$ROOT/Benchmarks" && ./.build/release/TransportBench rates)"
CORES=$(nproc)
bound_seconds=$(python3 -c "b=$SIZE_MIB*2**20*$PEERS/1e9; print(b*(1/$AEAD + 1/$SHA + 1/$COPY)/$CORES)")
median() { printf "%s\n" "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
inos_seconds=$(median "${INOS_TIMES[@]}")
aria2_seconds=$(median "${ARIA_TIMES[@]}")
printf "swarm benchmark: %d MiB to %d clients from one source on loopback (2 cores shared by every process), median of %d alternating rounds\n" "$SIZE_MIB" "$PEERS" "$ROUNDS"
printf "  INOS (secure sessions, SHA-256 verified, stored durably): %.2f s  (rounds: %s)\n" "$inos_seconds" "${INOS_TIMES[*]}"
printf "  aria2 %s (BitTorrent, SHA-1 verified, synced):        %.2f s  (rounds: %s)\n" "$(aria2c --version | head -1 | awk '{print $3}')" "$aria2_seconds" "${ARIA_TIMES[*]}"
printf "  ratio INOS / aria2: %.2f (goal: <= 1)\n" "$(python3 -c "print($inos_seconds / $aria2_seconds)")"
printf "  CPU bound: %.2f s on %d cores (one-core rates now: SHA-256 %s, AEAD seal+open %s (%s), copy %s GB/s); INOS / bound: %.2f (goal: <= 1.5)\n" \
    "$bound_seconds" "$CORES" "$SHA" "$AEAD" "$SUITE" "$COPY" "$(python3 -c "print($inos_seconds / $bound_seconds)")"
