# SPDX-License-Identifier: Apache-2.0
"""Client operations, their history, a monitor of what the nodes believe, and the checker (Jepsen-style).

Every client operation is a real `inos put|get --mesh` process in a client host's namespace. Each is logged with
its start, end, entry node and outcome:

- **ok** — exit status 0: a put was acknowledged (durable on its quorum of holders) and printed its ID; a get
  wrote a file (whose bytes the checker compares with what was put under that ID);
- **failed** — a non-zero exit status: the command said it did not do it;
- **indeterminate** — no answer within the operation's deadline (the process is killed): it may or may not have
  taken effect, so nothing may be concluded from it.

Reads always start from an empty data directory, so nothing is served from an earlier put's local copy.

The monitor polls every running node's control API (over its Unix socket, outside the emulated network): its
SWIM view and its replication summary. From it come the time to detect each death and the false death
declarations; the checker adds the reads after the heal.
"""
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import threading
import time


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class History:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.operations = []
        self.events = []
        self.file = open(path, "w")
        self.started = time.monotonic()

    def now(self):
        return round(time.monotonic() - self.started, 3)

    def append(self, record):
        with self.lock:
            (self.operations if "kind" in record else self.events).append(record)
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()

    def event(self, what, **fields):
        self.append(dict(fields, event=what, at=self.now()))

    def close(self):
        self.file.close()


class Clients:
    """Clients that put and read continuously, each from its own host, until stopped."""

    def __init__(self, mesh, history, inos, rng, deadline=45.0, sizes=(16 << 10, 3 << 20), pause=0.2):
        self.mesh, self.history, self.inos, self.rng = mesh, history, inos, rng
        self.deadline, self.sizes, self.pause = deadline, sizes, pause
        self.originals = {}   # resource ID -> sha256 of its bytes (every put that printed an ID)
        self.acknowledged = []  # resource IDs whose put was acknowledged, in order
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []
        self.sequence = 0
        self.data = os.path.join(mesh.directory, "client-data")
        os.makedirs(self.data, exist_ok=True)

    def start(self):
        for client in self.mesh.clients:
            thread = threading.Thread(target=self.loop, args=(client,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def loop(self, client):
        rng = random.Random(self.rng.random())
        while not self.stopping.is_set():
            with self.lock:
                known = list(self.acknowledged)
            if not known or rng.random() < 0.4:
                self.put(client, rng)
            else:
                self.get(client, rng.choice(known), rng)
            self.stopping.wait(self.pause)

    def next_name(self):
        with self.lock:
            self.sequence += 1
            return self.sequence

    def entry(self, rng, client):
        """A node the client believes up and can reach (a real client retries elsewhere); any node when none is."""
        running = [h for h in self.mesh.hosts if h.running and self.mesh.reachable(client, h)]
        return rng.choice(running or self.mesh.hosts)

    def run(self, client, arguments, data_dir):
        command, environment = client.command([self.inos, *arguments, "--progress", "none"], data_dir=data_dir)
        started = self.history.now()
        try:
            result = subprocess.run(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, timeout=self.deadline)
            outcome = "ok" if result.returncode == 0 else "failed"
            return started, outcome, result.stdout, result.stderr
        except subprocess.TimeoutExpired as expired:
            return started, "indeterminate", expired.stdout or "", "deadline passed"

    def put(self, client, rng):
        number = self.next_name()
        low, high = self.sizes
        size = int(low * (high / low) ** rng.random())
        path = os.path.join(self.data, f"put-{number}.bin")
        with open(path, "wb") as f:
            f.write(rng.randbytes(size))
        sha = digest(path)
        entry = self.entry(rng, client)
        store = os.path.join(self.data, f"{client.name}-store")
        started, outcome, out, err = self.run(client, ["put", path, "--mesh", entry.endpoint], store)
        resource = None
        lines = [line.strip() for line in (out or "").splitlines() if line.strip()]
        if lines and lines[-1].startswith("b"):
            resource = lines[-1]
        if outcome == "ok" and resource is None:
            outcome = "failed"
        record = {"kind": "put", "client": client.name, "entry": entry.name, "start": started,
                  "end": self.history.now(), "outcome": outcome, "id": resource, "size": size, "sha256": sha}
        if outcome != "ok":
            record["error"] = err.strip().splitlines()[-3:] if err else []
        self.history.append(record)
        if resource is not None:
            with self.lock:
                self.originals[resource] = sha
                if outcome == "ok":
                    self.acknowledged.append(resource)
        os.unlink(path)

    def get(self, client, resource, rng, entry=None, final=False):
        entry = entry or self.entry(rng, client)
        number = self.next_name()
        store = os.path.join(self.data, f"get-{number}")
        output = os.path.join(self.data, f"get-{number}.out")
        started, outcome, out, err = self.run(client, ["get", resource, "--mesh", entry.endpoint, "-o", output],
                                              store)
        record = {"kind": "get", "client": client.name, "entry": entry.name, "start": started,
                  "end": self.history.now(), "outcome": outcome, "id": resource, "final": final}
        if outcome == "ok":
            if not os.path.exists(output):
                record["outcome"], record["error"] = "failed", ["exit 0 but no output file"]
            else:
                record["matches"] = digest(output) == self.originals.get(resource)
        else:
            record["error"] = err.strip().splitlines()[-3:] if err else []
        self.history.append(record)
        shutil.rmtree(store, ignore_errors=True)
        if os.path.exists(output):
            os.unlink(output)
        return record


class Monitor:
    """What every running node believes, polled every `period` seconds over its control socket."""

    def __init__(self, mesh, history, period=0.5):
        self.mesh, self.history, self.period = mesh, history, period
        self.stopping = threading.Event()
        self.by_address = {h.endpoint: h for h in mesh.hosts}
        self.views = {}        # observer name -> {member name: state}
        self.deaths = []       # (at, observer, member, member running?, member reachable from observer?, settled)
        self.suspicions = []   # (at, observer, member)
        self.replication = {}  # name -> last replication summary
        self.samples = 0
        # One line per node and sample: what tells a node that goes quiet from a slow network — its arena's
        # backpressure, its connections, how long its API took to answer, and its threads' CPU from /proc.
        self.trace = open(os.path.join(mesh.directory, "samples.jsonl"), "a")
        self.cpu = {}          # name -> [(at, CPU seconds of all the node's threads)], for node_cpu()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.thread.join()
        self.trace.close()

    def loop(self):
        while not self.stopping.is_set():
            for observer in self.mesh.hosts:
                if observer.running:
                    self.sample(observer)
            self.samples += 1
            self.stopping.wait(self.period)

    def sample(self, observer):
        asked = time.monotonic()
        members = observer.api("/v1/members", timeout=2.0)
        status = observer.api("/v1/status", timeout=2.0)
        answered = time.monotonic() - asked
        now = self.history.now()
        if status is not None:
            self.replication[observer.name] = dict(status.get("replication", {}), at=now)
        arena = (status or {}).get("arena", {})
        threads = thread_times(observer.process.pid)
        self.trace.write(json.dumps({
            "at": round(now, 2), "host": observer.name, "api_seconds": round(answered, 3), "answered": status is not None,
            "connections": (status or {}).get("connections"), "backpressured": arena.get("backpressured"),
            "backpressure_pauses": arena.get("backpressure_pauses"), "heap_used": arena.get("heap_used_bytes"),
            "inbox_used": arena.get("inbox_used_bytes"), "threads": threads}) + "\n")
        self.cpu.setdefault(observer.name, []).append((now, sum(ran for ran, _ in threads.values())))
        if members is None:
            return
        view = {}
        for member in members if isinstance(members, list) else members.get("members", []):
            host = self.by_address.get(member.get("address"))
            if host is None or host is observer:
                continue
            view[host.name] = member.get("state")
        before = self.views.get(observer.name, {})
        for name, state in view.items():
            if state == before.get(name):
                continue
            host = self.mesh.host(name)
            if state == "dead":
                self.deaths.append({"at": now, "observer": observer.name, "member": name,
                                    "member_running": host.running, "settled": self.settled(observer, host)})
            elif state == "suspect":
                self.suspicions.append({"at": now, "observer": observer.name, "member": name})
        self.views[observer.name] = view

    def node_cpu(self, start, end):
        """The nodes' CPU between two moments of the history, in cores: in all, and per node (median). A node's
        counter starts again at a restart; a node not sampled on both sides of the span adds nothing."""
        if end is None or start is None or end - start < 1:
            return None
        per_node = []
        for series in self.cpu.values():
            inside = [(at, seconds) for at, seconds in series if start <= at <= end]
            used = sum(max(0.0, b[1] - a[1]) if b[1] >= a[1] else b[1] for a, b in zip(inside, inside[1:]))
            if len(inside) >= 2:
                per_node.append(used / (inside[-1][0] - inside[0][0]))
        if not per_node:
            return None
        per_node.sort()
        return {"seconds": round(end - start, 1), "cores_all_nodes": round(sum(per_node), 2),
                "median_node_percent_of_a_core": round(100 * per_node[len(per_node) // 2], 2)}

    def settled(self, observer, member):
        """True when a death declaration of `member` by `observer` cannot be right: the member has run for 10 s
        and nothing has cut the two apart in the last 10 s."""
        return member.running and member.up_for() >= 10 and self.mesh.reachable_for(observer, member) >= 10

    def converged(self):
        """Every running, reachable node sees every other running node alive."""
        running = [h for h in self.mesh.hosts if h.running]
        for observer in running:
            view = self.views.get(observer.name, {})
            for member in running:
                if member is not observer and view.get(member.name) != "alive":
                    return False
        return True


def thread_times(pid):
    """CPU seconds each named thread group of a process has used so far, and the seconds it waited runnable for a
    CPU (`/proc/PID/task/*/schedstat`), summed over threads of the same name with digits dropped
    (NIO-ELT-0-#3 → NIO-ELT--#)."""
    groups = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return groups
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/comm") as f:
                name = re.sub(r"[0-9]+", "", f.read().strip())
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                ran, waited = (int(x) for x in f.read().split()[:2])
        except (OSError, ValueError):
            continue
        group = groups.setdefault(name, [0.0, 0.0])
        group[0] += ran / 1e9
        group[1] += waited / 1e9
    return {name: [round(ran, 3), round(waited, 3)] for name, (ran, waited) in groups.items()}


STALL = re.compile(r"the reactor stalled ([0-9.]+) s in (.*)")


def reactor_stalls(mesh):
    """Each node's reactor stalls (callbacks past 1 s) from its log: where, how long, and the kernel's account of
    its thread (running, waiting for a CPU or blocked) — what tells CPU starvation from a blocked reactor."""
    stalls = []
    for host in mesh.hosts:
        path = os.path.join(mesh.directory, f"{host.name}.log")
        if not os.path.exists(path):
            continue
        with open(path, errors="replace") as log:
            for line in log:
                match = STALL.search(line)
                if match:
                    stalls.append({"host": host.name, "seconds": float(match.group(1)), "what": match.group(2).strip()})
    causes = {}
    for stall in stalls:
        cause = stall["what"].rsplit(" — ", 1)[-1] if " — " in stall["what"] else "unknown"
        causes[cause] = causes.get(cause, 0) + 1
    by_host = {}
    for stall in stalls:
        by_host[stall["host"]] = by_host.get(stall["host"], 0) + 1
    return {"count": len(stalls), "by_host": by_host, "causes": causes,
            "longest": sorted(stalls, key=lambda s: -s["seconds"])[:8]}


def summarize(history, clients, monitor, mesh, heal_at, repaired_at, final_reads, repair_bound):
    """The report: counts, violations, detection and repair times. `ok` is False on any violation."""
    operations = history.operations
    count = {}
    for op in operations:
        key = (op["kind"], op["outcome"])
        count[key] = count.get(key, 0) + 1
    bad_reads = [op for op in operations if op["kind"] == "get" and op["outcome"] == "ok" and not op.get("matches")]
    acknowledged = set(clients.acknowledged)
    unreadable = sorted({r["id"] for r in final_reads if r["outcome"] != "ok" or not r.get("matches")})
    kills = [e for e in history.events if e["event"] == "kill"]
    detections = []
    for kill in kills:
        seen = [d["at"] for d in monitor.deaths if d["member"] == kill["host"] and d["at"] >= kill["at"]]
        restarted = [e["at"] for e in history.events if e["event"] == "restart" and e["host"] == kill["host"]
                     and e["at"] > kill["at"]]
        if seen and (not restarted or min(seen) <= min(restarted)):
            detections.append(round(min(seen) - kill["at"], 2))
        else:
            detections.append(None)
    false_deaths = [d for d in monitor.deaths if d["settled"]]
    observed_seconds = history.now()
    probes = max(1, int(observed_seconds * len(mesh.hosts)))  # SWIM probes one member per 1 s period
    detected = sorted(d for d in detections if d is not None)
    faults = [e["at"] for e in history.events if e["event"] in ("kill", "partition", "lossy") and e.get("at") is not None]
    first_fault = min(faults) if faults else heal_at
    report = {
        "hosts": len(mesh.hosts), "regions": mesh.region_names, "clients": len(mesh.clients),
        "duration_seconds": round(observed_seconds, 1),
        "operations": {f"{k}_{o}": n for (k, o), n in sorted(count.items())},
        "acknowledged_puts": len(acknowledged),
        "final_reads": len(final_reads),
        "lost_acknowledged": unreadable,
        "bad_reads": [{"id": op["id"], "entry": op["entry"], "at": op["end"]} for op in bad_reads],
        "kills": len(kills),
        "detection_seconds": {"median": detected[len(detected) // 2] if detected else None,
                              "max": detected[-1] if detected else None,
                              "undetected_before_restart": detections.count(None)},
        "false_deaths": len(false_deaths), "probes_estimated": probes,
        "false_death_rate": round(len(false_deaths) / probes, 6),
        "heal_at": heal_at, "repaired_at": repaired_at,
        "repair_seconds_after_heal": None if repaired_at is None or heal_at is None else round(repaired_at - heal_at, 1),
        "repair_bound_seconds": repair_bound,
        "reactor_stalls": reactor_stalls(mesh),
        # What the nodes cost the machine (2 cores here) in each phase: /proc's account of their threads.
        "node_cpu": {
            "before_faults": monitor.node_cpu(0, first_fault),
            "faults": monitor.node_cpu(first_fault, heal_at),
            "heal_to_repaired": monitor.node_cpu(heal_at, repaired_at),
            "after_repair": monitor.node_cpu(repaired_at, observed_seconds),
        },
    }
    violations = []
    if unreadable:
        violations.append(f"{len(unreadable)} acknowledged resource(s) not readable byte-identical after the heal")
    if bad_reads:
        violations.append(f"{len(bad_reads)} read(s) returned bytes that are not what was put under that ID")
    if heal_at is not None and repaired_at is None:
        violations.append(f"copies not back to target within {repair_bound} s of the heal")
    if len(false_deaths) / probes >= 0.001:
        violations.append(f"{len(false_deaths)} false death declaration(s) in ~{probes} probes: " +
                          ", ".join(f"{d['observer']}→{d['member']} at {d['at']}" for d in false_deaths[:5]))
    report["violations"] = violations
    report["ok"] = not violations
    return report
