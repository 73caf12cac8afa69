# SPDX-License-Identifier: Apache-2.0
# Convenience targets. The quick start needs none of them: see README.md.
.PHONY: demo test test-asan test-tsan fuzz chaos bench bench-ordo bench-datapath bench-transport bench-compute bench-swarm bench-idle bench-gateway

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh

# Coverage-guided fuzzing (libFuzzer + ASan, issue 14): every target for TIME s each, or TARGET=name alone.
# Crashes fail the run and print their reproducer; docs/testing.md "Fuzzing".
fuzz:
	TARGET=$(TARGET) TIME=$(or $(TIME),60) ./scripts/fuzz.sh

# Chaos runs in network namespaces (issue 18, docs/chaos.md): SCENARIO=ci|churn|partition|region-loss|lossy|
# slow-node|bootstrap-loss|idle, or wire (the emulated wire's own tests), HOSTS=30 by default outside ci. Needs
# root and a C compiler (the wire, Chaos/wire/wire.c, is compiled on first use).
chaos:
	./scripts/netmesh.sh $(or $(SCENARIO),ci) $(if $(HOSTS),--hosts $(HOSTS))

# Issue 14: the whole suite under AddressSanitizer (+ LeakSanitizer) or ThreadSanitizer, each in its own build
# folder (.build-asan, .build-tsan; a first build takes ~25 min on 2 cores). Convenience only: CI does not run
# them (see docs/testing.md, "Sanitizers (issue 14)").
test-asan:
	./scripts/test-sanitized.sh address

test-tsan:
	./scripts/test-sanitized.sh thread

# Benchmarks print each figure next to a baseline measured in the same run; results: docs/benchmarks.md.
bench:
	cd Benchmarks && swift build -c release --product RingBench && ./.build/release/RingBench

# Allocation and instruction counts with ordo-one/benchmark.
bench-ordo:
	cd Benchmarks && swift package benchmark

# Data path: pipeline, erasure encode and durable put against raw libraries and dd (needs ~3 GiB of tmpfs/RAM).
bench-datapath:
	swift build -c release
	cd Benchmarks && swift build -c release --product DataPathBench && INOS_PLUGIN_DIR=$(CURDIR)/.build/release ./.build/release/DataPathBench

# 1 MiB frames node → node over loopback (TCP plugin) against iperf3 in the same run; request/response RTT.
bench-transport:
	command -v iperf3 >/dev/null || (apt-get install -y -qq iperf3 >/dev/null 2>&1 || sudo apt-get install -y -qq iperf3)
	swift build -c release
	cd Benchmarks && swift build -c release --product TransportBench && INOS_PLUGIN_DIR=$(CURDIR)/.build/release ./.build/release/TransportBench

# The empty job's round trip through the rings, and libffi calls against direct calls, in one run.
bench-compute:
	swift build -c release
	cd Benchmarks && swift build -c release --product ComputeBench && INOS_PLUGIN_DIR=$(CURDIR)/.build/release ./.build/release/ComputeBench

# Issue 6: SIZE_MIB fetched by PEERS local clients from one source node, against aria2 (BitTorrent) on loopback.
bench-swarm:
	bash Benchmarks/swarm/swarm.sh $${SIZE_MIB:-1024} $${PEERS:-8}

# Issue 15: CPU of NODES idle `inos node` processes in a loopback mesh over WINDOW s, against a blocked `sleep` and
# a node alone, in the same run (THREADS=1: per thread name).
bench-idle:
	bash Benchmarks/idle/idle.sh $${NODES:-5} $${WINDOW:-30} $${SETTLE:-15}

# Issue 17: the content gateway against inos get, local and from three holders; a Range request's first byte.
bench-gateway:
	bash Benchmarks/gateway/gateway.sh $${SIZE_MIB:-1024} $${ROUNDS:-3}
