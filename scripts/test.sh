#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Quick start, command 2: install what is missing, build the package (plugins included), run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/install-deps.sh
inos_install_deps
echo "==> building the package and its plugins"
swift build
echo "==> building the tests"
swift build --build-tests
echo "==> running the tests"
swift test --skip-build "$@"
