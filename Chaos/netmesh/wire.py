# SPDX-License-Identifier: Apache-2.0
"""The links between the hosts: a user-space switch with netem's knobs.

Every host namespace has one TUN device (`ip link set … netns`), whose file descriptor this process keeps. An
IPv4 packet a host sends comes out of its TUN here; the switch looks up the destination host by address, decides
its fate under the current link model and writes it into the destination's TUN when it is due:

- **partition**: hosts in different groups cannot reach each other; a **cut** host reaches nobody;
- **loss**: each packet is dropped with the sender's and the receiver's link loss (independently, per packet);
- **delay**: the one-way latency between the two hosts' regions, plus each host's own extra delay, plus a uniform
  jitter of ± the larger of the two hosts' jitter (so, as with netem's jitter, packets may be reordered);
- **rate**: each host's uplink and downlink are serialized at its rate (bits/s), with a bounded queue (packets
  that would wait longer than `queue_seconds` are dropped at the tail, as a router's buffer would).

Why not `tc netem`: the kernels these runs are made on may be built without it (`CONFIG_NET_SCH_NETEM` unset,
no modules to load); the harness then cannot add a netem qdisc anywhere. The namespaces, their addresses and
every TCP stack are the kernel's own; only the wire between them is emulated here.

Run by the harness as a child process: `python3 -m netmesh.wire PREFIX COUNT`. It creates COUNT TUN devices named
PREFIX1…PREFIXn (host i has address 10.77.i/16 in the harness), prints one JSON line `{"ready": [...]}` and then
reads commands, one JSON object per line on stdin, answering each with one JSON line on stdout:

    {"op": "model", "hosts": {"3": {"region": "eu", "loss": 0.05, "jitter": 0.2, "delay": 0, "rate": 1e7,
     "cut": false}}, "latency": {"eu/us": 0.08}, "groups": {"3": 1}, "queue_seconds": 0.25}
    {"op": "stats"}
    {"op": "quit"}

A "model" command replaces only the fields it names. Latency is the round trip between two regions (each
direction gets half); a pair not listed has the `default_latency` (also a round trip).
"""
import fcntl
import heapq
import json
import os
import random
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
READ_BATCH = 64


class Host:
    __slots__ = ("index", "fd", "name", "region", "loss", "jitter", "delay", "rate", "cut", "group",
                 "up_free", "down_free", "sent", "received", "dropped_loss", "dropped_cut", "dropped_queue")

    def __init__(self, index, fd, name):
        self.index, self.fd, self.name = index, fd, name
        self.region, self.loss, self.jitter, self.delay, self.rate, self.cut, self.group = "", 0.0, 0.0, 0.0, 0.0, False, 0
        self.up_free = self.down_free = 0.0
        self.sent = self.received = self.dropped_loss = self.dropped_cut = self.dropped_queue = 0

    def stats(self):
        return {"sent": self.sent, "received": self.received, "dropped_loss": self.dropped_loss,
                "dropped_cut": self.dropped_cut, "dropped_queue": self.dropped_queue}


class Wire:
    def __init__(self, prefix, count, seed):
        self.random = random.Random(seed)
        self.hosts = {}
        self.by_fd = {}
        for index in range(1, count + 1):
            name = f"{prefix}{index}"
            if len(name) > 15:
                raise SystemExit(f"wire: interface name {name} is longer than 15 characters")
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
            host = Host(index, fd, name)
            self.hosts[index] = host
            self.by_fd[fd] = host
        self.latency = {}
        self.default_latency = 0.0
        self.queue_seconds = 0.25
        self.pending = []  # (due, sequence, destination host, packet)
        self.sequence = 0
        self.forwarded = 0
        self.late_over_50ms = 0
        self.late_max = 0.0

    # The link model.

    def apply(self, command):
        for key, fields in command.get("hosts", {}).items():
            host = self.hosts.get(int(key))
            if host is None:
                raise ValueError(f"no host {key}")
            for field in ("region", "loss", "jitter", "delay", "rate", "cut"):
                if field in fields:
                    setattr(host, field, fields[field])
        for pair, seconds in command.get("latency", {}).items():
            a, b = pair.split("/")
            self.latency[(a, b)] = self.latency[(b, a)] = float(seconds)
        if "groups" in command:
            for host in self.hosts.values():
                host.group = 0
            for key, group in command["groups"].items():
                self.hosts[int(key)].group = int(group)
        if "default_latency" in command:
            self.default_latency = float(command["default_latency"])
        if "queue_seconds" in command:
            self.queue_seconds = float(command["queue_seconds"])

    def one_way(self, a, b):
        if a.region == b.region:
            rtt = self.latency.get((a.region, a.region), self.default_latency)
        else:
            rtt = self.latency.get((a.region, b.region), self.default_latency)
        spread = max(a.jitter, b.jitter)
        delay = rtt / 2 + a.delay + b.delay
        if spread > 0:
            delay += self.random.uniform(-spread, spread)
        return max(delay, 0.0)

    def route(self, source, packet, now):
        if len(packet) < 20 or packet[0] >> 4 != 4:
            return  # IPv6 and anything else: the harness's addresses are IPv4 only
        destination = self.hosts.get(packet[18] * 256 + packet[19])
        if destination is None or destination is source:
            return
        source.sent += 1
        if source.cut or destination.cut or source.group != destination.group:
            source.dropped_cut += 1
            return
        if (source.loss and self.random.random() < source.loss) or \
                (destination.loss and self.random.random() < destination.loss):
            source.dropped_loss += 1
            return
        bits = len(packet) * 8
        leave = now
        if source.rate:
            leave = self.through(now, source.up_free, bits, source.rate)
            if leave is None:
                source.dropped_queue += 1
                return
            source.up_free = leave
        arrive = leave + self.one_way(source, destination)
        if destination.rate:
            arrive = self.through(arrive, destination.down_free, bits, destination.rate)
            if arrive is None:
                source.dropped_queue += 1
                return
            destination.down_free = arrive
        self.sequence += 1
        heapq.heappush(self.pending, (arrive, self.sequence, destination, packet))

    def through(self, at, free, bits, rate):
        """When a packet of `bits` reaching a rate-limited link at `at` (busy until `free`) has crossed it, or
        None when it would wait longer than the tail-drop queue holds."""
        start = max(at, free)
        if start - at > self.queue_seconds:
            return None
        return start + bits / rate

    def deliver(self, now):
        pending = self.pending
        while pending and pending[0][0] <= now:
            due, _, destination, packet = heapq.heappop(pending)
            # The wire's own fidelity: how far behind its schedule it delivers (a starved switch adds delay no
            # link model asked for, and SWIM sees it as a slow member).
            late = now - due
            if late > self.late_max:
                self.late_max = late
            if late > 0.05:
                self.late_over_50ms += 1
            try:
                os.write(destination.fd, packet)
                destination.received += 1
                self.forwarded += 1
            except OSError:
                pass  # the device is down (its namespace is being torn down) or full: a lost packet

    # The loop: packets from the TUNs, commands from stdin.

    def run(self):
        poller = select.epoll()
        for fd in self.by_fd:
            poller.register(fd, select.EPOLLIN)
        control = sys.stdin.fileno()
        poller.register(control, select.EPOLLIN)
        buffered = b""
        self.answer({"ready": [h.name for h in self.hosts.values()]})
        while True:
            now = time.monotonic()
            timeout = -1 if not self.pending else max(0.0, self.pending[0][0] - now)
            events = poller.poll(timeout)
            now = time.monotonic()
            for fd, _ in events:
                if fd == control:
                    chunk = os.read(control, 65536)
                    if not chunk:
                        return
                    buffered += chunk
                    while b"\n" in buffered:
                        line, buffered = buffered.split(b"\n", 1)
                        if line.strip() and not self.command(json.loads(line)):
                            return
                    continue
                host = self.by_fd[fd]
                for _ in range(READ_BATCH):
                    try:
                        packet = os.read(fd, 65536)
                    except BlockingIOError:
                        break
                    except OSError:
                        break
                    self.route(host, packet, now)
            self.deliver(time.monotonic())

    def command(self, command):
        op = command.get("op")
        try:
            if op == "model":
                self.apply(command)
                self.answer({"ok": True})
            elif op == "stats":
                self.answer({"ok": True, "forwarded": self.forwarded, "queued": len(self.pending),
                             "late_over_50ms": self.late_over_50ms, "late_max_ms": round(self.late_max * 1000, 1),
                             "hosts": {h.index: h.stats() for h in self.hosts.values()}})
            elif op == "quit":
                self.answer({"ok": True})
                return False
            else:
                self.answer({"ok": False, "error": f"unknown op {op!r}"})
        except (ValueError, KeyError, TypeError) as error:
            self.answer({"ok": False, "error": str(error)})
        return True

    @staticmethod
    def answer(message):
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    prefix, count = sys.argv[1], int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    Wire(prefix, count, seed).run()
