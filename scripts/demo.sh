#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Quick start, command 1: install what is missing, build, and run the local demo on embedded defaults.
# Extra arguments go to `inos demo` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/install-deps.sh
inos_install_deps
echo "==> building (debug)"
swift build
echo "==> inos demo"
exec .build/debug/inos demo "$@"
