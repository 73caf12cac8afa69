# SPDX-License-Identifier: Apache-2.0
# Convenience targets. The quick start needs none of them: see README.md.
.PHONY: demo test bench bench-ordo bench-datapath

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh

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
