#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Chaos runs of inos nodes in network namespaces (issue 18; docs/chaos.md).
#
#   ./scripts/netmesh.sh ci                      what CI runs: the wire's tests, then 6 hosts, churn then a
#                                                partition (≈ 1.5 min)
#   ./scripts/netmesh.sh wire                    the wire's own tests alone (3 hosts, no node, ≈ 12 s)
#   ./scripts/netmesh.sh churn --hosts 30        one scenario: churn, partition, region-loss, lossy, slow-node,
#                                                bootstrap-loss, idle (defaults: 30 hosts in 3 regions, 4 clients)
#   ./scripts/netmesh.sh clean                   remove the namespaces a killed run left behind
#
# Needs root (network namespaces, TUN devices), python3 (standard library only) and a C compiler (cc, gcc or
# clang; $CC): the wire, Chaos/wire/wire.c, is compiled on first use into .build-wire/netmesh-wire. --inos names
# the inos executable (default: .build/release/inos when built, else .build/debug/inos); its plugins sit beside it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
inos=()
case " $* " in
    *" --inos "*) ;;
    *) for candidate in "$root/.build/release/inos" "$root/.build/debug/inos"; do
           if [ -x "$candidate" ]; then inos=(--inos "$candidate"); break; fi
       done ;;
esac
cd "$root/Chaos"
exec python3 -m netmesh "$@" ${inos[@]+"${inos[@]}"}
