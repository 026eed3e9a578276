#!/bin/bash
# Autobahn TestSuite conformance run for wsx, diffed against committed expected results.
#
#   autobahn/run.sh [--update] [--allow-bad] server|client
#
#   server   build examples/echo_std (wsx-proto), start it on 127.0.0.1:<free port>, run
#            `wstest -m fuzzingclient` against it, compare with autobahn/expected-server.json
#   client   build examples/autobahn_client (wsx), start `wstest -m fuzzingserver` on
#            127.0.0.1:<free port>, run the client, compare with autobahn/expected-client.json
#   --update     rewrite the expected file from this run instead of diffing
#   --allow-bad  accept verdicts other than OK/INFORMATIONAL (never for CI)
#
# env:
#   SERVER_CMD   server under test, run with bash -c; {PORT} (and $PORT) is the port to listen on.
#                Default: cargo build, then target/release/examples/echo_std 127.0.0.1:{PORT}
#   CLIENT_CMD   client under test, run with bash -c; {URL} (and $AUTOBAHN_URL) is ws://127.0.0.1:PORT.
#                Default: cargo build, then target/release/examples/autobahn_client {URL}
#   CASES='["*"]'  EXCLUDE='[]'   JSON case-pattern lists, written into wstest's spec (subset
#                runs compare the matching part of the expected file; --update then merges that part)
#   AGENT        report agent name in server mode (default wsx for echo_std, else the Server header)
#   TIMEOUT      seconds for wstest's whole run, and for the client's in client mode (default 3600)
#   WSTEST       wstest to use; default: what autobahn/install.sh installs (on first use, ~1 min)
#   AUTOBAHN_HOME  where install.sh puts wstest (default ~/.cache/autobahn)
#   AUTOBAHN_PORT        port to use instead of a free one
#   SERVER_START_TIMEOUT seconds to wait for the server's port (default 120)
#   REPORT_DIR           default autobahn/reports/MODE (git-ignored); HTML report: REPORT_DIR/index.html
#   EXPECTED             default autobahn/expected-MODE.json
# Exit: 0 = matches expected and every verdict OK/INFORMATIONAL; 1 = difference / bad verdict;
#       2 = usage; 3 = harness problem (no report, server died, port never opened, ...).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2; }

MODE=""; UPDATE=0; ALLOW_BAD=0
for arg in "$@"; do
  case "$arg" in
    server|client) [ -z "$MODE" ] || usage; MODE=$arg ;;
    --update) UPDATE=1 ;;
    --allow-bad) ALLOW_BAD=1 ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown argument: $arg" >&2; usage ;;
  esac
done
[ -n "$MODE" ] || usage

log() { echo "[autobahn] $*" >&2; }
die() { log "ERROR: $*"; exit 3; }

REPORT_DIR="${REPORT_DIR:-$HERE/reports/$MODE}"
EXPECTED="${EXPECTED:-$HERE/expected-$MODE.json}"
CASES="${CASES:-[\"*\"]}"; EXCLUDE="${EXCLUDE:-[]}"
TIMEOUT="${TIMEOUT:-3600}"
# A typo here would otherwise surface as a wstest traceback after the build.
python3 -c 'import json, sys; assert all(isinstance(json.loads(a), list) for a in sys.argv[1:])' \
  "$CASES" "$EXCLUDE" 2>/dev/null \
  || { echo "run.sh: CASES and EXCLUDE must be JSON lists, e.g. CASES='[\"1.*\",\"12.1.*\"]'" >&2; exit 2; }
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"

# --- process bookkeeping -----------------------------------------------------------------
# Everything we start runs via setsid as leader of a new session.  Cleanup signals every
# process of those sessions: this also reaches the process groups that `timeout` creates
# for wstest and for the client under test, which a process-group kill would miss.
SIDS=()
# Start "$@" in the background in a new session; sets LAST_PID (= its session id).
start_session() {
  setsid "$@" &
  LAST_PID=$!
  SIDS+=("$LAST_PID")
}
# PIDs of all live (non-zombie) processes in session $1 (falls back to the leader's process group).
session_pids() {
  if command -v ps >/dev/null 2>&1; then
    ps -e -o pid=,sid=,stat= | awk -v s="$1" '$2 == s && $3 !~ /^Z/ { print $1 }'
  elif kill -0 -- "-$1" 2>/dev/null; then
    echo "-$1"
  fi
}
signal_sessions() {
  local sig=$1 sid pids any=1
  for sid in "${SIDS[@]}"; do
    pids=$(session_pids "$sid")
    if [ -n "$pids" ]; then
      # shellcheck disable=SC2086  # word splitting intended
      kill "-$sig" -- $pids 2>/dev/null || true
      any=0
    fi
  done
  return "$any"   # 0 if something was still running
}
stop_sessions() {
  [ "${#SIDS[@]}" -gt 0 ] || return 0
  if signal_sessions TERM; then
    for _ in $(seq 1 50); do
      [ -n "$(for s in "${SIDS[@]}"; do session_pids "$s"; done)" ] || break
      sleep 0.1
    done
    if signal_sessions KILL; then log "some processes ignored SIGTERM; sent SIGKILL"; fi
  fi
  local sid
  for sid in "${SIDS[@]}"; do wait "$sid" 2>/dev/null || true; done
  SIDS=()
}
# shellcheck disable=SC2317  # invoked by the EXIT trap
on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  stop_sessions
  exit "$rc"
}
trap on_exit EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- wstest (idempotent install) ----------------------------------------------------------
if [ -z "${WSTEST:-}" ]; then
  log "locating wstest (autobahn/install.sh installs it on first use: ~1 min, PyPI only)"
  WSTEST="$("$HERE/install.sh" | tail -n 1)" || die "wstest install failed"
fi
[ -x "$WSTEST" ] || die "wstest not executable: $WSTEST"

# The spec wstest runs from: where to connect or listen, where to write, which cases.
# write_spec fuzzingclient|fuzzingserver URL [AGENT]
write_spec() {
  python3 - "$SPEC" "$1" "$2" "${3:-}" "$REPORT_DIR" "$CASES" "$EXCLUDE" <<'PY'
import json, sys
spec_path, mode, url, agent, outdir, cases, exclude = sys.argv[1:]
spec = {"outdir": outdir, "cases": json.loads(cases), "exclude-cases": json.loads(exclude),
        "exclude-agent-cases": {}}
if mode == "fuzzingclient":
    # wstest connects to the server under test; without "agent" it names the report
    # after the server's Server header.
    spec["servers"] = [dict({"url": url}, **({"agent": agent} if agent else {}))]
else:
    spec["url"] = url       # wstest listens here; the client under test names itself
with open(spec_path, "w") as f:
    json.dump(spec, f, indent=2)
PY
}

# Starts wstest in MODE (in its own session, from the report directory, bounded by
# TIMEOUT, output to WSTEST_LOG); sets LAST_PID.   start_wstest MODE [ARGS...]
start_wstest() {
  local mode=$1; shift
  start_session bash -c 'cd "$1" && shift && exec timeout "$@"' start-wstest \
    "$REPORT_DIR" "$TIMEOUT" "$WSTEST" -m "$mode" -s "$SPEC" "$@" >"$WSTEST_LOG" 2>&1 </dev/null
}

# True once wstest has written a complete index.json (it is not written atomically).
report_written() {
  python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$REPORT_DIR/index.json" 2>/dev/null
}

# --- fresh report directory (only our own report files are removed) -----------------------
mkdir -p "$REPORT_DIR"
REPORT_DIR="$(cd "$REPORT_DIR" && pwd)"
find "$REPORT_DIR" -maxdepth 1 -type f \( -name '*.json' -o -name '*.html' -o -name '*.log' \) -delete
SPEC="$REPORT_DIR/spec.json"
WSTEST_LOG="$REPORT_DIR/wstest.log"

PORT="${AUTOBAHN_PORT:-$(free_port)}"
export PORT
start_s=$(date +%s)
suite_rc=0
harness_err=""

if [ "$MODE" = server ]; then
  if [ -z "${SERVER_CMD:-}" ]; then
    log "building: cargo build --release -p wsx-proto --example echo_std"
    (cd "$REPO" && cargo build --release -p wsx-proto --example echo_std) || die "server build failed"
    SERVER_CMD="$TARGET_DIR/release/examples/echo_std 127.0.0.1:{PORT}"
    export AGENT="${AGENT:-wsx}"   # echo_std sends no Server header: wstest would say UnknownServer
  fi
  cmd="${SERVER_CMD//\{PORT\}/$PORT}"
  SERVER_LOG="$REPORT_DIR/server.log"
  log "starting server under test: $cmd   (log: $SERVER_LOG)"
  start_session bash -c "$cmd" >"$SERVER_LOG" 2>&1 </dev/null
  SERVER_PID=$LAST_PID
  deadline=$(( $(date +%s) + ${SERVER_START_TIMEOUT:-120} ))
  until port_open "$PORT"; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      tail -n 20 "$SERVER_LOG" >&2 || true
      die "server exited before listening on 127.0.0.1:$PORT (see $SERVER_LOG)"
    fi
    [ "$(date +%s)" -lt "$deadline" ] || die "server did not listen on 127.0.0.1:$PORT within ${SERVER_START_TIMEOUT:-120}s"
    sleep 0.2
  done
  log "server is listening on 127.0.0.1:$PORT; running wstest fuzzingclient (CASES=$CASES EXCLUDE=$EXCLUDE)"
  write_spec fuzzingclient "ws://127.0.0.1:$PORT" "${AGENT:-}"
  start_wstest fuzzingclient
  wait "$LAST_PID" || suite_rc=$?
  [ "$suite_rc" -ne 124 ] || harness_err="wstest did not finish within TIMEOUT=${TIMEOUT}s"
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    harness_err="the server under test exited during the run (see $SERVER_LOG)"
  fi
else
  if [ -z "${CLIENT_CMD:-}" ]; then
    log "building: cargo build --release -p wsx --example autobahn_client"
    (cd "$REPO" && cargo build --release -p wsx --example autobahn_client) || die "client build failed"
    CLIENT_CMD="$TARGET_DIR/release/examples/autobahn_client {URL}"
  fi
  URL="ws://127.0.0.1:$PORT"
  cmd="${CLIENT_CMD//\{URL\}/$URL}"
  log "starting wstest fuzzingserver on $URL (CASES=$CASES EXCLUDE=$EXCLUDE)"
  write_spec fuzzingserver "$URL"
  # -u 0: no web UI, whose fixed port 8080 suites running side by side would fight over.
  start_wstest fuzzingserver -u 0
  WSTEST_PID=$LAST_PID
  deadline=$(( $(date +%s) + 60 ))
  until port_open "$PORT"; do
    if ! kill -0 "$WSTEST_PID" 2>/dev/null; then
      tail -n 20 "$WSTEST_LOG" >&2 || true
      die "wstest fuzzingserver exited before listening on $URL (see $WSTEST_LOG)"
    fi
    [ "$(date +%s)" -lt "$deadline" ] || die "wstest fuzzingserver did not listen on $URL within 60s"
    sleep 0.2
  done
  log "running the client under test: $cmd"
  export AUTOBAHN_URL="$URL"
  start_session timeout "$TIMEOUT" bash -c "$cmd" </dev/null
  client_rc=0
  wait "$LAST_PID" || client_rc=$?
  [ "$client_rc" -eq 0 ] || log "the client under test exited with status $client_rc"
  [ "$client_rc" -ne 124 ] || harness_err="the client did not finish within TIMEOUT=${TIMEOUT}s"
  # The report is written when the client asks for it (/updateReports), just before it exits.
  deadline=$(( $(date +%s) + 60 ))
  until report_written; do
    if ! kill -0 "$WSTEST_PID" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
      break
    fi
    sleep 0.5
  done
fi
# Looked at before stopping wstest: the SIGTERM reaches it twice (directly and through
# `timeout`), and Twisted logs a harmless ReactorNotRunning traceback for the second.
if grep -q "Traceback" "$WSTEST_LOG"; then
  log "WARNING: wstest logged Python tracebacks (a harness problem?); see $WSTEST_LOG"
fi
stop_sessions
log "suite finished in $(( $(date +%s) - start_s ))s; wstest log: $WSTEST_LOG"

if ! report_written; then
  die "no report produced (wstest exit $suite_rc); see $WSTEST_LOG"
fi
if [ "$suite_rc" -ne 0 ] && [ -z "$harness_err" ]; then
  harness_err="wstest exited $suite_rc"
fi
python3 "$HERE/summarize.py" "$REPORT_DIR"
log "HTML report: $REPORT_DIR/index.html"

compare_args=(--cases "$CASES" --exclude "$EXCLUDE")
if [ "$UPDATE" = 1 ] && [ -n "$harness_err" ]; then
  log "NOT updating $EXPECTED: the run was broken ($harness_err); showing the diff only"
elif [ "$UPDATE" = 1 ]; then
  compare_args+=(--update)
fi
[ "$ALLOW_BAD" = 1 ] && compare_args+=(--allow-bad)
cmp_rc=0
python3 "$HERE/compare.py" "${compare_args[@]}" "$REPORT_DIR" "$EXPECTED" || cmp_rc=$?

if [ -n "$harness_err" ]; then die "$harness_err"; fi
exit "$cmp_rc"
