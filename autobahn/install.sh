#!/usr/bin/env bash
# Installs wstest, the Autobahn TestSuite's runner, for autobahn/run.sh; prints its path.
#
#   autobahn/install.sh          -> $AUTOBAHN_HOME/py27/bin/wstest
#
# wstest (PyPI autobahntestsuite) is Python 2.7 code. Its environment is made from PyPI
# alone: a Python 3 venv holds virtualenv 20.21.1 (later releases cannot create 2.7
# environments), which makes a 2.7 environment that gets autobahntestsuite 25.10.1.
#
# env:
#   AUTOBAHN_HOME  where the environments live (default ~/.cache/autobahn)
#   PY27           the python2.7 to use (default: pyenv's 2.7.x, then python2.7 on PATH)
#
# Idempotent and safe to run concurrently (scripts/test.sh starts three suites at once):
# the first caller installs (about a minute) while the others wait for it, and a
# half-finished install is redone, never used. Progress goes to stderr, the path to stdout.
set -euo pipefail

WSTEST_VERSION=25.10.1
VIRTUALENV_VERSION=20.21.1

AUTOBAHN_HOME="${AUTOBAHN_HOME:-$HOME/.cache/autobahn}"
ENV_DIR="$AUTOBAHN_HOME/py27"
WSTEST="$ENV_DIR/bin/wstest"
# Written last: its presence, not wstest's, says the environment is complete.
STAMP="$ENV_DIR/.installed"
WANT="autobahntestsuite==$WSTEST_VERSION"

say() { echo "[autobahn install] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

installed() { [ -x "$WSTEST" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; }

mkdir -p "$AUTOBAHN_HOME"
if installed; then echo "$WSTEST"; exit 0; fi

exec 9>"$AUTOBAHN_HOME/install.lock"
flock 9
# Someone else may have finished while this one waited for the lock.
if installed; then echo "$WSTEST"; exit 0; fi

find_python27() {
  local candidates=() root
  [ -n "${PY27:-}" ] && candidates+=("$PY27")
  if command -v pyenv >/dev/null 2>&1 && root="$(pyenv root 2>/dev/null)"; then
    candidates+=("$root"/versions/2.7*/bin/python2.7)
  fi
  candidates+=("$HOME"/.pyenv/versions/2.7*/bin/python2.7)
  command -v python2.7 >/dev/null 2>&1 && candidates+=("$(command -v python2.7)")
  local c
  for c in "${candidates[@]}"; do
    # A pyenv shim exists even when no 2.7 is selected: run it to be sure.
    if [ -x "$c" ] && "$c" -c 'import sys; assert sys.version_info[:2] == (2, 7)' 2>/dev/null; then
      echo "$c"
      return 0
    fi
  done
  return 1
}
PYTHON27="$(find_python27)" || die "no working python2.7 (install CPython 2.7 with pyenv, or set PY27)"
command -v python3 >/dev/null 2>&1 || die "python3 is needed to bootstrap virtualenv"
say "installing $WANT for $PYTHON27 into $ENV_DIR"

BOOTSTRAP="$AUTOBAHN_HOME/bootstrap"
rm -rf "$BOOTSTRAP" "$ENV_DIR"
python3 -m venv "$BOOTSTRAP"
"$BOOTSTRAP/bin/pip" install -q --disable-pip-version-check "virtualenv==$VIRTUALENV_VERSION"
"$BOOTSTRAP/bin/virtualenv" -q -p "$PYTHON27" "$ENV_DIR"
# pip on 2.7 warns at length that 2.7 is unsupported; keep its errors, drop the noise.
"$ENV_DIR/bin/pip" install -q --disable-pip-version-check --no-python-version-warning "$WANT" \
  || die "pip could not install $WANT"
# wstest imports the modules of all its modes (Twisted, Autobahn) before it prints its
# version: a broken dependency shows here, not half-way through a suite.
have="$("$WSTEST" --autobahnversion | sed -n 's/^AutobahnTestSuite //p')" || die "$WSTEST does not run"
[ "$have" = "$WSTEST_VERSION" ] || die "$WSTEST reports version '$have', not $WSTEST_VERSION"
echo "$WANT" >"$STAMP"
say "done"
echo "$WSTEST"
