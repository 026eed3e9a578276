#!/usr/bin/env bash
# Fan-out benchmark of push hubs: `wsx serve` against nchan and Socket.IO, side by side.
#
#   bench/hub.sh                                     # 3 rounds x 1,000 and 10,000 subscribers
#   ROUNDS=1 SERVERS="nchan socketio" bench/hub.sh   # what runs without `wsx serve`
#
# For each subscriber count, each round runs every server in turn (the order rotating from
# round to round), each one started fresh and pinned to one core (`taskset -c $SERVER_CPU`),
# the load generator `wsx bench fanout --kind SERVER` pinned to another (`$CLIENT_CPU`).
# One run of the generator measures, on the same N subscribers:
#   - the server's RSS per subscribed, idle connection (before any message);
#   - MESSAGES messages published one at a time, INTERVAL_MS apart: the time from the
#     publish to the last subscriber's delivery (mean and worst over the messages);
#   - BURSTS bursts of BURST messages published back to back (HTTP requests pipelined on
#     one connection): N x BURST deliveries / time until the last delivery.
# Every hub publishes through its HTTP endpoint and delivers over WebSocket:
#   wsx-hub   `wsx serve --listen 127.0.0.1:0 $WSX_SERVE_ARGS`; skipped (with a message)
#             while this checkout's `wsx` has no `serve`
#   nchan     nginx + libnginx-mod-nchan, bench/peers/nchan/nginx.conf: one worker process,
#             run unprivileged in the foreground with everything under a temp dir
#   socketio  Socket.IO 4, bench/peers/socketio/server.js: one Node process
#
# Installs what is missing (as root: apt nginx libnginx-mod-nchan nodejs npm; `npm ci` in
# bench/peers/socketio) and builds `wsx` (release). Every `wsx bench --json` output lands in
# $OUT with an index (runs.tsv) and the machine's description (meta.txt); the summary
# (medians over rounds, markdown) goes to stdout and $OUT/summary.md.
#
# Environment (defaults in brackets):
#   ROUNDS [3]               rounds; each server runs once per subscriber count per round
#   SUBS ["1000 10000"]      subscriber counts
#   MESSAGES [20]            messages published one at a time per run
#   INTERVAL_MS [500]        milliseconds between them: more than any hub's time to the
#                            last of 10,000 (a shorter one measures a backlog)
#   BURST [100], BURSTS [3]  messages per burst, bursts per run
#   SIZE [64]                bytes of each message's data
#   HOLD [2]                 seconds the subscribers stay idle before the RSS is read
#   SERVERS ["wsx-hub nchan socketio"]
#   WSX_SERVE_ARGS ["--threads 1"]   flags for `wsx serve` besides --listen (one runtime
#                            thread, as the others have one event loop; a config file, ...)
#   API_KEY []               given to `wsx serve --api-key` and sent by the generator as
#                            `Authorization: Bearer KEY`
#   NCHAN_BUFFER [1]         nchan_message_buffer_length (messages kept per channel)
#   SERVER_CPU [0], CLIENT_CPU [1]   cores for taskset
#   PAUSE [1]                seconds of rest between runs
#   RUN_TIMEOUT [600]        seconds before one `wsx bench` run is abandoned
#   OUT [bench/results/hub-UTC-TIMESTAMP]   raw results; SUMMARY [$OUT/summary.md]
#   SKIP_BUILD [0], SKIP_INSTALL [0]        1: use what is there
#   WSX_TARGET_DIR [$CARGO_TARGET_DIR or target/]
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)

ROUNDS=${ROUNDS:-3}
SUBS=${SUBS:-"1000 10000"}
MESSAGES=${MESSAGES:-20}
INTERVAL_MS=${INTERVAL_MS:-500}
BURST=${BURST:-100}
BURSTS=${BURSTS:-3}
SIZE=${SIZE:-64}
HOLD=${HOLD:-2}
SERVERS=${SERVERS:-"wsx-hub nchan socketio"}
WSX_SERVE_ARGS=${WSX_SERVE_ARGS---threads 1}
API_KEY=${API_KEY:-}
NCHAN_BUFFER=${NCHAN_BUFFER:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PAUSE=${PAUSE:-1}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
OUT=${OUT:-$BENCH/results/hub-$(date -u +%Y%m%dT%H%M%SZ)}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_INSTALL=${SKIP_INSTALL:-0}
WSX_TARGET_DIR=${WSX_TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}}
NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so
SOCKETIO_DIR=$BENCH/peers/socketio

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- file descriptors: the server and the load generator each hold one per subscriber.
max_subs=0
for n in $SUBS; do (( n > max_subs )) && max_subs=$n; done
need_fds=$(( max_subs + 2000 ))
(( need_fds < 20000 )) && need_fds=20000
if (( $(ulimit -Hn) < need_fds )); then
    ulimit -Hn "$need_fds" 2>/dev/null || die "ulimit -n $need_fds: the hard limit is $(ulimit -Hn); raise it or lower SUBS"
fi
ulimit -n "$need_fds"

command -v taskset >/dev/null || die "taskset not found (util-linux)"
ncpu=$(nproc --all)
(( SERVER_CPU < ncpu && CLIENT_CPU < ncpu )) || die "SERVER_CPU=$SERVER_CPU / CLIENT_CPU=$CLIENT_CPU: this machine has $ncpu cores"
[[ $SERVER_CPU != "$CLIENT_CPU" ]] || die "SERVER_CPU and CLIENT_CPU must differ"

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
    if wants nchan && ! { command -v nginx >/dev/null && [[ -f $NCHAN_MODULE ]]; }; then
        log "installing nginx and libnginx-mod-nchan"
        apt_install nginx libnginx-mod-nchan || log "could not install nginx + nchan (not root, or apt failed)"
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

# --- build
WSX=$WSX_TARGET_DIR/release/wsx
if [[ $SKIP_BUILD != 1 ]]; then
    log "building wsx (release)"
    (cd "$ROOT" && CARGO_TARGET_DIR=$WSX_TARGET_DIR cargo build --release -p wsx-cli --bin wsx) ||
        die "cargo build failed (SKIP_BUILD=1 WSX_TARGET_DIR=... uses a wsx built elsewhere)"
fi
[[ -x $WSX ]] || die "$WSX is missing (run without SKIP_BUILD=1)"
"$WSX" bench fanout --help 2>/dev/null | grep -q -- '--kind' || die "$WSX bench fanout has no --kind: rebuild it"

# --- which servers can run
# nchan creates its temp dir for large messages at startup, the compiled-in client body
# temp path, and 1.3.6 cannot be told another one (see nginx.conf).
nchan_temp=$(nginx -V 2>&1 | tr ' ' '\n' | sed -n 's/^--http-client-body-temp-path=//p' || true)
servers=()
for s in $SERVERS; do
    case $s in
        wsx-hub)
            if "$WSX" serve --help >/dev/null 2>&1; then servers+=("$s")
            else log "skipping wsx-hub: $WSX has no \`serve\` subcommand yet (crates/wsx-hub is not wired into the CLI)"; fi ;;
        nchan)
            if ! command -v nginx >/dev/null || [[ ! -f $NCHAN_MODULE ]]; then
                log "skipping nchan: nginx or $NCHAN_MODULE is missing (apt-get install nginx libnginx-mod-nchan)"
                continue
            fi
            if [[ -n $nchan_temp && ! -d $nchan_temp ]]; then
                if is_root; then install -d "$nchan_temp"
                else log "skipping nchan: $nchan_temp does not exist and only root can create it"; continue; fi
            fi
            servers+=("$s") ;;
        socketio)
            if command -v node >/dev/null && [[ -f $SOCKETIO_DIR/node_modules/socket.io/package.json ]]; then servers+=("$s")
            else log "skipping socketio: node or bench/peers/socketio/node_modules is missing (npm ci --prefix bench/peers/socketio)"; fi ;;
        *) die "unknown server $s (wsx-hub, nchan, socketio)" ;;
    esac
done
(( ${#servers[@]} > 0 )) || die "no server can run"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SUMMARY=${SUMMARY:-$OUT/summary.md}
log "results in $OUT"

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu_model: $(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
    echo "cores: $ncpu"
    echo "kernel: $(uname -srm)"
    echo "loadavg_start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "wsx_git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //' || echo none)"
    echo "nchan: $(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo unknown)"
    echo "node: $(node --version 2>/dev/null || echo none)"
    echo "socket_io: $(node -p "require('$SOCKETIO_DIR/node_modules/socket.io/package.json').version" 2>/dev/null || echo none)"
    echo "servers: ${servers[*]}"
    echo "server_cpu: $SERVER_CPU"
    echo "client_cpu: $CLIENT_CPU"
    echo "command: $(for v in ROUNDS SUBS MESSAGES INTERVAL_MS BURST BURSTS SIZE HOLD NCHAN_BUFFER SERVER_CPU CLIENT_CPU; do printf '%s="%s" ' "$v" "${!v}"; done)bench/hub.sh"
} > "$OUT/meta.txt"
printf 'subscribers\tserver\tround\tstatus\tjson\tserver_cmd\tbench_cmd\tclient_real_s\tclient_user_s\tclient_sys_s\n' > "$OUT/runs.tsv"

# --- servers
SERVER_PID=     # what to stop
MEASURE_PID=    # whose RSS counts (nginx: the worker)
ADDR=
NCHAN_PREFIX=
SERVER_CMD=
stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        # An nginx worker outlives a KILLed master only briefly; never leave one behind.
        [[ -n $MEASURE_PID && $MEASURE_PID != "$SERVER_PID" ]] && kill -KILL "$MEASURE_PID" 2>/dev/null || true
    fi
    [[ -n $NCHAN_PREFIX ]] && rm -rf "$NCHAN_PREFIX"
    SERVER_PID= MEASURE_PID= ADDR= NCHAN_PREFIX=
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

# wait_listening LOG: the address from the server's `listening on ADDR` line.
wait_listening() {
    for _ in $(seq 300); do
        ADDR=$(sed -n 's/^.*listening on //p' "$1" | head -1)
        [[ -n $ADDR ]] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server SERVER LOG: sets SERVER_PID, MEASURE_PID, ADDR, SERVER_CMD; fails if it did not come up.
start_server() {
    local srv=$1 log=$2
    case $srv in
        wsx-hub)
            local -a args
            read -ra args <<< "$WSX_SERVE_ARGS"
            [[ -n $API_KEY ]] && args+=(--api-key "$API_KEY")
            SERVER_CMD="$WSX serve --listen 127.0.0.1:0 ${args[*]}"
            taskset -c "$SERVER_CPU" "$WSX" serve --listen 127.0.0.1:0 "${args[@]}" > "$log" 2>&1 &
            SERVER_PID=$! MEASURE_PID=$!
            wait_listening "$log" ;;
        socketio)
            SERVER_CMD="node $SOCKETIO_DIR/server.js --listen 127.0.0.1:0"
            taskset -c "$SERVER_CPU" node "$SOCKETIO_DIR/server.js" --listen 127.0.0.1:0 > "$log" 2>&1 &
            SERVER_PID=$! MEASURE_PID=$!
            wait_listening "$log" ;;
        nchan)
            local port prefix
            port=$(free_port)
            prefix=$(mktemp -d "${TMPDIR:-/tmp}/wsx-nchan.XXXXXX")
            NCHAN_PREFIX=$prefix
            sed -e "s|@PREFIX@|$prefix|g" -e "s|@MODULE@|$NCHAN_MODULE|" -e "s|@LISTEN@|127.0.0.1:$port|" \
                -e "s|@NOFILE@|$need_fds|" -e "s|@CONNECTIONS@|$(( need_fds - 100 ))|" \
                -e "s|@BUFFER@|$NCHAN_BUFFER|" "$BENCH/peers/nchan/nginx.conf" > "$prefix/nginx.conf"
            local -a as_user=()
            if is_root; then
                # Unprivileged, as if a user had started it: nginx drops nothing, needs nothing.
                chown -R nobody: "$prefix"
                as_user=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
            fi
            SERVER_CMD="${as_user[*]} nginx -p $prefix/ -e $prefix/error.log -c $prefix/nginx.conf"
            taskset -c "$SERVER_CPU" "${as_user[@]}" nginx -p "$prefix/" -e "$prefix/error.log" -c "$prefix/nginx.conf" > "$log" 2>&1 &
            SERVER_PID=$!
            local ok=1
            for _ in $(seq 100); do
                kill -0 "$SERVER_PID" 2>/dev/null || break
                MEASURE_PID=$(pgrep -P "$SERVER_PID" | head -1 || true)
                if [[ -n $MEASURE_PID ]] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ok=0; break; fi
                sleep 0.05
            done
            (( ok == 0 )) || cat "$prefix/error.log" >> "$log" 2>/dev/null || true
            ADDR=127.0.0.1:$port
            return $ok ;;
    esac
}

# run_one SUBSCRIBERS SERVER ROUND
run_one() {
    local n=$1 srv=$2 round=$3
    local base="$OUT/fanout-$n.$srv.r$round"
    if ! start_server "$srv" "$base.server.log"; then
        log "  $srv did not start: $(tail -3 "$base.server.log")"
        printf '%s\t%s\t%s\tno-server\t\t%s\t\t\t\t\n' "$n" "$srv" "$round" "$SERVER_CMD" >> "$OUT/runs.tsv"
        stop_server
        return
    fi
    local -a bargs=(bench --json fanout --kind "$srv" --url "ws://$ADDR/" -n "$n" -m "$MESSAGES"
        --interval-ms "$INTERVAL_MS" -p "$SIZE" --burst "$BURST" --bursts "$BURSTS" --hold "$HOLD" --pid "$MEASURE_PID")
    [[ -n $API_KEY ]] && bargs+=(--api-key "$API_KEY")
    local status=ok rc=0 real user sys
    # The generator's CPU time tells whether it, rather than the server, was the limit.
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
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        status=server-died
        log "  $srv died during the run: $(tail -3 "$base.server.log")"
    fi
    [[ -n $NCHAN_PREFIX ]] && { cat "$NCHAN_PREFIX/error.log" >> "$base.server.log" 2>/dev/null || true; }
    stop_server
    read -r real user sys < <(tail -1 "$base.time") || true
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$srv" "$round" "$status" "$(basename "$base.json")" \
        "taskset -c $SERVER_CPU $SERVER_CMD" "taskset -c $CLIENT_CPU $WSX ${bargs[*]}" "${real:-}" "${user:-}" "${sys:-}" >> "$OUT/runs.tsv"
    local t
    t=$(python3 - "$base.json" <<'EOF' 2>/dev/null || true
import json, sys
r = {x["name"]: x["value"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"to-last {r['time to last delivery (mean)']:.1f} ms, burst {r['burst deliveries/s (median)']:,.0f}/s, "
      f"{r['server RSS per subscribed idle connection'] / 1024:.1f} KiB/conn")
EOF
)
    log "  $n subscribers, $srv, round $round: $status${t:+, $t}"
}

start=$(date +%s)
n_servers=${#servers[@]}
for n in $SUBS; do
    log "fan-out to $n subscribers: ${servers[*]}"
    for (( r = 1; r <= ROUNDS; r++ )); do
        for (( i = 0; i < n_servers; i++ )); do
            run_one "$n" "${servers[$(( (i + r - 1) % n_servers ))]}" "$r"
            sleep "$PAUSE"
        done
    done
done
echo "loadavg_end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/meta.txt"
echo "suite_seconds: $(( $(date +%s) - start ))" >> "$OUT/meta.txt"
log "done in $(( $(date +%s) - start )) s"

# --- summary: medians over rounds
python3 - "$OUT" > "$SUMMARY" <<'EOF'
import csv, json, os, statistics, sys

out = sys.argv[1]
meta = dict(l.rstrip("\n").split(": ", 1) for l in open(os.path.join(out, "meta.txt")) if ": " in l)
runs = {}
for row in csv.DictReader(open(os.path.join(out, "runs.tsv")), delimiter="\t"):
    key = (int(row["subscribers"]), row["server"])
    runs.setdefault(key, []).append(row)

def results(row):
    if row["status"] != "ok":
        return None
    try:
        return {x["name"]: x["value"] for x in json.load(open(os.path.join(out, row["json"])))["results"]}
    except (OSError, ValueError, KeyError):
        return None

def med(rs, name):
    v = [r[name] for r in rs if name in r]
    return statistics.median(v) if v else None

def fmt(v, spec):
    return "–" if v is None else format(v, spec)

print(f"Fan-out, the server on core {meta.get('server_cpu', '?')} and the load generator on core {meta.get('client_cpu', '?')}, "
      f"{meta.get('date', '?')}, load average {meta.get('loadavg_start', '?')} → {meta.get('loadavg_end', '?')} "
      f"on {meta.get('cores', '?')} cores ({meta.get('cpu_model', '?')}).")
print(f"nginx {meta.get('nginx', '?')} + nchan {meta.get('nchan', '?')}, Socket.IO {meta.get('socket_io', '?')} on Node {meta.get('node', '?')}, wsx {meta.get('wsx_git', '?')}.")
print(f"`{meta.get('command', '')}`; medians over the rounds that succeeded.")
print()
print("| subscribers | server | rounds ok | time to last, mean (ms) | time to last, worst (ms) | burst deliveries/s (median) | burst range (min–max) | RSS per subscribed idle conn (KiB) | server CPU %, one at a time / bursts | generator CPU %, one at a time / bursts |")
print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
order = meta.get("servers", "").split()
for (n, server), rows in sorted(runs.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]) if kv[0][1] in order else 99)):
    rs = [r for r in map(results, rows) if r]
    lo = [r["burst deliveries/s (min)"] for r in rs if "burst deliveries/s (min)" in r]
    hi = [r["burst deliveries/s (max)"] for r in rs if "burst deliveries/s (max)" in r]
    rss = med(rs, "server RSS per subscribed idle connection")
    status = f"{len(rs)}/{len(rows)}"
    failed = sorted({r["status"] for r in rows if r["status"] != "ok"})
    if failed:
        status += " (" + ", ".join(failed) + ")"
    print(f"| {n:,} | {server} | {status} | {fmt(med(rs, 'time to last delivery (mean)'), '.1f')} | "
          f"{fmt(med(rs, 'time to last delivery (worst)'), '.1f')} | {fmt(med(rs, 'burst deliveries/s (median)'), ',.0f')} | "
          f"{fmt(min(lo) if lo else None, ',.0f')}–{fmt(max(hi) if hi else None, ',.0f')} | "
          f"{fmt(rss / 1024 if rss is not None else None, '.1f')} | "
          f"{fmt(med(rs, 'server CPU utilisation (one at a time)'), '.0f')} / {fmt(med(rs, 'server CPU utilisation (bursts)'), '.0f')} | "
          f"{fmt(med(rs, 'load generator CPU utilisation (one at a time)'), '.0f')} / {fmt(med(rs, 'load generator CPU utilisation (bursts)'), '.0f')} |")
EOF
cat "$SUMMARY"
log "summary in $SUMMARY"
