#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, beyond the Rust toolchain:
# real peers we did not write (Python websockets, Node ws, Chromium), a proxy to tunnel
# through (pproxy), and Redis, nginx and HAProxy for cluster mode. Idempotent; called by
# .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi

# Debian packages: Chromium for the browser interop test; Redis, nginx and HAProxy for the
# cluster tests (each test starts its own, as the user running it, on a free loopback port).
need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v redis-cli >/dev/null || need_apt+=(redis-tools)
command -v haproxy >/dev/null || need_apt+=(haproxy)
command -v nginx >/dev/null || need_apt+=(nginx)
if [ ${#need_apt[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  # redis-server, nginx and haproxy start a system service when installed (Redis on 6379,
  # nginx on 80). The tests never use them, and a start that fails (port 80 taken) would
  # fail the install: a policy-rc.d that says no (as Debian's container images have) keeps
  # them from starting while the packages install.
  policy=/usr/sbin/policy-rc.d made_policy=""
  if [ ! -e "$policy" ]; then
    made_policy=1
    trap '$SUDO rm -f "$policy"' EXIT
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
  if [ -n "$made_policy" ]; then
    $SUDO rm -f "$policy"
    trap - EXIT
  fi
fi

# Should one of those services have started all the same (a policy-rc.d of the machine's
# that allows it), stop it, and keep it from starting at boot. A container may have no
# systemd (or a systemctl that cannot reach one): then the init script stops it. Nothing
# here is an error.
for pkg in "${need_apt[@]}"; do
  case "$pkg" in redis-server | nginx | haproxy) ;; *) continue ;; esac
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now "$pkg" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$pkg" ]; then
    $SUDO "/etc/init.d/$pkg" stop >/dev/null 2>&1 || true
  fi
done

# Python peers and tools (python3 is the machine's CPython 3.11).
python3 -m pip install -q --disable-pip-version-check -r tests/peers/requirements.txt

# Node peers: ws and playwright-core (which drives the Debian Chromium; it never
# downloads a browser of its own).
(cd tests/peers && npm ci --silent --no-audit --no-fund)
