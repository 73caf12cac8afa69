# SPDX-License-Identifier: Apache-2.0
"""CPU used by processes over a window, for Benchmarks/idle/idle.sh.

Usage: cpu.py WINDOW THREADS(0|1) MESH_PIDS... -- NAME=PID...   (the baselines after --)

Per process (with its child processes): the process CPU clock in ns (CPUCLOCK_SCHED, what clock_getcpuclockid(3)
names: exact, every thread, exited ones too) and, as a cross-check, utime + stime from /proc/<pid>/stat (sampled
at the clock tick). THREADS=1 adds the mesh nodes' CPU per thread name (numbered pool threads together) (/proc/<pid>/task/*/schedstat, ns).
"""
import collections
import os
import re
import statistics
import sys
import time

TCK = os.sysconf("SC_CLK_TCK")


def stat(path):
    with open(path) as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])  # ppid, utime + stime (ticks)


def cpu_ns(pid):
    try:
        return time.clock_gettime_ns(((~pid) << 3) | 2)
    except OSError:
        return 0


def tree(root):
    """Per pid of root and its descendants: (utime + stime in ticks, CPU ns)."""
    parents, ticks = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)], ticks[int(entry)] = stat(f"/proc/{entry}/stat")
            except (OSError, ValueError):
                continue
    result, frontier = {}, [root]
    while frontier:
        pid = frontier.pop()
        if pid in ticks:
            result[pid] = (ticks[pid], cpu_ns(pid))
            frontier += [p for p, pp in parents.items() if pp == pid]
    return result


def per_thread(pids):
    out = {}
    for pid in pids:
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    name = f.read().strip()
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    out[(pid, tid)] = (name, int(f.read().split()[0]))  # ns on a CPU
        except OSError:
            pass
    return out


def main(argv):
    window, threads = float(argv[1]), argv[2] == "1"
    split = argv.index("--")
    mesh = [int(p) for p in argv[3:split]]
    baselines = [(item.split("=")[0], int(item.split("=")[1])) for item in argv[split + 1:]]
    watched = mesh + [pid for _, pid in baselines]
    before = {p: tree(p) for p in watched}
    threads_before = per_thread(mesh) if threads else {}
    t0 = time.monotonic()
    time.sleep(window)
    elapsed = time.monotonic() - t0
    after = {p: tree(p) for p in watched}

    def percent(pid, exact=True):
        """% of one core: the process and its children (a child started in the window counts from 0)."""
        i = 1 if exact else 0
        used = sum(v[i] - before[pid].get(child, (0, 0))[i] for child, v in after[pid].items())
        return 100.0 * used / (1e9 if exact else TCK) / elapsed

    figures = [percent(p) for p in mesh]
    median = statistics.median(figures)
    print(f"idle benchmark: {len(mesh)}-node mesh on loopback (TCP), {elapsed:.1f} s window, % of one core")
    print(f"  (each node process with its children: CPU clock, exact; [utime+stime, {1000 // TCK} ms ticks])")
    for i, pid in enumerate(mesh, 1):
        print(f"  node {i} (pid {pid}):            {figures[i - 1]:6.3f} %  [{percent(pid, False):5.2f} %]")
    ticks_median = statistics.median(percent(p, False) for p in mesh)
    print(f"  median mesh node:              {median:6.3f} %  [{ticks_median:5.2f} %]   goal: < 1 %")
    for name, pid in baselines:
        value = percent(pid)
        ratio = f"   mesh median / this: {median / value:.1f}x" if value > 0.001 else ""
        print(f"  baseline, {name:<20} {value:6.3f} %  [{percent(pid, False):5.2f} %]{ratio}")
    if threads:
        after_threads = per_thread(mesh)
        by_name, count = collections.Counter(), collections.Counter()
        for key, (name, ns) in after_threads.items():
            name = re.sub(r"\.\d+$", ".*", name)  # a pool's threads together: inos.bulk.0 … inos.bulk.7
            by_name[name] += ns - threads_before.get(key, (name, 0))[1]
            count[name] += 1
        print("  mesh nodes' CPU by thread name (threads alive at the end, summed over the nodes, % of one core):")
        for name, ns in by_name.most_common():
            print(f"    {name:<16} x{count[name]:<3} {100.0 * ns / 1e9 / elapsed:7.3f} %")


if __name__ == "__main__":
    main(sys.argv)
