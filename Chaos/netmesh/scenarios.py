# SPDX-License-Identifier: Apache-2.0
"""The scenarios: each sets up the mesh, runs clients under its faults, heals, and checks the history.

Every scenario follows the same run: hosts in regions (latency inside a region ~2 ms round trip, between regions
40–120 ms), nodes started and joined, the monitor and the clients started, the scenario's faults, the heal (every
node running again, every link back to normal), then three checks — membership converges, copies return to their
target (every leader's repair round after the heal finds nothing below target), and every acknowledged put reads
back byte-identical through nodes of every region. The report says what was measured; the run fails on any
violation.
"""
import concurrent.futures
import json
import os
import random
import re
import statistics
import subprocess
import time

from .history import Clients, History, Monitor, digest, summarize
from .mesh import Mesh

REGIONS = ["eu", "us", "ap"]
LATENCY = {"eu/eu": 0.002, "us/us": 0.002, "ap/ap": 0.002, "eu/us": 0.08, "us/ap": 0.12, "eu/ap": 0.04}


class Context:
    def __init__(self, mesh, history, clients, monitor, options, rng):
        self.mesh, self.history, self.clients, self.monitor = mesh, history, clients, monitor
        self.options, self.rng = options, rng
        self.log = options.log

    @property
    def nodes(self):
        return self.mesh.hosts

    def kill(self, host):
        host.kill()
        self.history.event("kill", host=host.name)
        self.log(f"  {self.history.now():7.1f} s  SIGKILL {host.name} ({host.region})")

    def restart(self, host):
        host.start(self.bootstrap_for(host))
        self.history.event("restart", host=host.name)
        self.log(f"  {self.history.now():7.1f} s  restart {host.name}")

    def bootstrap_for(self, host):
        return self.options.bootstrap(self.mesh)

    def sleep(self, seconds):
        time.sleep(seconds)

    @staticmethod
    def wait(condition, timeout, step=0.25):
        return wait(condition, timeout, step)


def wait(condition, timeout, step=0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def first_of_each_region(mesh):
    seen, seeds = set(), []
    for host in mesh.hosts:
        if host.region not in seen:
            seen.add(host.region)
            seeds.append(host)
    return seeds


# Fault schedules. Each returns when its faults have ended (the heal is done by the caller).

def churn(ctx, duration, fraction=0.3, downtime=None, period=None):
    """Nodes killed with SIGKILL and restarted on a schedule: at most `fraction` of them down at once."""
    nodes = ctx.nodes
    most_down = max(1, int(len(nodes) * fraction))
    downtime = downtime or max(8.0, duration / 4)
    period = period or max(1.0, downtime / most_down)
    ctx.log(f"  churn: up to {most_down} of {len(nodes)} nodes down at once, each for {downtime:.0f} s, "
            f"a kill every {period:.1f} s, for {duration:.0f} s")
    end = time.monotonic() + duration
    down = {}
    while time.monotonic() < end:
        now = time.monotonic()
        for host, since in list(down.items()):
            if now - since >= downtime:
                ctx.restart(host)
                del down[host]
        if len(down) < most_down:
            victim = ctx.rng.choice([h for h in nodes if h.running and h not in down])
            ctx.kill(victim)
            down[victim] = time.monotonic()
        ctx.sleep(period)
    for host in down:
        ctx.restart(host)


def partition(ctx, duration):
    """Two halves (nodes and clients), then healed."""
    nodes = ctx.nodes
    half = len(nodes) // 2
    left, right = nodes[:half], nodes[half:]
    clients = ctx.mesh.clients
    left_clients, right_clients = clients[: (len(clients) + 1) // 2], clients[(len(clients) + 1) // 2:]
    ctx.mesh.partition(left + left_clients, right + right_clients)
    ctx.history.event("partition", groups=[[h.name for h in left], [h.name for h in right]])
    ctx.log(f"  {ctx.history.now():7.1f} s  partition {[h.name for h in left]} | {[h.name for h in right]}")
    ctx.sleep(duration)
    ctx.mesh.partition()
    ctx.history.event("heal_partition")
    ctx.log(f"  {ctx.history.now():7.1f} s  partition healed")


def region_loss(ctx, duration, region="ap"):
    """A whole region's machines die (SIGKILL), then come back with their disks."""
    victims = [h for h in ctx.nodes if h.region == region]
    for host in victims:
        ctx.kill(host)
    ctx.sleep(duration)
    for host in victims:
        ctx.restart(host)


def lossy(ctx, duration, loss=0.05, jitter=0.2):
    """5% loss on every link; 200 ms jitter on a third of the hosts."""
    ctx.mesh.links(ctx.mesh.every_host, loss=loss)
    jittery = ctx.nodes[::3]
    ctx.mesh.links(jittery, jitter=jitter)
    ctx.history.event("lossy", loss=loss, jitter=jitter, jittery=[h.name for h in jittery])
    ctx.log(f"  {ctx.history.now():7.1f} s  {loss:.0%} loss everywhere, ±{jitter * 1000:.0f} ms jitter on "
            f"{[h.name for h in jittery]}")
    ctx.sleep(duration)


SCHEDULES = {
    "churn": lambda ctx, o: churn(ctx, o.duration),
    "partition": lambda ctx, o: partition(ctx, o.duration),
    "region-loss": lambda ctx, o: region_loss(ctx, o.duration),
    "lossy": lambda ctx, o: lossy(ctx, o.duration),
    "ci": lambda ctx, o: (churn(ctx, o.duration, fraction=0.34, downtime=o.duration / 2,
                                period=o.duration / 4),
                          partition(ctx, o.duration / 2)),
}


class Options:
    def __init__(self, **fields):
        self.hosts, self.regions, self.clients, self.duration = 6, 3, 2, 30.0
        self.repair_interval, self.inos, self.directory, self.seed = 5.0, "inos", "/tmp/netmesh", 1
        self.final_entries, self.join_timeout, self.log = 3, 60.0, print
        self.sizes = (16 << 10, 3 << 20)
        self.verbose = bool(os.environ.get("NETMESH_VERBOSE"))
        self.bootstrap = first_of_each_region
        self.__dict__.update(fields)


def regions_for(options):
    """Hosts in contiguous blocks, one per region."""
    names = REGIONS[: options.regions]
    return [names[i * len(names) // options.hosts] for i in range(options.hosts)]


def member_views(mesh):
    """Each running node host with its members by address (GET /v1/members), or None where it does not answer."""
    for host in mesh.hosts:
        if host.running:
            members = host.api("/v1/members", timeout=2.0)
            yield host, ({m.get("address"): m for m in members} if isinstance(members, list) else None)


def unconverged(mesh):
    """Who does not see whom as alive (for the log). A member held without its address (so not found by it) is
    looked up by its ID and shown as `h7:suspect@123 (no address)`: state and incarnation as the observer holds them."""
    lines = []
    views = list(member_views(mesh))
    ids = {}
    for host, members in views:
        for member in (members or {}).values():
            if member.get("is_self"):
                ids[host.name] = member.get("id")
    for host, members in views:
        if members is None:
            lines.append(f"{host.name} does not answer")
            continue
        states = {address: m.get("state") for address, m in members.items()}
        by_id = {m.get("id"): m for m in members.values()}
        missing = []
        for h in mesh.hosts:
            if not h.running or states.get(h.endpoint) == "alive":
                continue
            if h.endpoint in states:
                missing.append(f"{h.name}:{states[h.endpoint]}")
                continue
            held = by_id.get(ids.get(h.name))
            missing.append(f"{h.name}:unknown" if held is None else
                           f"{h.name}:{held.get('state')}@{held.get('incarnation')} ({held.get('address') or 'no address'})")
        if missing:
            lines.append(f"{host.name} sees {' '.join(missing)}")
    return lines


def region_view(mesh):
    """Members a running node shows with another region name than the one that member was started with (the
    names travel in the gossiped node status; placement's hierarchical tier groups by them)."""
    wrong = []
    for host, members in member_views(mesh):
        if members is None:
            wrong.append(f"{host.name} does not answer")
            continue
        regions = {address: m.get("region") for address, m in members.items()}
        wrong += [f"{host.name} shows {h.name} in {regions.get(h.endpoint)!r}, not {h.region!r}" for h in mesh.hosts
                  if h.running and regions.get(h.endpoint) != h.region]
    return wrong


def none_exited(mesh):
    """True; a node that exited by itself while the mesh forms (a bad option, a plugin not found) ends the run
    at once with its last words, instead of the join wait counting only the nodes still running."""
    for host in mesh.hosts:
        status = host.exited_by_itself
        if status is not None:
            raise SystemExit(f"chaos: node {host.name} exited by itself (status {status}) while the mesh formed: "
                             f"{host.last_words()}")
    return True


def joined(mesh, monitor=None):
    for host in mesh.hosts:
        if not host.running:
            continue
        members = host.api("/v1/members", timeout=2.0)
        if not isinstance(members, list):
            return False
        alive = {m.get("address") for m in members if m.get("state") == "alive"}
        if any(h.running and h.endpoint not in alive for h in mesh.hosts):
            return False
    return True


def run(scenario, options):
    rng = random.Random(options.seed)
    os.makedirs(options.directory, exist_ok=True)
    log = options.log
    log(f"==> chaos {scenario}: {options.hosts} hosts in {options.regions} region(s), {options.clients} client(s), "
        f"repair every {options.repair_interval:.0f} s; run folder {options.directory}")
    with Mesh(options.directory, regions_for(options), options.clients, options.inos,
              repair_interval=options.repair_interval, seed=options.seed) as mesh:
        mesh.model(latency=LATENCY, default_latency=0.002)
        history = History(os.path.join(options.directory, "history.jsonl"))
        # Every node's API twice per sample: keep the polling itself from loading a large mesh's 2 cores.
        monitor = Monitor(mesh, history, period=max(0.5, options.hosts / 12))
        clients = Clients(mesh, history, options.inos, rng, sizes=options.sizes)
        ctx = Context(mesh, history, clients, monitor, options, rng)
        if scenario == "bootstrap-loss":
            heal_at = bootstrap_loss(ctx)
        else:
            started = time.monotonic()
            for host in mesh.hosts:
                host.start(options.bootstrap(mesh))
            if not ctx.wait(lambda: none_exited(mesh) and joined(mesh), options.join_timeout, step=0.5):
                views = unconverged(mesh)
                raise SystemExit(f"chaos: the {options.hosts} nodes did not all see each other within "
                                 f"{options.join_timeout:.0f} s (logs: {options.directory}/h*.log): "
                                 + ("; ".join(views) if views else "converged by the last look"))
            history.event("joined", seconds=round(time.monotonic() - started, 2))
            log(f"  {history.now():7.1f} s  all {options.hosts} nodes joined ({time.monotonic() - started:.1f} s)")
            monitor.start()
            clients.start()
            ctx.sleep(min(10.0, options.duration / 3))  # a history before the faults
            SCHEDULES[scenario](ctx, options)
            mesh.heal()
            heal_at = history.now()
            history.event("heal")
            log(f"  {heal_at:7.1f} s  healed: every node running, every link normal")
        return finish(ctx, heal_at)


def finish(ctx, heal_at):
    mesh, history, clients, monitor, options, log = ctx.mesh, ctx.history, ctx.clients, ctx.monitor, ctx.options, ctx.log
    last_note = [time.monotonic()]

    def converged():
        if joined(mesh):
            return True
        if time.monotonic() - last_note[0] >= 5:
            last_note[0] = time.monotonic()
            log(f"  {history.now():7.1f} s  not converged: " + "; ".join(unconverged(mesh)))
        return False

    if not ctx.wait(converged, 60, step=0.5):
        log("  membership did not converge within 60 s of the heal")
    converged_at = history.now()
    log(f"  {converged_at:7.1f} s  membership converged ({converged_at - heal_at:.1f} s after the heal)")
    # Keep the clients going a little after the heal, then stop them so the final check sees a quiet mesh.
    ctx.sleep(2.0)
    clients.stop()
    # The checker's bound: 6 repair intervals + 10 s after the heal (membership must converge first, then a
    # round that starts after it finds what is missing and pushes it; rounds stretch on a loaded machine). The
    # report says separately whether the copies were back within the goal of 2 intervals.
    bound = 6 * options.repair_interval + 10.0
    repaired_at = None
    notes = [time.monotonic()]

    def repair_done():
        nonlocal repaired_at
        repaired_at = repaired(mesh, monitor, converged_at)
        if repaired_at is not None:
            return True
        if options.verbose and time.monotonic() - notes[0] >= 3:
            notes[0] = time.monotonic()
            log(f"  {history.now():7.1f} s  repair: " + "; ".join(
                f"{h.name} {(monitor.replication.get(h.name) or {}).get('under_replicated')}/"
                f"{((monitor.replication.get(h.name) or {}).get('last_repair') or {}).get('backlog')}/"
                f"{((monitor.replication.get(h.name) or {}).get('last_repair') or {}).get('remaining')} "
                f"{((monitor.replication.get(h.name) or {}).get('last_repair') or {}).get('seconds_ago', -1):.0f}s"
                for h in mesh.hosts))
        return False

    if ctx.wait(repair_done, bound + 30, step=0.5):
        log(f"  {repaired_at:7.1f} s  every copy back at target (each node's first repair round after the membership"
            f" converged ended with none below target), {repaired_at - heal_at:.1f} s after the heal")
    else:
        repaired_at = None
        for host in mesh.hosts:
            log(f"  {host.name} replication: {monitor.replication.get(host.name)}")
    # The region names each node gossips: every running node must show every running member's own name.
    region_mismatches = []

    def regions_known():
        region_mismatches[:] = region_view(mesh)
        return not region_mismatches

    ctx.wait(regions_known, 15, step=1.0)
    final = final_reads(ctx)
    monitor.stop()
    report = summarize(history, clients, monitor, mesh, heal_at, repaired_at if repaired_at and
                       repaired_at - heal_at <= bound else None, final, bound)
    report["repair_seconds_measured"] = None if repaired_at is None else round(repaired_at - heal_at, 1)
    report["repair_within_two_intervals"] = repaired_at is not None and repaired_at - heal_at <= 2 * options.repair_interval
    report["membership_converged_seconds_after_heal"] = round(converged_at - heal_at, 1)
    report["wire"] = {k: v for k, v in mesh.wire_stats().items() if k in (
        "forwarded", "queued", "late_over_1ms", "late_over_50ms", "late_max_ms", "dropped_overflow", "cpu_seconds", "priority")}
    report["region_gossip"] = {"mismatches": region_mismatches[:10]}
    if region_mismatches:
        report["violations"].append(f"{len(region_mismatches)} member(s) shown with another region than their own, "
                                    f"15 s after the membership converged: {'; '.join(region_mismatches[:3])}")
        report["ok"] = False
    history.close()
    with open(os.path.join(options.directory, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    return report


def repaired(mesh, monitor, since):
    """When every copy was back at target, or None if not yet: each running node's latest repair round started
    after `since` (the membership converged, so it saw every member) and ended with no piece below target. The
    moment is the latest of those rounds' ends — or its start, for a node whose round found nothing to do."""
    moments = []
    for host in mesh.hosts:
        if not host.running:
            continue
        summary = monitor.replication.get(host.name)
        last = (summary or {}).get("last_repair")
        if not last or last.get("remaining") is None:
            return None
        ended = summary["at"] - last.get("seconds_ago", 1e9)
        started = ended - last.get("duration_seconds", 0.0)
        if started < since or last["remaining"] != 0:
            return None
        # (`pushed` is the node's total of repaired pieces, not this round's: not a condition.)
        moments.append(ended if last.get("backlog", 0) > 0 else started)
    return max(moments) if moments else None


def final_reads(ctx):
    """Every acknowledged put, read back through nodes of different regions, from empty data directories."""
    mesh, clients, options = ctx.mesh, ctx.clients, ctx.options
    by_region = {}
    for host in mesh.hosts:
        if host.running:
            by_region.setdefault(host.region, []).append(host)
    jobs = []
    for index, resource in enumerate(clients.acknowledged):
        entries = [hosts[(index + k) % len(hosts)] for k, hosts in enumerate(by_region.values())]
        entries = (entries * options.final_entries)[: options.final_entries]
        for k, entry in enumerate(entries):
            jobs.append((mesh.clients[(index + k) % len(mesh.clients)], resource, entry))
    ctx.log(f"  final check: {len(clients.acknowledged)} acknowledged resource(s), {len(jobs)} read(s) through "
            f"{len(by_region)} region(s)")
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, len(mesh.clients))) as pool:
        return list(pool.map(lambda job: clients.get(job[0], job[1], ctx.rng, entry=job[2], final=True), jobs))


def bootstrap_loss(ctx):
    """The seed dies after the first two members joined it and before anyone else starts; the rest list the seed
    and those two as bootstrap peers, and must form one mesh without it. Then the seed comes back."""
    mesh, history, options = ctx.mesh, ctx.history, ctx.options
    seed, early, rest = mesh.hosts[0], mesh.hosts[1:3], mesh.hosts[3:]
    everyone = [seed] + early
    ctx.bootstrap_for = lambda host: everyone
    seed.start([])
    for host in early:
        host.start([seed])
    if not ctx.wait(lambda: joined(mesh), options.join_timeout, step=0.5):
        raise SystemExit("chaos: the first three nodes did not join")
    ctx.kill(seed)
    started = time.monotonic()
    for host in rest:
        host.start(everyone)
    ok = ctx.wait(lambda: joined(mesh), options.join_timeout, step=0.5)
    history.event("joined_without_seed", ok=ok, seconds=round(time.monotonic() - started, 2))
    ctx.log(f"  {history.now():7.1f} s  {len(rest) + 2} nodes {'formed one mesh' if ok else 'did NOT converge'} "
            f"without the seed ({time.monotonic() - started:.1f} s)")
    if not ok:
        raise SystemExit("chaos: the mesh did not form without its seed")
    ctx.monitor.start()
    ctx.clients.start()
    ctx.sleep(options.duration)
    ctx.restart(seed)
    mesh.heal()
    heal_at = history.now()
    history.event("heal")
    return heal_at


def slow_node(options):
    """A resource on exactly 3 holders, read with no limit and then with one holder at 10 Mbit/s — in two
    layouts, each on its own mesh:

    - **same region** (the goal's measure): the three holders and the reader in one region, 2 ms apart. What
      the ratio shows is the routing: whether reads go around the slow holder.
    - **across regions** (reported beside it): one holder per region, and the one throttled is the reader's
      own. Routing around it leaves holders 40 and 80 ms away, so the ratio also holds the cost of distance
      (TCP's slow start over a 40 ms round trip), which no routing can remove."""
    same = slow_node_layout(options, ["eu", "eu", "eu"], "same-region")
    across = slow_node_layout(options, REGIONS[:3], "across-regions")
    report = {"same_region": same, "across_regions": across, "median_ratio": same["median_ratio"],
              "limit_ratio": 1.5, "ok": same["ok"], "violations": same["violations"]}
    with open(os.path.join(options.directory, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    return report


def slow_node_layout(options, regions, label, reads=5, size=24 << 20):
    """Three node hosts in `regions` (one each) and the client's allocator held at 3 replicas: chunked
    replication then puts every chunk on all three. The reader is in the first host's region; that host is the
    one throttled."""
    log = options.log
    log(f"  layout {label}: holders in {regions}, the reader in {regions[0]}")
    directory = os.path.join(options.directory, label)
    with Mesh(directory, regions, 1, options.inos,
              repair_interval=options.repair_interval, seed=options.seed) as mesh:
        mesh.model(latency=LATENCY, default_latency=0.002)
        for host in mesh.hosts:
            host.start(first_of_each_region(mesh))
        if not wait(lambda: joined(mesh), options.join_timeout, step=0.5):
            raise SystemExit("chaos: nodes did not join")
        time.sleep(5)  # members publish their status (free space, load) every 2 s: placement needs it
        client = mesh.clients[0]
        store = os.path.join(directory, "slow-client")
        three_holder_manifest(options, client, store)
        path = os.path.join(directory, "slow.bin")
        with open(path, "wb") as f:
            f.write(random.Random(options.seed).randbytes(size))
        sha = digest(path)
        entry = [h for h in mesh.hosts if h.region == client.region][0]
        command, environment = client.command([options.inos, "put", path, "--mesh", entry.endpoint,
                                               "--progress", "none"], data_dir=store)
        put = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
        if put.returncode != 0:
            raise SystemExit(f"chaos: slow-node put failed: {put.stderr[-500:]}")
        resource = put.stdout.split()[-1]
        holders = [h for h in mesh.hosts if f"{h.endpoint} " in put.stderr]
        log(f"  put {size >> 20} MiB on {len(holders)} holder(s): {[h.name for h in holders]}")
        if len(holders) != 3:
            raise SystemExit(f"chaos: expected 3 holders, the put chose {len(holders)}:\n{put.stderr}")
        readers = holders  # the entry only finds the providers; the pieces come from all three

        address_of = {h.endpoint: h.name for h in mesh.hosts}
        served = {}

        def delivered(stderr):
            """Who delivered how many pieces, and how many were re-asked, from the get's summary lines."""
            counts = {}
            for line in stderr.splitlines():
                found = re.match(r"\s*source (\S+): .* delivered (\d+)", line)
                if found:
                    counts[address_of.get(found.group(1), found.group(1))] = int(found.group(2))
                found = re.search(r"; (\d+) re-asked", line)
                if found:
                    counts["re-asked"] = int(found.group(1))
            return counts

        def timed_reads(phase):
            times = []
            served[phase] = []
            for n in range(reads):
                out = os.path.join(directory, f"slow-{phase}-{n}.out")
                reader_store = os.path.join(directory, f"slow-{phase}-{n}")
                command, environment = client.command(
                    [options.inos, "get", resource, "--mesh", readers[n % len(readers)].endpoint, "-o", out,
                     "--progress", "none"], data_dir=reader_store)
                started = time.monotonic()
                result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
                elapsed = time.monotonic() - started
                if result.returncode != 0 or digest(out) != sha:
                    raise SystemExit(f"chaos: slow-node read failed: {result.stderr[-500:]}")
                os.unlink(out)
                subprocess.run(["rm", "-rf", reader_store])
                times.append(elapsed)
                served[phase].append(delivered(result.stderr))
            return times

        plain = timed_reads("plain")
        slow = holders[0]
        mesh.links([slow], rate=10e6)
        throttled = timed_reads("throttled")
        ratio = statistics.median(throttled) / statistics.median(plain)
        report = {"size_mib": size >> 20, "holders": [h.name for h in holders], "throttled": slow.name,
                  "rate_mbit": 10, "unthrottled_seconds": [round(t, 2) for t in plain],
                  "throttled_seconds": [round(t, 2) for t in throttled], "median_ratio": round(ratio, 2),
                  "limit_ratio": 1.5, "ok": ratio <= 1.5, "delivered": served}
        report["violations"] = [] if report["ok"] else [f"{label}: reads took {ratio:.2f}× the unthrottled time (> 1.5×)"]
        log(f"  {label}: median {statistics.median(plain):.2f} s unthrottled, {statistics.median(throttled):.2f} s with "
            f"{slow.name} at 10 Mbit/s: {ratio:.2f}×; {slow.name} delivered "
            f"{sum(d.get(slow.name, 0) for d in served['throttled'])} of {reads * (size >> 20)} pieces while throttled")
        return report


def three_holder_manifest(options, client, directory):
    """The client's data directory gets the embedded manifest (`inos init`) with the allocator held at exactly
    3 replicas: the put's plan then places every piece on the same 3 holders."""
    anchor = 'id = "inos.allocator.adaptive"\nrequired = false\n'
    edit_manifest(options, client, directory,
                  lambda text: text.replace(anchor, anchor + "[plugins.config]\nmin_replicas = 3\nmax_replicas = 3\n"))


def idle(options, settle=20.0, window=30.0):
    """Memory and CPU of idle nodes: N nodes joined, then CPU time over `window` seconds and RSS."""
    log = options.log
    with Mesh(options.directory, regions_for(options), 0, options.inos, repair_interval=options.repair_interval,
              seed=options.seed) as mesh:
        mesh.model(latency=LATENCY, default_latency=0.002)
        # In waves of 10, a few seconds apart: 50 processes starting at once on 2 cores starve each other's
        # probes into suspicion storms, which measures the start, not an idle node.
        for index, host in enumerate(mesh.hosts):
            if index and index % 10 == 0:
                time.sleep(3.0)
            host.start(first_of_each_region(mesh))
        if not wait(lambda: joined(mesh), options.join_timeout * 3, step=1.0):
            raise SystemExit("chaos: nodes did not join")
        log(f"  all {len(mesh.hosts)} nodes joined; settling {settle:.0f} s")
        time.sleep(settle)
        tick = os.sysconf("SC_CLK_TCK")

        def cpu(pid):
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick

        def rss(pid):
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
            return 0

        pids = [node_pid(h) for h in mesh.hosts]
        before, started = [cpu(p) for p in pids], time.monotonic()
        time.sleep(window)
        after, elapsed = [cpu(p) for p in pids], time.monotonic() - started
        shares = sorted((a - b) / elapsed * 100 for a, b in zip(after, before))
        sizes = sorted(rss(p) for p in pids)
        members = [len(h.api("/v1/members") or []) for h in mesh.hosts]
        report = {"nodes": len(pids), "members_seen": {"min": min(members), "max": max(members)},
                  "cpu_percent_of_a_core": {"median": round(statistics.median(shares), 2), "max": round(shares[-1], 2),
                                            "total": round(sum(shares), 1)},
                  "rss_mib": {"median": round(statistics.median(sizes) / 2**20, 1), "max": round(sizes[-1] / 2**20, 1),
                              "total": round(sum(sizes) / 2**20, 1)},
                  "window_seconds": window, "ok": True, "violations": []}
        with open(os.path.join(options.directory, "report.json"), "w") as f:
            json.dump(report, f, indent=2)
        return report


def node_pid(host):
    """The `inos node` process itself (the harness started `ip netns exec`, which execs it)."""
    return host.process.pid


FETCH = """
import hashlib, sys, time, urllib.request
started = time.monotonic()
digest, count = hashlib.sha256(), 0
with urllib.request.urlopen(sys.argv[1], timeout=600) as answer:
    while True:
        block = answer.read(1 << 20)
        if not block:
            break
        digest.update(block)
        count += len(block)
print(digest.hexdigest(), count, round(time.monotonic() - started, 3))
"""


def edge(options, size_mib=300):
    """The hierarchical tier, scaled down: a `size_mib` resource put with the allocator's size classes lowered so
    it goes hierarchical (seeds hold it all, each region's hubs a share of its chunks, edges cache on demand),
    then read whole through the gateways of nodes that hold none of it — first one per region, then (with the
    region's holders stopped) a second per region, which has only the first's edge cache nearby. Each read's bytes are split by where they came
    from (the reader's cache counts: its store, a holder or cache in its region, elsewhere); the figure is the
    share served inside the reader's region."""
    log = options.log
    regions = regions_for(options)
    threshold = max(2, size_mib // 2)
    log(f"==> chaos edge: {options.hosts} hosts in {options.regions} region(s), a {size_mib} MiB resource "
        f"(hierarchical from {threshold} MiB); run folder {options.directory}")
    with Mesh(options.directory, regions, 1, options.inos, repair_interval=options.repair_interval,
              seed=options.seed) as mesh:
        mesh.model(latency=LATENCY, default_latency=0.002)
        # Every node and the client place by the same allocator settings (repair re-plans with the node's own):
        # the hierarchical class from half the resource's size, and at most about half the nodes holding it (5
        # seeds, the rest hubs) so each region keeps edges that hold none. Each node's edge cache holds the whole
        # resource (the default 256 MiB would evict a 300 MiB read).
        anchor = 'id = "inos.allocator.adaptive"\nrequired = false\n'
        replicas = max(5, options.hosts // 2 + 2)
        allocator = (f"[plugins.config]\nerasure_from_mib = {max(1, threshold // 2)}\nhierarchical_from_mib = {threshold}\n"
                     f"max_replicas = {replicas}\n")
        for host in mesh.hosts:
            edit_manifest(options, host, host.data_dir, lambda text: text.replace(anchor, anchor + allocator).replace(
                "size_mib = 256\n", f"size_mib = {2 * size_mib + 64}\n", 1))
            host.start(first_of_each_region(mesh), extra=["--gateway-listen", "127.0.0.1:8080"])
        if not wait(lambda: joined(mesh), options.join_timeout, step=0.5):
            raise SystemExit("chaos: nodes did not join")
        time.sleep(5)  # statuses (region, free space) reach every member: placement needs them
        client = mesh.clients[0]
        store = os.path.join(options.directory, "edge-client")
        edit_manifest(options, client, store, lambda text: text.replace(anchor, anchor + allocator))
        path = os.path.join(options.directory, "edge.bin")
        generator = random.Random(options.seed)
        with open(path, "wb") as f:
            for _ in range(size_mib):  # a MiB at a time (randbytes takes at most 2^31 bits)
                f.write(generator.randbytes(1 << 20))
        sha = digest(path)
        entry = mesh.hosts[0]
        command, environment = client.command([options.inos, "put", path, "--mesh", entry.endpoint, "--progress", "none"],
                                              data_dir=store)
        started = time.monotonic()
        put = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=1800)
        if put.returncode != 0:
            raise SystemExit(f"chaos: edge put failed: {put.stderr[-800:]}")
        with open(os.path.join(options.directory, "put.txt"), "w") as f:
            f.write(put.stderr)
        resource = put.stdout.split()[-1]
        plan = next((line.strip() for line in put.stderr.splitlines() if "hierarchical" in line), "")
        log(f"  put {size_mib} MiB in {time.monotonic() - started:.0f} s: {plan or put.stderr.splitlines()[:2]}")
        if "hierarchical" not in put.stderr:
            raise SystemExit(f"chaos: the put was not hierarchical:\n{put.stderr[-1500:]}")
        time.sleep(3)  # provider records reach the DHT

        def held(host):
            status = host.api("/v1/status") or {}
            return (status.get("store") or {}).get("pinned_resources") or 0

        edges, holders = {}, {}
        for region in mesh.region_names:
            here = [(h, held(h)) for h in mesh.hosts if h.region == region]
            edges[region] = [h for h, pinned in here if pinned == 0]
            holders[region] = [h.name for h, pinned in here if pinned > 0]
        log("  holders (seeds and hubs): " + ", ".join(f"{r}: {names}" for r, names in holders.items()))
        log("  edge readers (hold none of it): " + ", ".join(f"{r}: {[h.name for h in hs]}" for r, hs in edges.items()))
        reads, violations = [], []

        def counts(host):
            cache = (host.api("/v1/status") or {}).get("cache") or {}
            return {k: cache.get(k) or 0 for k in ("local_bytes", "region_bytes", "remote_bytes")}

        def read(host, wave):
            before = counts(host)
            command, environment = host.command(["python3", "-c", FETCH, f"http://127.0.0.1:8080/ipfs/{resource}"])
            result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=1800)
            after = counts(host)
            delta = {k: after[k] - before[k] for k in after}
            total = sum(delta.values())
            fields = result.stdout.split()
            ok = result.returncode == 0 and len(fields) == 3 and fields[0] == sha
            share = (delta["local_bytes"] + delta["region_bytes"]) / total if total else 0.0
            entry = {"wave": wave, "reader": host.name, "region": host.region, "ok": ok,
                     "seconds": float(fields[2]) if ok else None, "in_region_share": round(share, 3),
                     "bytes": delta}
            reads.append(entry)
            log(f"  wave {wave}: {host.name} ({host.region}) read {'whole' if ok else 'FAILED'} in "
                f"{entry['seconds']} s; {share * 100:.0f}% inside its region "
                f"({delta['region_bytes'] >> 20} MiB region, {delta['remote_bytes'] >> 20} MiB elsewhere)")
            if not ok:
                violations.append(f"{host.name}: the read did not return the resource ({result.stderr[-300:]})")

        for region, hosts in edges.items():
            if hosts:
                read(hosts[0], 1)
        # Wave 2: the region's holders (seeds, hubs) stopped first, so what the second reader finds nearby is the
        # first reader's edge cache alone; the seeds elsewhere still hold everything.
        for region, hosts in edges.items():
            if len(hosts) < 2:
                continue
            stopped = [h for h in mesh.hosts if h.region == region and h.name in holders[region]]
            for host in stopped:
                host.stop()
            if stopped:
                log(f"  stopped the holders in {region} ({[h.name for h in stopped]}): only {hosts[0].name}'s cache is near")
            read(hosts[1], 2)

        def median_share(wave):
            shares = [r["in_region_share"] for r in reads if r["wave"] == wave and r["ok"]]
            return round(statistics.median(shares), 3) if shares else None

        # What the design promises: a second reader in a region finds the first's edge cache there, so (nearly) all
        # of its read stays inside the region. The first readers' shares depend on where the seeds fell: reported.
        second = median_share(2)
        if second is None:
            violations.append("no region had two edge readers (more hosts, or fewer replicas)")
        elif second < 0.9:
            violations.append(f"second readers got a median {second * 100:.0f}% of the resource inside their region "
                              "(< 90%): the first reader's edge cache was not used")
        report = {"size_mib": size_mib, "hosts": options.hosts, "regions": mesh.region_names, "resource": resource,
                  "plan": plan, "holders": holders, "reads": reads, "median_in_region_share": {"first_reader": median_share(1),
                                                                           "second_reader": median_share(2)},
                  "ok": not violations and bool(reads), "violations": violations or ([] if reads else ["no edge reader"])}
        with open(os.path.join(options.directory, "report.json"), "w") as f:
            json.dump(report, f, indent=2)
        return report


def edit_manifest(options, host, directory, change):
    """Writes the embedded manifest (`inos init`) into `directory` and applies `change` to its text."""
    os.makedirs(directory, exist_ok=True)
    command, environment = host.command([options.inos, "init", "--force"], data_dir=directory)
    result = subprocess.run(command, env=environment, capture_output=True, text=True)
    path = os.path.join(directory, "inos.toml")
    if result.returncode != 0 or not os.path.exists(path):
        raise SystemExit(f"chaos: inos init failed: {result.stderr}")
    text = open(path).read()
    changed = change(text)
    if changed == text:
        raise SystemExit(f"chaos: the manifest `inos init` wrote in {directory} has nothing to change")
    with open(path, "w") as f:
        f.write(changed)


def partial(options, view=8, resources=6, size=2 << 20):
    """A mesh larger than each node's view (`--max-members view`): every node's SWIM view stays within `view` and
    is partial, its k-bucket routing table holds more, and resources put through one node read back byte-identical
    through nodes of other regions, whose views have never held the holders — found by Kademlia lookups. Reports
    each node's view size, routing contacts and resident memory."""
    log = options.log
    regions = regions_for(options)
    log(f"==> chaos partial: {options.hosts} hosts in {options.regions} region(s), views of {view}; "
        f"run folder {options.directory}")
    with Mesh(options.directory, regions, 1, options.inos, repair_interval=options.repair_interval,
              seed=options.seed) as mesh:
        mesh.model(latency=LATENCY, default_latency=0.002)
        for host in mesh.hosts:
            host.start(first_of_each_region(mesh), extra=["--max-members", str(view)])

        def members(host):
            return (host.api("/v1/status", timeout=2.0) or {}).get("members") or {}

        def settled():
            none_exited(mesh)
            return all(m.get("partial") and m.get("alive", 0) >= view - 2 for m in map(members, mesh.hosts))

        started = time.monotonic()
        if not wait(settled, options.join_timeout, step=1.0):
            raise SystemExit("chaos: the views did not fill: " + ", ".join(
                f"{h.name} {members(h).get('alive')} alive, partial {members(h).get('partial')}" for h in mesh.hosts))
        log(f"  every view full and partial after {time.monotonic() - started:.1f} s")
        time.sleep(5)  # statuses reach the views: placement needs them
        client = mesh.clients[0]
        store = os.path.join(options.directory, "partial-client")
        generator = random.Random(options.seed)
        violations, reads, puts = [], [], []
        for number in range(resources):
            path = os.path.join(options.directory, f"partial-{number}.bin")
            with open(path, "wb") as f:
                f.write(generator.randbytes(size))
            entry = mesh.hosts[(number * 7) % len(mesh.hosts)]
            command, environment = client.command([options.inos, "put", path, "--mesh", entry.endpoint, "--progress", "none"],
                                                  data_dir=store)
            put = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
            if put.returncode != 0:
                violations.append(f"put {number} through {entry.name} failed: {put.stderr[-400:]}")
                continue
            puts.append((number, entry, put.stdout.split()[-1], digest(path)))
        time.sleep(3)  # provider records reach the keys' closest members
        for number, writer, resource, sha in puts:
            # Read through a node in another region than the writer's entry (and not the entry itself).
            readers = [h for h in mesh.hosts if h.region != writer.region] or [h for h in mesh.hosts if h is not writer]
            reader = readers[(number * 5) % len(readers)]
            out = os.path.join(options.directory, f"partial-{number}.out")
            command, environment = client.command([options.inos, "get", resource, "--mesh", reader.endpoint, "-o", out,
                                                   "--progress", "none"], data_dir=store + "-reader")
            began = time.monotonic()
            got = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
            seconds = round(time.monotonic() - began, 2)
            ok = got.returncode == 0 and os.path.exists(out) and digest(out) == sha
            reads.append({"resource": resource, "writer_entry": writer.name, "reader_entry": reader.name, "ok": ok,
                          "seconds": seconds})
            log(f"  {resource[:16]}… put through {writer.name} ({writer.region}), read through {reader.name} "
                f"({reader.region}): {'whole' if ok else 'FAILED'} in {seconds} s")
            if not ok:
                violations.append(f"{resource} read through {reader.name} failed: {got.stderr[-400:]}")
        nodes = []
        for host in mesh.hosts:
            m = members(host)
            rss = 0
            try:
                with open(f"/proc/{node_pid(host)}/status") as f:
                    rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            except (OSError, StopIteration, ValueError):
                pass
            nodes.append({"host": host.name, "alive": m.get("alive"), "partial": m.get("partial"),
                          "routing_contacts": m.get("routing_contacts"), "evictions": m.get("evictions"),
                          "rss_kib": rss})
            if (m.get("alive") or 0) + (m.get("suspect") or 0) + (m.get("dead") or 0) + 1 > view:
                violations.append(f"{host.name} holds more than {view} members: {m}")
            if not m.get("partial"):
                violations.append(f"{host.name}'s view is not partial: {m}")
        contacts = sorted(n["routing_contacts"] or 0 for n in nodes)
        rss = sorted(n["rss_kib"] for n in nodes)
        log(f"  views of {view}: routing contacts per node min {contacts[0]}, median {statistics.median(contacts)}, "
            f"max {contacts[-1]}; node RSS median {statistics.median(rss) / 1024:.0f} MiB")
        if not reads:
            violations.append("no resource was put")
        report = {"hosts": options.hosts, "view": view, "nodes": nodes, "reads": reads,
                  "median_read_seconds": statistics.median([r["seconds"] for r in reads if r["ok"]] or [0]),
                  "routing_contacts": {"min": contacts[0], "median": statistics.median(contacts), "max": contacts[-1]},
                  "ok": not violations, "violations": violations}
        with open(os.path.join(options.directory, "report.json"), "w") as f:
            json.dump(report, f, indent=2)
        return report
