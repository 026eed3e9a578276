#!/usr/bin/env bash
# Side-by-side benchmark of wsx against other WebSocket servers.
#
#   bench/run.sh                      # the full suite: about 12 minutes after the builds
#   ROUNDS=1 SECONDS_PER_RUN=1 IDLE_CONNS=500 FANOUT_SUBS=500 SMOKE=1 bench/run.sh
#
# Builds `wsx` (release, main workspace) and the peers (bench/, a workspace of its own),
# then for each scenario runs every server in turn: the server pinned to one core
# (`taskset -c $SERVER_CPU`), the load generator `wsx bench` pinned to another
# (`taskset -c $CLIENT_CPU`), each server started fresh for each run and killed after.
# Servers alternate within each of ROUNDS rounds, the order rotating from round to round.
# Every `wsx bench --json` output lands in $OUT with an index (runs.tsv) and the
# machine's description (meta.txt); bench/report.py then takes medians across rounds
# and writes docs/benchmarks/servers.md and docs/benchmarks/echo.svg.
#
# Compression is off everywhere (`wsx echo --no-compress`; the peers do not negotiate
# permessage-deflate), so every server does the same work. Every server uses one
# thread for its I/O (a current-thread tokio runtime; Node's one JavaScript thread).
#
# Environment (defaults in brackets):
#   ROUNDS [3]            rounds; each server runs once per scenario per round
#   SECONDS_PER_RUN [5]   measured seconds per echo and handshakes run
#   WARMUP [1]            seconds of echo load before measuring
#   IDLE_CONNS [10000]    idle connections for the memory scenario
#   FANOUT_SUBS [10000]   subscribers for the fan-out scenario
#   FANOUT_MESSAGES [20]  messages published per fan-out run (100 ms apart)
#   HANDSHAKE_CONC [32]   handshakes in progress at once
#   SERVERS ["wsx tokio-tungstenite tokio-tungstenite-tuned fastwebsockets node-ws"];
#                         also tokio-tungstenite-loop (a next()/send() loop instead of
#                         split + forward). tokio-tungstenite-tuned is tungstenite-echo-tuned
#                         (a WebSocketConfig; feed + one flush per burst, no split) and, for
#                         fan-out, tungstenite-broadcast with the same read buffer
#   TUNED_READ_BUFFER [4096]   read_buffer_size of tokio-tungstenite-tuned in every scenario
#                         (tungstenite's default: 131072; its docs: "e.g. 4 KiB" for many
#                         connections)
#   SCENARIOS ["echo-100x16x20 echo-100x16x1k echo-1000x8x20 connections handshakes fanout"]
#   SERVER_CPU [0], CLIENT_CPU [1]   cores for taskset
#   PAUSE [1]             seconds of rest between runs
#   RUN_TIMEOUT [300]     seconds before one `wsx bench` run is abandoned (status timeout)
#   OUT [bench/results/UTC-TIMESTAMP]   where the raw results go
#   REPORT_DIR [docs/benchmarks]        where report.py writes (REPORT=0: skip the report)
#   SMOKE [0]             1: label the report a smoke run (auto when parameters are reduced)
#   SKIP_BUILD [0]        1: use the binaries already built
#   WSX_TARGET_DIR [$CARGO_TARGET_DIR or target/]   the main workspace's target dir
#   PEERS_TARGET_DIR [bench/target]                 the peers' target dir
#   WSX_BENCH [the wsx built here]   the `wsx` binary that runs `wsx bench` (the load
#                         generator), e.g. one saved copy, so that a before/after
#                         comparison of wsx changes only the server
#   NODE_PATH [tests/peers/node_modules]            where Node finds `ws`
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)

ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
WARMUP=${WARMUP:-1}
IDLE_CONNS=${IDLE_CONNS:-10000}
FANOUT_SUBS=${FANOUT_SUBS:-10000}
FANOUT_MESSAGES=${FANOUT_MESSAGES:-20}
HANDSHAKE_CONC=${HANDSHAKE_CONC:-32}
SERVERS=${SERVERS:-"wsx tokio-tungstenite tokio-tungstenite-tuned fastwebsockets node-ws"}
SCENARIOS=${SCENARIOS:-"echo-100x16x20 echo-100x16x1k echo-1000x8x20 connections handshakes fanout"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PAUSE=${PAUSE:-1}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
TUNED_READ_BUFFER=${TUNED_READ_BUFFER:-4096}
OUT=${OUT:-$BENCH/results/$(date -u +%Y%m%dT%H%M%SZ)}
REPORT_DIR=${REPORT_DIR:-$ROOT/docs/benchmarks}
REPORT=${REPORT:-1}
SMOKE=${SMOKE:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
WSX_TARGET_DIR=${WSX_TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}}
PEERS_TARGET_DIR=${PEERS_TARGET_DIR:-$BENCH/target}
export NODE_PATH=${NODE_PATH:-$ROOT/tests/peers/node_modules}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- file descriptors: the server and the load generator each hold one per connection.
need_fds=$(( (IDLE_CONNS > FANOUT_SUBS ? IDLE_CONNS : FANOUT_SUBS) + 2000 ))
(( need_fds < 20000 )) && need_fds=20000
if (( $(ulimit -Hn) < need_fds )); then
    ulimit -Hn "$need_fds" 2>/dev/null || die "ulimit -n $need_fds: the hard limit is $(ulimit -Hn); raise it (as root) or lower IDLE_CONNS/FANOUT_SUBS"
fi
ulimit -n "$need_fds"

command -v taskset >/dev/null || die "taskset not found (util-linux)"
ncpu=$(nproc --all)
(( SERVER_CPU < ncpu && CLIENT_CPU < ncpu )) || die "SERVER_CPU=$SERVER_CPU / CLIENT_CPU=$CLIENT_CPU: this machine has $ncpu cores"
[[ $SERVER_CPU != "$CLIENT_CPU" ]] || die "SERVER_CPU and CLIENT_CPU must differ"

# --- builds
WSX=$WSX_TARGET_DIR/release/wsx
WSX_BROADCAST=$WSX_TARGET_DIR/release/examples/broadcast
PEERS=$PEERS_TARGET_DIR/release
WSX_BENCH=${WSX_BENCH:-$WSX}
if [[ $SKIP_BUILD != 1 ]]; then
    log "building wsx (release, main workspace)"
    (cd "$ROOT" && CARGO_TARGET_DIR=$WSX_TARGET_DIR cargo build --release -p wsx-cli -p wsx --bin wsx --example broadcast)
    log "building the peers (bench/ workspace)"
    (cd "$BENCH" && CARGO_TARGET_DIR=$PEERS_TARGET_DIR cargo build --release --locked)
fi
for b in "$WSX" "$WSX_BENCH" "$WSX_BROADCAST" "$PEERS/tungstenite-echo" "$PEERS/tungstenite-echo-tuned" "$PEERS/tungstenite-broadcast" \
         "$PEERS/fastwebsockets-echo" "$PEERS/fastwebsockets-broadcast"; do
    [[ -x $b ]] || die "$b is missing (run without SKIP_BUILD=1)"
done

node_ok=0
if command -v node >/dev/null && node -e "require('ws')" 2>/dev/null; then
    node_ok=1
fi
servers=()
for s in $SERVERS; do
    case $s in
        wsx | tokio-tungstenite | tokio-tungstenite-loop | tokio-tungstenite-tuned | fastwebsockets) servers+=("$s") ;;
        node-ws)
            if (( node_ok )); then servers+=("$s")
            else log "skipping node-ws: node or its ws package is missing (NODE_PATH=$NODE_PATH; npm ci --prefix tests/peers)"; fi ;;
        *) die "unknown server $s" ;;
    esac
done
(( ${#servers[@]} > 0 )) || die "no servers"

# server_cmd KIND SERVER: the command line (without --listen) of SERVER's echo or
# broadcast server, on stdout, one word per line.
server_cmd() {
    case $1/$2 in
        echo/tokio-tungstenite-tuned) printf '%s\n' "$PEERS/tungstenite-echo-tuned" --read-buffer "$TUNED_READ_BUFFER" --listen ;;
        echo/wsx) printf '%s\n' "$WSX" echo --no-compress --listen ;;
        echo/tokio-tungstenite) printf '%s\n' "$PEERS/tungstenite-echo" --listen ;;
        echo/tokio-tungstenite-loop) printf '%s\n' "$PEERS/tungstenite-echo" --mode loop --listen ;;
        echo/fastwebsockets) printf '%s\n' "$PEERS/fastwebsockets-echo" --listen ;;
        echo/node-ws) printf '%s\n' node "$BENCH/peers/node-ws/echo.js" --listen ;;
        # The wsx example takes the address as its only argument.
        broadcast/wsx) printf '%s\n' "$WSX_BROADCAST" ;;
        broadcast/tokio-tungstenite | broadcast/tokio-tungstenite-loop) printf '%s\n' "$PEERS/tungstenite-broadcast" --listen ;;
        broadcast/tokio-tungstenite-tuned) printf '%s\n' "$PEERS/tungstenite-broadcast" --read-buffer "$TUNED_READ_BUFFER" --listen ;;
        broadcast/fastwebsockets) printf '%s\n' "$PEERS/fastwebsockets-broadcast" --listen ;;
        broadcast/node-ws) printf '%s\n' node "$BENCH/peers/node-ws/broadcast.js" --listen ;;
        *) die "no $1 server for $2" ;;
    esac
}

# The bench arguments (after `wsx bench`, before --url/--pid) of each scenario.
scenario_args() {
    case $1 in
        echo-100x16x20) echo "echo -c 100 -k 16 -p 20 -t $SECONDS_PER_RUN --warmup $WARMUP" ;;
        echo-100x16x1k) echo "echo -c 100 -k 16 -p 1024 -t $SECONDS_PER_RUN --warmup $WARMUP" ;;
        echo-1000x8x20) echo "echo -c 1000 -k 8 -p 20 -t $SECONDS_PER_RUN --warmup $WARMUP" ;;
        connections) echo "connections -n $IDLE_CONNS" ;;
        handshakes) echo "handshakes -c $HANDSHAKE_CONC -t $SECONDS_PER_RUN" ;;
        fanout) echo "fanout -n $FANOUT_SUBS -m $FANOUT_MESSAGES --interval-ms 100 -p 64" ;;
        *) die "unknown scenario $1" ;;
    esac
}
for sc in $SCENARIOS; do scenario_args "$sc" >/dev/null; done

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log "results in $OUT"

# --- the machine, for the report
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu_model: $(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
    echo "cores: $ncpu"
    echo "kernel: $(uname -srm)"
    echo "loadavg_start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "rustc: $(rustc --version 2>/dev/null || echo unknown)"
    echo "node: $(command -v node >/dev/null && node --version || echo none)"
    echo "node_ws: $( (( node_ok )) && node -p "require('ws/package.json').version" 2>/dev/null || echo none)"
    echo "wsx_git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- crates 2>/dev/null || echo ' (crates/ modified)')"
    echo "rounds: $ROUNDS"
    echo "seconds_per_run: $SECONDS_PER_RUN"
    echo "warmup: $WARMUP"
    echo "idle_conns: $IDLE_CONNS"
    echo "fanout_subs: $FANOUT_SUBS"
    echo "fanout_messages: $FANOUT_MESSAGES"
    echo "handshake_conc: $HANDSHAKE_CONC"
    echo "server_cpu: $SERVER_CPU"
    echo "client_cpu: $CLIENT_CPU"
    echo "servers: ${servers[*]}"
    echo "scenarios: $SCENARIOS"
    echo "smoke: $SMOKE"
    echo "tuned_read_buffer: $TUNED_READ_BUFFER"
    echo "skip_build: $SKIP_BUILD"
    echo "wsx_bench: $WSX_BENCH ($(sha256sum "$WSX_BENCH" | cut -c1-12))"
    echo "wsx_profile: $(sed -n '/^\[profile.release\]/,/^\[/p' "$ROOT/Cargo.toml" | grep -v '^\[' | grep -v '^#' | tr '\n' ' ' | sed 's/  */ /g; s/ $//')"
    echo "peers_profile: $(sed -n '/^\[profile.release\]/,/^\[/p' "$BENCH/Cargo.toml" | grep -v '^\[' | grep -v '^#' | tr '\n' ' ' | sed 's/  */ /g; s/ $//')${CARGO_PROFILE_RELEASE_LTO:+ (CARGO_PROFILE_RELEASE_LTO=$CARGO_PROFILE_RELEASE_LTO)}${CARGO_PROFILE_RELEASE_CODEGEN_UNITS:+ (CARGO_PROFILE_RELEASE_CODEGEN_UNITS=$CARGO_PROFILE_RELEASE_CODEGEN_UNITS)}"
    echo "command: $(for v in ROUNDS SECONDS_PER_RUN WARMUP IDLE_CONNS FANOUT_SUBS FANOUT_MESSAGES HANDSHAKE_CONC SERVER_CPU CLIENT_CPU SMOKE; do printf '%s=%s ' "$v" "${!v}"; done)bench/run.sh"
} > "$OUT/meta.txt"
cp "$BENCH/Cargo.lock" "$OUT/peers-Cargo.lock"
printf 'scenario\tserver\tround\tstatus\tjson\tserver_cmd\tbench_cmd\tclient_real_s\tclient_user_s\tclient_sys_s\n' > "$OUT/runs.tsv"

# --- one run
SERVER_PID=
stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

# run_one SCENARIO SERVER ROUND
run_one() {
    local sc=$1 srv=$2 round=$3 kind=echo
    [[ $sc == fanout ]] && kind=broadcast
    local base="$OUT/$sc.$srv.r$round"
    local -a cmd
    mapfile -t cmd < <(server_cmd "$kind" "$srv")
    cmd+=(127.0.0.1:0)
    # Created here, not by the background job's redirection: that happens only once the
    # child runs, and a `sed` of a missing file would end the suite (set -e, pipefail).
    : > "$base.server.log"
    taskset -c "$SERVER_CPU" "${cmd[@]}" > "$base.server.log" 2>&1 &
    SERVER_PID=$!
    local addr=
    for _ in $(seq 200); do
        addr=$(sed -n 's/^listening on //p' "$base.server.log" | head -1)
        [[ -n $addr ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    if [[ -z $addr ]]; then
        log "  $srv did not start: $(tail -3 "$base.server.log")"
        stop_server
        printf '%s\t%s\t%s\tno-server\t\t%s\t\t\t\t\n' "$sc" "$srv" "$round" "${cmd[*]}" >> "$OUT/runs.tsv"
        return
    fi
    local -a bargs
    read -ra bargs <<< "$(scenario_args "$sc")"
    bargs+=(--url "ws://$addr/" --json)
    [[ $sc != fanout ]] && bargs+=(--pid "$SERVER_PID")
    local status=ok t rc=0
    local TIMEFORMAT='%3R %3U %3S'
    { time timeout --signal=INT --kill-after=10 "$RUN_TIMEOUT" \
        taskset -c "$CLIENT_CPU" "$WSX_BENCH" bench "${bargs[@]}" > "$base.json" 2> "$base.bench.log"; } 2> "$base.time" || rc=$?
    if (( rc == 124 )); then
        status=timeout
        log "  wsx bench against $srv did not finish in RUN_TIMEOUT=$RUN_TIMEOUT s"
    elif (( rc != 0 )); then
        status=failed
        log "  wsx bench failed against $srv: $(tail -3 "$base.bench.log")"
    fi
    # The server must have survived the run.
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        status=server-died
        log "  $srv died during the run: $(tail -3 "$base.server.log")"
    fi
    stop_server
    read -r real user sys < <(tail -1 "$base.time") || true
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$srv" "$round" "$status" \
        "$(basename "$base.json")" "taskset -c $SERVER_CPU ${cmd[*]}" \
        "taskset -c $CLIENT_CPU $WSX_BENCH bench ${bargs[*]}" "${real:-}" "${user:-}" "${sys:-}" >> "$OUT/runs.tsv"
    t=$(python3 - "$base.json" <<'EOF' 2>/dev/null || true
import json, sys
r = json.load(open(sys.argv[1]))
keys = ("messages/s", "server RSS per idle connection", "handshakes/s", "time to last delivery (mean)", "server CPU utilisation")
print(", ".join(f"{x['name']}={x['value']:.6g}" for x in r["results"] if x["name"] in keys))
EOF
)
    log "  $sc $srv round $round: $status ${t:-}"
}

# --- the suite
start=$(date +%s)
n_servers=${#servers[@]}
for sc in $SCENARIOS; do
    log "scenario $sc: $(scenario_args "$sc")"
    for (( r = 1; r <= ROUNDS; r++ )); do
        for (( i = 0; i < n_servers; i++ )); do
            srv=${servers[$(( (i + r - 1) % n_servers ))]}
            run_one "$sc" "$srv" "$r"
            sleep "$PAUSE"
        done
    done
done
echo "loadavg_end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/meta.txt"
echo "suite_seconds: $(( $(date +%s) - start ))" >> "$OUT/meta.txt"
log "suite done in $(( $(date +%s) - start )) s"

if [[ $REPORT == 1 ]]; then
    python3 "$BENCH/report.py" "$OUT" --out "$REPORT_DIR"
fi
