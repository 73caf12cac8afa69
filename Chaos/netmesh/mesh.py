# SPDX-License-Identifier: Apache-2.0
"""N hosts as network namespaces joined by the emulated wire, each running one `inos node`.

The wire is a compiled switch (`Chaos/wire/wire.c`, see its header for the link model and the commands): this
module compiles it on demand into `.build-wire/netmesh-wire` (again whenever wire.c is newer) and starts it
before the namespaces, since it creates the TUN devices they get.

Host i (1-based) lives in namespace `inosnm<run>-h<i>` with address 10.77.<i/256>.<i%256>/16 on its TUN device
(`nm<run>h<i>`); nothing is added to the machine's own namespace. Nodes get their own data directory under the
run folder, listen on <address>:7400 and bootstrap from the seeds the scenario names. Clients are hosts too (with
no node): their commands run in their namespace and reach the nodes through the wire.

Everything the run creates is torn down by `close()` — called on normal exit, on an exception and on SIGINT or
SIGTERM — and `python3 -m netmesh clean` removes what a run killed with SIGKILL left behind.
"""
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time

NAMESPACE_PREFIX = "inosnm"
PORT = 7400

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WIRE_SOURCE = os.path.join(ROOT, "Chaos", "wire", "wire.c")
WIRE_BINARY = os.path.join(ROOT, ".build-wire", "netmesh-wire")  # git ignores .build-*/
WIRE_FLAGS = ["-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-D_GNU_SOURCE"]


def run(*command, check=True):
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip() or result.returncode}")
    return result


def can_create_namespaces():
    """None when this machine lets the run create namespaces and TUN devices, else the reason it cannot."""
    if os.geteuid() != 0:
        return "namespaces need root (CAP_NET_ADMIN); run as root"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing (no TUN support)"
    for tool in ("ip",):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], stdout=subprocess.DEVNULL).returncode != 0:
            return f"`{tool}` (iproute2) is not installed"
    probe = f"{NAMESPACE_PREFIX}probe{os.getpid()}"
    result = run("ip", "netns", "add", probe, check=False)
    if result.returncode != 0:
        return f"`ip netns add` failed: {result.stderr.strip()}"
    run("ip", "netns", "del", probe, check=False)
    return None


def remove_namespace(name):
    """SIGKILL whatever still runs in the namespace, then delete it."""
    for pid in run("ip", "netns", "pids", name, check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    run("ip", "netns", "del", name, check=False)


def clean_leftovers():
    """Remove namespaces of runs that died without tearing down."""
    removed = []
    for line in run("ip", "netns", "list").stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(NAMESPACE_PREFIX):
            remove_namespace(name)
            removed.append(name)
    return removed


def build_wire(log=None):
    """The wire's executable: compiled from Chaos/wire/wire.c when it is missing or older than the source (one C
    file, libc only). $CC names the compiler; else the first of cc, gcc and clang found."""
    if os.path.exists(WIRE_BINARY) and os.path.getmtime(WIRE_BINARY) >= os.path.getmtime(WIRE_SOURCE):
        return WIRE_BINARY
    candidates = [shlex.split(os.environ["CC"])] if os.environ.get("CC") else []
    candidates += [["cc"], ["gcc"], ["clang"]]
    compiler = next((c for c in candidates if c and shutil.which(c[0])), None)
    if compiler is None:
        raise RuntimeError("the wire (Chaos/wire/wire.c) is C and needs a C compiler; none found ($CC, cc, gcc, "
                           "clang): install one, e.g. `apt-get install gcc`")
    os.makedirs(os.path.dirname(WIRE_BINARY), exist_ok=True)
    temporary = f"{WIRE_BINARY}.{os.getpid()}"  # renamed into place: a concurrent run never starts half a file
    command = [*compiler, *WIRE_FLAGS, "-o", temporary, WIRE_SOURCE]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise RuntimeError(f"the wire did not compile ({' '.join(command)}):\n{result.stdout.strip()}")
    os.replace(temporary, WIRE_BINARY)
    if log:
        log(f"  compiled the wire: {' '.join(compiler)} {' '.join(WIRE_FLAGS)} -> {os.path.relpath(WIRE_BINARY, ROOT)}")
    return WIRE_BINARY


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


class Host:
    def __init__(self, mesh, index, region, is_node):
        self.mesh, self.index, self.region, self.is_node = mesh, index, region, is_node
        self.namespace = f"{NAMESPACE_PREFIX}{mesh.tag}-h{index}"
        self.device = f"nm{mesh.tag}h{index}"
        self.address = f"10.77.{index // 256}.{index % 256}"
        self.endpoint = f"tcp://{self.address}:{PORT}"
        self.data_dir = os.path.join(mesh.directory, f"h{index}")
        self.process = None
        self.starts = 0
        self.started_at = None
        self.down_since = None

    @property
    def name(self):
        return f"h{self.index}"

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    @property
    def exited_by_itself(self):
        """The exit status of a node process that ended without the harness killing or stopping it, else None."""
        if self.process is None or self.down_since is not None:
            return None
        return self.process.poll()

    def last_words(self, lines=3):
        """The last lines of the node's log (for a node that exited by itself)."""
        try:
            with open(os.path.join(self.mesh.directory, f"h{self.index}.log"), "rb") as log:
                tail = log.read()[-4096:].decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in tail[-lines:] if line.strip())

    def up_for(self):
        return time.monotonic() - self.started_at if self.running else 0.0

    @property
    def group(self):
        return self.mesh.groups.get(self.index, 0)

    @property
    def cut(self):
        return self.index in self.mesh.cut

    def command(self, arguments, **options):
        """A process in this host's namespace (a client command), with its own data directory."""
        environment = dict(os.environ, INOS_DATA_DIR=options.pop("data_dir", self.data_dir))
        return ["ip", "netns", "exec", self.namespace, *arguments], environment

    def start(self, bootstrap, extra=()):
        os.makedirs(self.data_dir, exist_ok=True)
        arguments = [self.mesh.inos, "node", "--listen", self.endpoint, "--advertise", self.endpoint,
                     "--region", self.region,
                     "--repair-interval", str(self.mesh.repair_interval), "--metrics-listen", "none"]
        for seed in bootstrap:
            if seed is not self:
                arguments += ["--bootstrap", seed.endpoint]
        arguments += list(extra)
        command, environment = self.command(arguments)
        log = open(os.path.join(self.mesh.directory, f"h{self.index}.log"), "ab")
        log.write(f"\n==> start {self.starts + 1} at {time.time():.3f}: {' '.join(arguments)}\n".encode())
        log.flush()
        self.process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.starts += 1
        self.started_at = time.monotonic()
        self.down_since = None

    def kill(self):
        """SIGKILL, as a machine that dies: no clean shutdown, nothing flushed that was not synced."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
        self.down_since = time.monotonic()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass

    def api(self, path, timeout=5.0):
        """GET a control-API route of this host's node over its Unix socket; None when it does not answer."""
        connection = UnixHTTPConnection(os.path.join(self.data_dir, "api.sock"), timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            return json.loads(body) if response.status == 200 else None
        except (OSError, http.client.HTTPException, ValueError):
            return None
        finally:
            connection.close()


class Mesh:
    def __init__(self, directory, regions, clients, inos, repair_interval=5.0, seed=1, log=print, tag=None):
        """regions: a list with one region name per node host, in host order. tag names the run's namespaces and
        devices (default: this process's id)."""
        self.directory = directory
        self.tag = tag or str(os.getpid() % 100000)
        self.inos = inos
        self.repair_interval = repair_interval
        self.log = log
        self.region_names = sorted(set(regions), key=regions.index)
        self.hosts = [Host(self, i + 1, region, True) for i, region in enumerate(regions)]
        self.clients = [Host(self, len(regions) + i + 1, regions[i % len(regions)], False) for i in range(clients)]
        self.wire = None
        self.groups = {}   # host index -> partition group (0 when not listed)
        self.cut = set()   # host indexes whose links are cut
        self.network_changed_at = time.monotonic()
        self.namespaces = []
        self.lock = threading.Lock()
        self.closed = False
        self.seed = seed

    @property
    def every_host(self):
        return self.hosts + self.clients

    def __enter__(self):
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def interrupted(number, frame):
            self.close()
            signal.signal(number, previous[number])
            raise SystemExit(128 + number)

        for number in previous:
            signal.signal(number, interrupted)
        try:
            self.create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def create(self):
        os.makedirs(self.directory, exist_ok=True)
        count = len(self.every_host)
        # The wire sets its own priority (real time when allowed: it is the network, see wire.c).
        self.wire = subprocess.Popen([build_wire(self.log), f"nm{self.tag}h", str(count), str(self.seed)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     start_new_session=True)
        ready = json.loads(self.wire.stdout.readline() or "{}")
        if "ready" not in ready:
            raise RuntimeError(f"the wire did not start: {ready}")
        for host in self.every_host:
            run("ip", "netns", "add", host.namespace)
            self.namespaces.append(host.namespace)
            run("ip", "link", "set", host.device, "netns", host.namespace)
            ns = ["ip", "-n", host.namespace]
            run(*ns, "addr", "add", f"{host.address}/16", "dev", host.device)
            run(*ns, "link", "set", host.device, "mtu", "9000", "up")
            run(*ns, "link", "set", "lo", "up")
        self.model(hosts={str(h.index): {"region": h.region} for h in self.every_host})

    def host(self, name):
        return next(h for h in self.every_host if h.name == name)

    def reachable(self, a, b):
        return not a.cut and not b.cut and a.group == b.group

    def reachable_for(self, a, b):
        """Seconds the two hosts have been able to reach each other (0 when they cannot)."""
        return time.monotonic() - self.network_changed_at if self.reachable(a, b) else 0.0

    def partition(self, *groups):
        """Hosts in different groups cannot reach each other; hosts in no group are in group 0."""
        self.groups = {h.index: number for number, group in enumerate(groups) for h in group}
        self.network_changed_at = time.monotonic()
        self.model(groups={str(i): g for i, g in self.groups.items()})

    def links(self, hosts, **fields):
        """Set link fields (loss, jitter, delay, rate, cut) of these hosts."""
        if "cut" in fields:
            for h in hosts:
                (self.cut.add if fields["cut"] else self.cut.discard)(h.index)
            self.network_changed_at = time.monotonic()
        self.model(hosts={str(h.index): fields for h in hosts})

    def heal(self):
        """Every link back to its region's latency: no partition, no cut, no loss, jitter or rate limit."""
        self.groups, self.cut = {}, set()
        self.network_changed_at = time.monotonic()
        self.model(groups={}, hosts={str(h.index): {"cut": False, "loss": 0.0, "jitter": 0.0, "delay": 0.0,
                                                    "rate": 0.0} for h in self.every_host})

    def model(self, **fields):
        """Change the link model (see Chaos/wire/wire.c); answered once the wire applies it."""
        return self.tell(dict(fields, op="model"))

    def wire_stats(self):
        return self.tell({"op": "stats"})

    def tell(self, command):
        with self.lock:
            self.wire.stdin.write(json.dumps(command) + "\n")
            self.wire.stdin.flush()
            answer = json.loads(self.wire.stdout.readline())
        if not answer.get("ok"):
            raise RuntimeError(f"wire: {answer.get('error')}")
        return answer

    def close(self):
        if self.closed:
            return
        self.closed = True
        for host in self.hosts:
            try:
                host.stop()
            except Exception:  # noqa: BLE001 (tear-down goes on whatever one host does)
                pass
        for namespace in self.namespaces:
            remove_namespace(namespace)
        if self.wire is not None and self.wire.poll() is None:
            try:
                self.tell({"op": "quit"})
                self.wire.wait(timeout=5)
            except Exception:  # noqa: BLE001
                self.wire.kill()
