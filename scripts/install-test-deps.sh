#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, beyond the Rust toolchain:
# real peers we did not write (Python websockets, Node ws, Chromium), and a proxy to tunnel
# through (pproxy). Idempotent; called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi

# Debian packages: Chromium for the browser interop test.
need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# Python peers and tools (python3 is the machine's CPython 3.11).
python3 -m pip install -q --disable-pip-version-check -r tests/peers/requirements.txt

# Node peers: ws and playwright-core (which drives the Debian Chromium; it never
# downloads a browser of its own).
(cd tests/peers && npm ci --silent --no-audit --no-fund)
