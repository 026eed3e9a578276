#!/usr/bin/env bash
# The one test command: what CI runs after .ci/run has installed the prerequisites.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

step "cargo test"
cargo test --workspace --all-features

if [ "${WSX_SKIP_AUTOBAHN:-0}" != 1 ]; then
  step "Autobahn TestSuite: echo_std (wsx-proto) and wsx echo as servers, the wsx client"
  cargo build --release -p wsx-proto --example echo_std
  cargo build --release -p wsx --example autobahn_client
  cargo build --release -p wsx-cli
  # Where cargo put them (CARGO_TARGET_DIR, when set, moves the target directory).
  bin="${CARGO_TARGET_DIR:-target}/release"
  # wstest is single-threaded Python: the three suites run side by side, each on its own
  # free port and report directory, and each diffs against its committed expectations.
  mkdir -p autobahn/reports
  SERVER_CMD="$bin/examples/echo_std 127.0.0.1:{PORT}" \
    EXPECTED=autobahn/expected-server.json REPORT_DIR=autobahn/reports/server-echo_std \
    autobahn/run.sh server > autobahn/reports/server-echo_std.log 2>&1 & p1=$!
  SERVER_CMD="$bin/wsx echo --listen 127.0.0.1:{PORT}" \
    EXPECTED=autobahn/expected-server-wsx.json REPORT_DIR=autobahn/reports/server-wsx \
    autobahn/run.sh server > autobahn/reports/server-wsx.log 2>&1 & p2=$!
  CLIENT_CMD="$bin/examples/autobahn_client {URL}" \
    EXPECTED=autobahn/expected-client.json REPORT_DIR=autobahn/reports/client \
    autobahn/run.sh client > autobahn/reports/client.log 2>&1 & p3=$!
  failed=0
  for run in "server-echo_std:$p1" "server-wsx:$p2" "client:$p3"; do
    name=${run%%:*} pid=${run##*:}
    if wait "$pid"; then
      echo "autobahn $name: $(grep -E '^PASS: ' "autobahn/reports/$name.log" | tail -1)"
      grep -E '^[^ ].*: cases=' "autobahn/reports/$name.log" | tail -1
    else
      echo "autobahn $name: FAILED; its log:"
      tail -40 "autobahn/reports/$name.log"
      failed=1
    fi
  done
  [ "$failed" = 0 ]
fi

step "all tests passed"
