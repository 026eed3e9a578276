#!/usr/bin/env bash
# Cross-node benchmark of clustered push hubs: two `wsx serve --broker redis://…` nodes
# against two Socket.IO nodes with @socket.io/redis-adapter, on the same redis-server.
#
#   bench/cluster.sh                                  # 3 rounds x both scenarios x both hubs
#   ROUNDS=1 SERVERS=socketio SUBS_SPREAD=1000 bench/cluster.sh      # a smoke run
#
# It starts its own redis-server on a free loopback port (no RDB, no AOF, everything in a
# temp dir), pinned to $REDIS_CPU, and for each run starts two fresh nodes of one hub, both
# pointed at it, node 1 pinned to $NODE1_CPU and node 2 to $NODE2_CPU. The load generator
# `wsx bench fanout --kind HUB --url NODES --publish-url NODE1` runs on $CLIENT_CPU and
# publishes through node 1's HTTP endpoint. Redis is FLUSHALLed before each run.
# Scenarios (SCENARIOS):
#   cross   cross-node delivery: SUBS_CROSS subscribers, all on node 2; every message is
#           published on node 1, so every delivery crosses the broker
#   spread  fan-out: SUBS_SPREAD subscribers spread over both nodes (round-robin), so half
#           the deliveries are local to the publishing node and half cross the broker
# One run of the generator, on the same subscribers:
#   - MESSAGES messages one at a time, INTERVAL_MS apart: time to the last subscriber
#     (mean, worst), per-delivery latency (p50, p99; cross-node and same-node apart);
#   - BURSTS bursts of BURST messages published back to back (HTTP requests pipelined on
#     one connection): deliveries/s (all, and cross-node only) and per-delivery latency
#     (each subscriber's receipt against the burst's send time), p50 and p99;
#   - deliveries out of order and twice (a lost one fails the run after GEN_TIMEOUT s);
#   - the CPU use of node 1, node 2 and redis in each phase (--watch-pid).
# Hubs:
#   wsx-hub   `wsx serve --listen 127.0.0.1:0 --broker redis://127.0.0.1:PORT $WSX_SERVE_ARGS`,
#             reading the real address it prints. Skipped (with a message) while this
#             checkout's `wsx serve` refuses a redis:// broker, unless WSX_MEMORY_FALLBACK=1:
#             then one node with `--broker memory` stands for both (server `wsx-hub-memory`:
#             a smoke test of this script, no cluster figure, no cross-node delivery)
#   socketio  Socket.IO 4, `REDIS_URL=redis://… node bench/peers/socketio/server.js`, twice
#
# Pinning (defaults): node 1, node 2 and redis share core 0; the generator has core 1 to
# itself. Each hub's whole server side, both nodes and what it makes redis do, gets one
# core, as the single hub gets one in bench/hub.sh: a hub that loads redis more pays for
# it, and the generator (most of a core in bursts at 10,000 subscribers) takes no CPU from
# the system measured. Layouts tried (Socket.IO, 1,000 subscribers, one round each):
#   nodes + redis on 0 (default)   cross 120k/s, spread 71k/s; node 2 89 % busy in bursts
#   nodes on 0, redis on 1         cross  89k/s, spread 81k/s
#   node 1 on 0, node 2 + redis on 1   cross 92k/s; node 2 got 65 % of core 1, the
#                                  generator the rest: it measures the sharing, not the hub
# Redis itself used about 1 % of a core at these rates (10 ms ticks: often 0), so where it
# sits moved nothing beyond the run-to-run spread; giving node 2 the generator's core
# does. REDIS_CPU=1 measures the broker off the servers' core.
#
# Installs what is missing (as root: apt redis-server nodejs npm; `npm ci` in
# bench/peers/socketio) and builds `wsx` (release). Every `wsx bench --json` output lands
# in $OUT with the servers' logs, redis's INFO after each run, an index (runs.tsv) and the
# machine's description (meta.txt); the summary (medians over rounds, markdown) goes to
# stdout and $OUT/summary.md.
#
# Environment (defaults in brackets):
#   ROUNDS [3]               rounds; each hub runs once per scenario per round, the order
#                            of the hubs rotating from round to round
#   SCENARIOS ["cross spread"]
#   SUBS_CROSS [1000]        subscribers of the cross scenario (all on node 2)
#   SUBS_SPREAD [10000]      subscribers of the spread scenario (over both nodes)
#   MESSAGES [20]            messages published one at a time per run
#   INTERVAL_MS [500]        milliseconds between them
#   BURST [100], BURSTS [3]  messages per burst, bursts per run
#   SIZE [64]                bytes of each message's data
#   HOLD [1]                 seconds the subscribers stay idle before the first publish
#   SERVERS ["wsx-hub socketio"]
#   WSX_SERVE_ARGS ["--threads 1"]   flags for `wsx serve` besides --listen and --broker
#   WSX_MEMORY_FALLBACK [0]  1: without a redis broker in `wsx serve`, run wsx-hub as one
#                            memory-broker node (see above)
#   API_KEY []               given to `wsx serve --api-key` and sent by the generator
#   NODE1_CPU [0], NODE2_CPU [0], REDIS_CPU [0], CLIENT_CPU [1]   cores for taskset
#   PAUSE [1]                seconds of rest between runs
#   GEN_TIMEOUT [60]         seconds the generator waits for a phase's deliveries (a burst
#                            of 100 to 10,000 Socket.IO subscribers takes ~20 s)
#   RUN_TIMEOUT [300]        seconds before one `wsx bench` run is abandoned
#   MAX_SECONDS [3600]       no run starts after this many seconds of the suite
#   OUT [bench/results/cluster-UTC-TIMESTAMP]   raw results; SUMMARY [$OUT/summary.md]
#   SKIP_BUILD [0], SKIP_INSTALL [0]        1: use what is there
#   WSX_TARGET_DIR [$CARGO_TARGET_DIR or target/]
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)

ROUNDS=${ROUNDS:-3}
SCENARIOS=${SCENARIOS:-"cross spread"}
SUBS_CROSS=${SUBS_CROSS:-1000}
SUBS_SPREAD=${SUBS_SPREAD:-10000}
MESSAGES=${MESSAGES:-20}
INTERVAL_MS=${INTERVAL_MS:-500}
BURST=${BURST:-100}
BURSTS=${BURSTS:-3}
SIZE=${SIZE:-64}
HOLD=${HOLD:-1}
SERVERS=${SERVERS:-"wsx-hub socketio"}
WSX_SERVE_ARGS=${WSX_SERVE_ARGS---threads 1}
WSX_MEMORY_FALLBACK=${WSX_MEMORY_FALLBACK:-0}
API_KEY=${API_KEY:-}
NODE1_CPU=${NODE1_CPU:-0}
NODE2_CPU=${NODE2_CPU:-0}
REDIS_CPU=${REDIS_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PAUSE=${PAUSE:-1}
GEN_TIMEOUT=${GEN_TIMEOUT:-60}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
MAX_SECONDS=${MAX_SECONDS:-3600}
OUT=${OUT:-$BENCH/results/cluster-$(date -u +%Y%m%dT%H%M%SZ)}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_INSTALL=${SKIP_INSTALL:-0}
WSX_TARGET_DIR=${WSX_TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}}
SOCKETIO_DIR=$BENCH/peers/socketio

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

subs_of() {
    case $1 in
        cross) echo "$SUBS_CROSS" ;;
        spread) echo "$SUBS_SPREAD" ;;
        *) die "unknown scenario $1 (cross, spread)" ;;
    esac
}

# --- file descriptors: the generator holds one per subscriber, a node up to as many.
max_subs=0
for sc in $SCENARIOS; do n=$(subs_of "$sc"); (( n > max_subs )) && max_subs=$n; done
need_fds=$(( max_subs + 2000 ))
(( need_fds < 20000 )) && need_fds=20000
if (( $(ulimit -Hn) < need_fds )); then
    ulimit -Hn "$need_fds" 2>/dev/null || die "ulimit -n $need_fds: the hard limit is $(ulimit -Hn); raise it or lower the subscriber counts"
fi
ulimit -n "$need_fds"

command -v taskset >/dev/null || die "taskset not found (util-linux)"
ncpu=$(nproc --all)
for v in NODE1_CPU NODE2_CPU REDIS_CPU CLIENT_CPU; do
    (( ${!v} < ncpu )) || die "$v=${!v}: this machine has $ncpu cores"
done

wants() { [[ " $SERVERS " == *" $1 "* ]]; }
is_root() { (( EUID == 0 )); }

# --- installs
apt_updated=0
apt_install() {
    is_root || return 1
    if (( ! apt_updated )); then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
if [[ $SKIP_INSTALL != 1 ]]; then
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        log "installing redis-server"
        apt_install redis-server || log "could not install redis-server (not root, or apt failed)"
    fi
    if wants socketio; then
        if ! command -v npm >/dev/null; then
            log "installing nodejs and npm"
            apt_install nodejs npm || log "could not install Node (not root, or apt failed)"
        fi
        # Again whenever the lockfile changed since the last install.
        if command -v npm >/dev/null && { [[ ! -f $SOCKETIO_DIR/node_modules/.package-lock.json ]] ||
                [[ $SOCKETIO_DIR/package-lock.json -nt $SOCKETIO_DIR/node_modules/.package-lock.json ]]; }; then
            log "npm ci in bench/peers/socketio"
            (cd "$SOCKETIO_DIR" && npm ci --no-audit --no-fund >&2) || log "npm ci failed"
        fi
    fi
fi
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
    die "redis-server and redis-cli are needed (apt-get install redis-server)"

# --- build
WSX=$WSX_TARGET_DIR/release/wsx
if [[ $SKIP_BUILD != 1 ]]; then
    log "building wsx (release)"
    (cd "$ROOT" && CARGO_TARGET_DIR=$WSX_TARGET_DIR cargo build --release -p wsx-cli --bin wsx) ||
        die "cargo build failed (SKIP_BUILD=1 WSX_TARGET_DIR=... uses a wsx built elsewhere)"
fi
[[ -x $WSX ]] || die "$WSX is missing (run without SKIP_BUILD=1)"
"$WSX" bench fanout --help 2>/dev/null | grep -q -- '--publish-url' ||
    die "$WSX bench fanout has no --publish-url: rebuild it"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- redis: one for the whole suite, flushed before each run
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/wsx-cluster.XXXXXX")
REDIS_PORT=$(free_port)
REDIS_URL=redis://127.0.0.1:$REDIS_PORT
REDIS_PID=
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# --- nodes
NODE_PIDS=()
NODE_ADDRS=()
NODE_CMDS=()
stop_nodes() {
    local pid
    for pid in "${NODE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${NODE_PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    NODE_PIDS=() NODE_ADDRS=() NODE_CMDS=()
}
cleanup() {
    stop_nodes
    if [[ -n $REDIS_PID ]]; then
        kill -TERM "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
        REDIS_PID=
    fi
    rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

taskset -c "$REDIS_CPU" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
    --save '' --appendonly no --dir "$RUN_DIR" --logfile "$RUN_DIR/redis.log" --daemonize no &
REDIS_PID=$!
for _ in $(seq 100); do
    [[ $(rcli ping 2>/dev/null) == PONG ]] && break
    kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server did not start: $(tail -3 "$RUN_DIR/redis.log")"
    sleep 0.05
done
[[ $(rcli ping 2>/dev/null) == PONG ]] || die "redis-server did not answer on $REDIS_PORT"

# wait_listening PID LOG: prints the address of the node's `listening on ADDR` line.
wait_listening() {
    local addr
    for _ in $(seq 300); do
        addr=$(sed -n 's/^.*listening on \([^ ]*\).*$/\1/p' "$2" | head -1)
        [[ -n $addr ]] && { echo "$addr"; return 0; }
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# start_node SERVER CPU LOG: appends to NODE_PIDS, NODE_ADDRS, NODE_CMDS; fails if it did not come up.
start_node() {
    local srv=$1 cpu=$2 log=$3 cmd addr
    local -a argv env=()
    case $srv in
        wsx-hub|wsx-hub-memory)
            local broker=$REDIS_URL
            [[ $srv == wsx-hub-memory ]] && broker=memory
            read -ra argv <<< "$WSX_SERVE_ARGS"
            argv=("$WSX" serve --listen 127.0.0.1:0 --broker "$broker" "${argv[@]}")
            [[ -n $API_KEY ]] && argv+=(--api-key "$API_KEY") ;;
        socketio)
            env=("REDIS_URL=$REDIS_URL")
            argv=(node "$SOCKETIO_DIR/server.js" --listen 127.0.0.1:0) ;;
    esac
    cmd="${env[*]}${env[*]:+ }taskset -c $cpu ${argv[*]}"
    env "${env[@]}" taskset -c "$cpu" "${argv[@]}" > "$log" 2>&1 &
    NODE_PIDS+=("$!")
    NODE_CMDS+=("$cmd")
    addr=$(wait_listening "$!" "$log") || return 1
    NODE_ADDRS+=("$addr")
}

# --- which servers can run
servers=()
for s in $SERVERS; do
    case $s in
        wsx-hub)
            if ! "$WSX" serve --help >/dev/null 2>&1; then
                log "skipping wsx-hub: $WSX has no \`serve\` subcommand"
                continue
            fi
            # Does `wsx serve` take a redis:// broker? A node that comes up says yes.
            if start_node wsx-hub "$NODE1_CPU" "$RUN_DIR/probe.log"; then
                servers+=(wsx-hub)
            elif (( WSX_MEMORY_FALLBACK == 1 )); then
                log "wsx serve refuses --broker $REDIS_URL ($(tail -1 "$RUN_DIR/probe.log")): wsx-hub-memory, one node with --broker memory, stands in (a smoke test, no cluster figure)"
                servers+=(wsx-hub-memory)
            else
                log "skipping wsx-hub: wsx serve refuses --broker $REDIS_URL ($(tail -1 "$RUN_DIR/probe.log")); WSX_MEMORY_FALLBACK=1 runs one memory-broker node instead"
            fi
            stop_nodes ;;
        socketio)
            if command -v node >/dev/null && [[ -f $SOCKETIO_DIR/node_modules/@socket.io/redis-adapter/package.json ]]; then servers+=("$s")
            else log "skipping socketio: node or bench/peers/socketio/node_modules (with the redis adapter) is missing (npm ci --prefix bench/peers/socketio)"; fi ;;
        *) die "unknown server $s (wsx-hub, socketio)" ;;
    esac
done
(( ${#servers[@]} > 0 )) || die "no server can run"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SUMMARY=${SUMMARY:-$OUT/summary.md}
log "results in $OUT; redis on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID, core $REDIS_CPU)"

npm_version() { node -p "require('$SOCKETIO_DIR/node_modules/$1/package.json').version" 2>/dev/null || echo none; }
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu_model: $(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
    echo "cores: $ncpu"
    echo "kernel: $(uname -srm)"
    echo "loadavg_start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "wsx_git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "redis: $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')"
    echo "node: $(node --version 2>/dev/null || echo none)"
    echo "socket_io: $(npm_version socket.io)"
    echo "redis_adapter: $(npm_version @socket.io/redis-adapter)"
    echo "node_redis: $(npm_version redis)"
    echo "servers: ${servers[*]}"
    echo "scenarios: $SCENARIOS"
    echo "node1_cpu: $NODE1_CPU"
    echo "node2_cpu: $NODE2_CPU"
    echo "redis_cpu: $REDIS_CPU"
    echo "client_cpu: $CLIENT_CPU"
    echo "command: $(for v in ROUNDS SCENARIOS SUBS_CROSS SUBS_SPREAD MESSAGES INTERVAL_MS BURST BURSTS SIZE HOLD NODE1_CPU NODE2_CPU REDIS_CPU CLIENT_CPU; do printf '%s="%s" ' "$v" "${!v}"; done)bench/cluster.sh"
} > "$OUT/meta.txt"
printf 'scenario\tsubscribers\tserver\tround\tstatus\tjson\tnode_cmds\tbench_cmd\tclient_real_s\tclient_user_s\tclient_sys_s\n' > "$OUT/runs.tsv"

# run_one SCENARIO SERVER ROUND
run_one() {
    local sc=$1 srv=$2 round=$3 n
    n=$(subs_of "$sc")
    local base="$OUT/$sc-$n.$srv.r$round"
    rcli flushall > /dev/null || log "  FLUSHALL failed"
    rcli config resetstat > /dev/null || true
    local ok=1
    start_node "$srv" "$NODE1_CPU" "$base.node1.log" || ok=0
    if (( ok )) && [[ $srv != wsx-hub-memory ]]; then
        start_node "$srv" "$NODE2_CPU" "$base.node2.log" || ok=0
    fi
    if (( ! ok )); then
        log "  $srv did not start: $(tail -3 "$base".node*.log | tr '\n' ' ')"
        printf '%s\t%s\t%s\t%s\tno-server\t\t%s\t\t\t\t\n' "$sc" "$n" "$srv" "$round" "${NODE_CMDS[*]}" >> "$OUT/runs.tsv"
        stop_nodes
        return
    fi
    # One memory-broker node stands for both.
    local n1=${NODE_ADDRS[0]} n2=${NODE_ADDRS[1]:-${NODE_ADDRS[0]}}
    local p1=${NODE_PIDS[0]} p2=${NODE_PIDS[1]:-${NODE_PIDS[0]}}
    local urls
    case $sc in
        cross) urls="ws://$n2/" ;;
        spread) urls="ws://$n1/,ws://$n2/" ;;
    esac
    local kind=$srv
    [[ $srv == wsx-hub-memory ]] && kind=wsx-hub
    local watch="node1=$p1,redis=$REDIS_PID"
    [[ $p2 != "$p1" ]] && watch="node1=$p1,node2=$p2,redis=$REDIS_PID"
    local -a bargs=(bench --json fanout --kind "$kind" --url "$urls" --publish-url "http://$n1/"
        -n "$n" -m "$MESSAGES" --interval-ms "$INTERVAL_MS" -p "$SIZE" --burst "$BURST" --bursts "$BURSTS"
        --hold "$HOLD" --timeout "$GEN_TIMEOUT" --watch-pid "$watch")
    [[ -n $API_KEY ]] && bargs+=(--api-key "$API_KEY")
    local status=ok rc=0 real user sys
    local TIMEFORMAT='%3R %3U %3S'
    { time timeout --signal=INT --kill-after=10 "$RUN_TIMEOUT" \
        taskset -c "$CLIENT_CPU" "$WSX" "${bargs[@]}" > "$base.json" 2> "$base.bench.log"; } 2> "$base.time" || rc=$?
    if (( rc == 124 )); then
        status=timeout
        log "  wsx bench against $srv did not finish in RUN_TIMEOUT=$RUN_TIMEOUT s"
    elif (( rc != 0 )); then
        status=failed
        log "  wsx bench failed against $srv: $(tail -3 "$base.bench.log")"
    fi
    local i
    for i in "${!NODE_PIDS[@]}"; do
        if ! kill -0 "${NODE_PIDS[$i]}" 2>/dev/null; then
            status=server-died
            log "  $srv node $(( i + 1 )) died during the run: $(tail -3 "$base.node$(( i + 1 )).log")"
        fi
    done
    # What redis saw: commands by kind (counted from the CONFIG RESETSTAT before the run),
    # pub/sub traffic, clients (a node's subscriber cut off for its output buffer shows in
    # client_recent_max_output_buffer and the log).
    { rcli info; rcli info commandstats; echo "# client list"; rcli client list; } > "$base.redis-info.txt" 2>&1 || true
    local cmds
    cmds=$(IFS='|'; echo "${NODE_CMDS[*]}")
    stop_nodes
    read -r real user sys < <(tail -1 "$base.time") || true
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$n" "$srv" "$round" "$status" "$(basename "$base.json")" \
        "$cmds" "taskset -c $CLIENT_CPU $WSX ${bargs[*]}" "${real:-}" "${user:-}" "${sys:-}" >> "$OUT/runs.tsv"
    local t
    t=$(python3 - "$base.json" <<'EOF' 2>/dev/null || true
import json, sys
r = {x["name"]: x["value"] for x in json.load(open(sys.argv[1]))["results"]}
cross = r.get("cross-node burst deliveries/s (median)")
print(f"to-last {r['time to last delivery (mean)']:.1f} ms, burst {r['burst deliveries/s (median)']:,.0f}/s"
      + (f" (cross-node {cross:,.0f}/s)" if cross is not None else "")
      + f", burst p50/p99 {r['burst delivery latency p50'] / 1000:.1f}/{r['burst delivery latency p99'] / 1000:.1f} ms"
      + f", out of order {r['deliveries out of order']:.0f}")
EOF
)
    log "  $sc, $n subscribers, $srv, round $round: $status${t:+, $t}"
}

start=$(date +%s)
n_servers=${#servers[@]}
skipped=0
for sc in $SCENARIOS; do
    log "$sc: $(subs_of "$sc") subscribers: ${servers[*]}"
    for (( r = 1; r <= ROUNDS; r++ )); do
        for (( i = 0; i < n_servers; i++ )); do
            if (( $(date +%s) - start >= MAX_SECONDS )); then
                skipped=$(( skipped + 1 ))
                continue
            fi
            run_one "$sc" "${servers[$(( (i + r - 1) % n_servers ))]}" "$r"
            sleep "$PAUSE"
        done
    done
done
(( skipped == 0 )) || log "MAX_SECONDS=$MAX_SECONDS reached: $skipped runs not started"
echo "loadavg_end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/meta.txt"
echo "suite_seconds: $(( $(date +%s) - start ))" >> "$OUT/meta.txt"
echo "runs_not_started: $skipped" >> "$OUT/meta.txt"
log "done in $(( $(date +%s) - start )) s"

# --- summary: medians over rounds
python3 - "$OUT" > "$SUMMARY" <<'EOF'
import csv, json, os, statistics, sys

out = sys.argv[1]
meta = dict(l.rstrip("\n").split(": ", 1) for l in open(os.path.join(out, "meta.txt")) if ": " in l)
runs = {}
for row in csv.DictReader(open(os.path.join(out, "runs.tsv")), delimiter="\t"):
    runs.setdefault((row["scenario"], int(row["subscribers"]), row["server"]), []).append(row)

def results(row):
    if row["status"] != "ok":
        return None
    try:
        return {x["name"]: x["value"] for x in json.load(open(os.path.join(out, row["json"])))["results"]}
    except (OSError, ValueError, KeyError):
        return None

def med(rs, name, scale=1.0):
    v = [r[name] * scale for r in rs if name in r]
    return statistics.median(v) if v else None

def fmt(v, spec):
    return "–" if v is None else format(v, spec)

def pair(rs, a, b, spec=".1f", scale=1e-3):
    return f"{fmt(med(rs, a, scale), spec)} / {fmt(med(rs, b, scale), spec)}"

print(f"Two nodes per hub on one redis-server {meta.get('redis', '?')}: node 1 on core {meta.get('node1_cpu', '?')}, "
      f"node 2 on core {meta.get('node2_cpu', '?')}, redis on core {meta.get('redis_cpu', '?')}, the load generator on "
      f"core {meta.get('client_cpu', '?')}; {meta.get('date', '?')}, load average {meta.get('loadavg_start', '?')} → "
      f"{meta.get('loadavg_end', '?')} on {meta.get('cores', '?')} cores ({meta.get('cpu_model', '?')}).")
print(f"Socket.IO {meta.get('socket_io', '?')} + @socket.io/redis-adapter {meta.get('redis_adapter', '?')} "
      f"(node-redis {meta.get('node_redis', '?')}) on Node {meta.get('node', '?')}; wsx {meta.get('wsx_git', '?')}.")
print(f"`{meta.get('command', '')}`; medians over the rounds that succeeded. cross: every subscriber on node 2, "
      "published on node 1; spread: subscribers alternate between the nodes, published on node 1. "
      "Latencies in ms, per delivery (publish sent → subscriber's receipt); bursts timed from each burst's send.")
print()
print("| scenario | subscribers | server | rounds ok | burst deliveries/s (median; min–max) | cross-node burst deliveries/s | "
      "burst latency p50 / p99 | time to last, mean / worst (one at a time) | latency p50 / p99 (one at a time) | "
      "cross-node p50 / p99 (one at a time) | out of order / twice |")
print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
order = meta.get("servers", "").split()
scen = meta.get("scenarios", "").split()
key = lambda kv: (scen.index(kv[0][0]) if kv[0][0] in scen else 99, kv[0][1],
                  order.index(kv[0][2]) if kv[0][2] in order else 99)
cpu_rows = []
for (sc, n, server), rows in sorted(runs.items(), key=key):
    rs = [r for r in map(results, rows) if r]
    status = f"{len(rs)}/{len(rows)}"
    failed = sorted({r["status"] for r in rows if r["status"] != "ok"})
    if failed:
        status += " (" + ", ".join(failed) + ")"
    lo = [r["burst deliveries/s (min)"] for r in rs if "burst deliveries/s (min)" in r]
    hi = [r["burst deliveries/s (max)"] for r in rs if "burst deliveries/s (max)" in r]
    ooo = [r.get("deliveries out of order", 0) for r in rs]
    dup = [r.get("deliveries received twice", 0) for r in rs]
    print(f"| {sc} | {n:,} | {server} | {status} | {fmt(med(rs, 'burst deliveries/s (median)'), ',.0f')} "
          f"({fmt(min(lo) if lo else None, ',.0f')}–{fmt(max(hi) if hi else None, ',.0f')}) | "
          f"{fmt(med(rs, 'cross-node burst deliveries/s (median)'), ',.0f')} | "
          f"{pair(rs, 'burst delivery latency p50', 'burst delivery latency p99')} | "
          f"{pair(rs, 'time to last delivery (mean)', 'time to last delivery (worst)', scale=1.0)} | "
          f"{pair(rs, 'latency p50', 'latency p99')} | "
          f"{pair(rs, 'cross-node delivery (one at a time) latency p50', 'cross-node delivery (one at a time) latency p99')} | "
          f"{fmt(sum(ooo) if rs else None, '.0f')} / {fmt(sum(dup) if rs else None, '.0f')} |")
    cpu = lambda who, phase: fmt(med(rs, f"{who} CPU utilisation ({phase})"), ".0f")
    cpu_rows.append(f"| {sc} | {n:,} | {server} | " + " | ".join(
        f"{cpu(w, 'one at a time')} / {cpu(w, 'bursts')}" for w in ("node1", "node2", "redis", "load generator")) + " |")
print()
print("CPU % of one core (one at a time / bursts), medians:")
print()
print("| scenario | subscribers | server | node 1 | node 2 | redis | load generator |")
print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
print("\n".join(cpu_rows))
if any(s.endswith("-memory") for s in order):
    print()
    print("wsx-hub-memory: one `wsx serve --broker memory` node standing for both (no redis broker in this build): "
          "a smoke test of the script, not a cluster figure.")
EOF
cat "$SUMMARY"
log "summary in $SUMMARY"
