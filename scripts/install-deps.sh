#!/usr/bin/env bash
# Installs what libsuprsend needs on a fresh Debian machine, when it is missing.
#   install-deps.sh build   the build's packages: libcurl (OpenSSL flavour), OpenSSL and SQLite headers,
#                           pkg-config, a C compiler for the examples
#   install-deps.sh all     those, plus what the tests and benchmarks use (pytest, the official
#                           suprsend-py-sdk for interoperability and comparison, nginx, and for the
#                           HTTPS tests the openssl command and ca-certificates' update-ca-certificates,
#                           cmake for the CMake package test, tmux for the CLI's progress bar test,
#                           the sqlite3 shell for tools/outbox-recover.sh and its test, golang-go for
#                           the Go binding (bindings/go: Go 1.19 or newer, standard library only),
#                           python3-dev when the Python in use lacks its headers, for the binding's
#                           C accelerator), Node.js with its Node-API headers for bindings/node
#                           (nodejs; Debian's own nodejs keeps the headers in libnode-dev)
# As root it installs with apt-get and pip; otherwise it names what is missing and stops.
set -euo pipefail
what=${1:-all}

apt_packages=(libcurl4-openssl-dev libssl-dev libsqlite3-dev pkg-config gcc)
[ "$what" = all ] && apt_packages+=(g++ nginx-light openssl ca-certificates cmake tmux sqlite3 golang-go)
# The Python binding's C accelerator (make python-ext) needs the headers of the Python it is built
# for: pyenv's and python.org's builds have them, Debian's own python3 needs python3-dev.
if [ "$what" = all ] && ! ${PYTHON:-python3} -c 'import os, sys, sysconfig; sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null; then
  apt_packages+=(python3-dev)
fi
# The Node binding's addon is built against node_api.h (NodeSource's nodejs ships it, Debian's does not).
if [ "$what" = all ]; then
  apt_packages+=(nodejs)
  if command -v node >/dev/null && [ ! -f /usr/include/node/node_api.h ] &&
    [ ! -f "$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")/include/node/node_api.h" ]; then
    apt_packages+=(libnode-dev)
  fi
fi
missing_apt=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing_apt+=("$package")
done
if [ ${#missing_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "install-deps: apt-get install ${missing_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >/dev/null
  else
    echo "install-deps: missing Debian packages: ${missing_apt[*]}" >&2
    echo "install-deps: run: sudo apt-get install ${missing_apt[*]}" >&2
    exit 1
  fi
fi

[ "$what" = all ] || exit 0
python=${PYTHON:-python3}
missing_pip=()
$python -c 'import pytest' 2>/dev/null || missing_pip+=(pytest)
$python -c 'import suprsend' 2>/dev/null || missing_pip+=(suprsend-py-sdk)
if [ ${#missing_pip[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] || [ -n "${VIRTUAL_ENV:-}" ]; then
    echo "install-deps: pip install ${missing_pip[*]}"
    # A Debian system Python refuses pip (PEP 668, "externally managed"); these are test
    # tools only, so install them there anyway rather than fail.
    $python -m pip install -q "${missing_pip[@]}" 2>/dev/null \
      || $python -m pip install -q --break-system-packages "${missing_pip[@]}"
  else
    echo "install-deps: missing Python packages: ${missing_pip[*]} (pip install ${missing_pip[*]})" >&2
    exit 1
  fi
fi
