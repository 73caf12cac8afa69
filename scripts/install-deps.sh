#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Installs what INOS Mesh needs and the machine lacks: Debian's development packages for ISA-L
# (erasure coding), LZ4, libsodium, libffi and SQLite (the node's records, through GRDB), plus pkg-config. Uses apt-get when run as root (or via sudo
# when available); otherwise names the packages to install. Sourced by scripts/demo.sh and scripts/test.sh.
set -euo pipefail

inos_install_deps() {
    local packages=(libisal-dev liblz4-dev libsodium-dev libffi-dev libsqlite3-dev pkg-config lz4 clang)
    local missing=()
    local p
    for p in "${packages[@]}"; do
        if [ "$p" = clang ]; then
            # Test fixtures are compiled with the C compiler that ships with Swift; any cc will do.
            command -v clang >/dev/null 2>&1 || command -v cc >/dev/null 2>&1 || missing+=(clang)
            continue
        fi
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        inos_install_packages "${missing[@]}"
    fi
    if ! command -v swift >/dev/null 2>&1; then
        echo "error: swift is not on PATH: install Swift 6.1 or newer (https://www.swift.org/install/linux/)" >&2
        exit 1
    fi
}

# What the tests need besides: Debian's prometheus (a real Prometheus scrapes a node, promtool lints /metrics),
# and chromium, chromium-driver and Selenium (the dashboard in a headless browser).
inos_install_test_deps() {
    if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
        INOS_NO_RECOMMENDS=1 inos_install_packages prometheus
    fi
    # The chaos run (scripts/netmesh.sh): iproute2's `ip` makes the network namespaces.
    if ! command -v ip >/dev/null 2>&1; then
        INOS_NO_RECOMMENDS=1 inos_install_packages iproute2
    fi
    # The dashboard's browser test: Debian's chromium and chromium-driver, driven by Selenium (PyPI).
    if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
        INOS_NO_RECOMMENDS=1 inos_install_packages chromium chromium-driver
    fi
    if ! python3 -c "import selenium" >/dev/null 2>&1; then
        echo "==> installing Selenium for python3 (pip)"
        python3 -m pip install --quiet selenium || python3 -m pip install --quiet --break-system-packages selenium \
            || echo "warning: cannot install Selenium; the dashboard's browser test will be skipped" >&2
    fi
}

# Installs Debian packages by name: apt-get as root, through sudo otherwise, or names them and fails.
inos_install_packages() {
    echo "==> installing missing Debian packages: $*"
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${INOS_NO_RECOMMENDS:+--no-install-recommends} "$@" >/dev/null
    elif command -v sudo >/dev/null 2>&1; then
        sudo apt-get update -qq
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${INOS_NO_RECOMMENDS:+--no-install-recommends} "$@" >/dev/null
    else
        echo "error: missing Debian packages: $*" >&2
        echo "       install them as root: apt-get install $*" >&2
        exit 1
    fi
}
