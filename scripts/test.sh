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
  step "Autobahn TestSuite (server role: echo_std)"
  autobahn/run.sh server
fi

step "all tests passed"
