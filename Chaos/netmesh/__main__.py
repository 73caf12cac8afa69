# SPDX-License-Identifier: Apache-2.0
"""python3 -m netmesh SCENARIO [options] — see docs/chaos.md; `python3 -m netmesh clean` removes leftovers, and
`python3 -m netmesh wire` runs the wire's own tests (test_wire.py), which `ci` runs first."""
import argparse
import json
import os
import shutil
import sys
import time

from . import mesh as netmesh
from . import scenarios
from . import test_wire

ALL = ["ci", "churn", "partition", "region-loss", "lossy", "slow-node", "bootstrap-loss", "idle", "edge", "partial"]


def main():
    parser = argparse.ArgumentParser(prog="netmesh", description="Chaos runs of inos nodes in network namespaces.")
    parser.add_argument("scenario", choices=ALL + ["clean", "wire"])
    parser.add_argument("--hosts", type=int, help="node hosts (default: 6 for ci, else 30)")
    parser.add_argument("--regions", type=int, default=3, help="regions, 1..3 (default 3)")
    parser.add_argument("--clients", type=int, default=None, help="client hosts (default 2 for ci, else 4)")
    parser.add_argument("--duration", type=float, default=None, help="seconds of faults (default 20 for ci, else 60)")
    parser.add_argument("--repair-interval", type=float, default=5.0, help="the nodes' --repair-interval")
    parser.add_argument("--inos", default=os.environ.get("INOS", "inos"), help="the inos executable ($INOS)")
    parser.add_argument("--out", default=None, help="run folder (default /tmp/netmesh-<scenario>-<time>)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the run folder when the run passes")
    parser.add_argument("--view", type=int, default=8, help="partial: each node's --max-members (default 8)")
    parser.add_argument("--size-mib", type=int, default=300, help="edge: the resource's size in MiB (default 300)")
    arguments = parser.parse_args()

    if arguments.scenario == "clean":
        removed = netmesh.clean_leftovers()
        print(f"removed {len(removed)} namespace(s)" + (f": {' '.join(removed)}" if removed else ""))
        return 0
    reason = netmesh.can_create_namespaces()
    if reason:
        print(f"==> chaos {arguments.scenario}: SKIPPED — network namespaces cannot be created here: {reason}")
        return 0
    try:
        netmesh.build_wire(log=lambda line: print(line, flush=True))
    except RuntimeError as error:
        print(f"chaos: {error}", file=sys.stderr)
        return 2
    inos = shutil.which(arguments.inos) or arguments.inos
    if arguments.scenario != "wire" and not os.access(inos, os.X_OK):
        print(f"chaos: no inos executable at {arguments.inos}", file=sys.stderr)
        return 2
    if arguments.scenario in ("wire", "ci"):
        # The wire is the network every scenario measures through: CI checks it before it believes a run.
        if not test_wire.run(log=lambda line: print(line, flush=True)):
            print(f"==> chaos {arguments.scenario}: FAILED — the wire's own tests failed (above)")
            return 1
        if arguments.scenario == "wire":
            return 0
    ci = arguments.scenario == "ci"
    directory = arguments.out or f"/tmp/netmesh-{arguments.scenario}-{time.strftime('%H%M%S')}"
    shutil.rmtree(directory, ignore_errors=True)
    options = scenarios.Options(
        hosts=arguments.hosts or (6 if ci else 30), regions=max(1, min(3, arguments.regions)),
        clients=arguments.clients if arguments.clients is not None else (2 if ci else 4),
        duration=arguments.duration or (20.0 if ci else 60.0), repair_interval=arguments.repair_interval,
        inos=os.path.abspath(inos), directory=directory, seed=arguments.seed,
        log=lambda line: print(line, flush=True))
    if ci:
        # CI's size: one read back per acknowledged resource (entries still rotate over every region's nodes),
        # smaller files.
        options.final_entries, options.sizes = 1, (16 << 10, 1 << 20)
    started = time.monotonic()
    if arguments.scenario == "slow-node":
        report = scenarios.slow_node(options)
    elif arguments.scenario == "idle":
        report = scenarios.idle(options)
    elif arguments.scenario == "edge":
        report = scenarios.edge(options, size_mib=max(4, arguments.size_mib))
    elif arguments.scenario == "partial":
        report = scenarios.partial(options, view=max(4, arguments.view))
    else:
        report = scenarios.run(arguments.scenario, options)
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(report, indent=2))
    if report["ok"]:
        print(f"==> chaos {arguments.scenario}: PASSED in {report['wall_seconds']:.0f} s")
        if not arguments.keep:
            shutil.rmtree(directory, ignore_errors=True)
        return 0
    print(f"==> chaos {arguments.scenario}: FAILED — " + "; ".join(report["violations"]) +
          f" (history, logs and report in {directory})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
