#!/usr/bin/env bash
# Syscalls per 16-message window of one echo server under `wsx bench echo`, counted with
# perf's syscall tracepoints while the load runs (issue 11: the 1 KiB read path).
#
#   bench/syscalls.sh [SIZE] -- SERVER_CMD...     # SERVER_CMD gets --listen 127.0.0.1:0 appended
#   bench/syscalls.sh 1024 -- target/release/wsx echo --no-compress
#   WSX_BENCH=/path/to/wsx bench/syscalls.sh 1024 -- bench/target/release/tungstenite-echo-tuned --read-buffer 4096
#
# The server runs on core SERVER_CPU [0], the load generator (WSX_BENCH [target/release/wsx])
# on CLIENT_CPU [1]: 100 connections × 16 in flight × SIZE [1024] bytes for SECONDS_RUN [5] s
# (no warm-up), and perf counts the server's syscalls for as long as the load runs. Prints
# each syscall's count per window (16 messages of one connection: the messages echoed,
# from the load's messages/s × its seconds, divided by 16). The tracepoints slow the
# server somewhat: read the counts, not the throughput.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=1024
if [[ ${1:-} != -- ]]; then SIZE=$1; shift; fi
[[ ${1:-} == -- ]] || { echo "usage: $0 [SIZE] -- SERVER_CMD..." >&2; exit 2; }
shift
WSX_BENCH=${WSX_BENCH:-${CARGO_TARGET_DIR:-$ROOT/target}/release/wsx}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
SECONDS_RUN=${SECONDS_RUN:-5}
tmp=$(mktemp -d)
trap 'kill "$spid" 2>/dev/null || true; rm -rf "$tmp"' EXIT

taskset -c "$SERVER_CPU" "$@" --listen 127.0.0.1:0 > "$tmp/server.log" 2>&1 &
spid=$!
addr=
for _ in $(seq 100); do
    addr=$(sed -n 's/^listening on //p' "$tmp/server.log" | head -1)
    [[ -n $addr ]] && break
    sleep 0.05
done
[[ -n $addr ]] || { echo "server did not start: $(cat "$tmp/server.log")" >&2; exit 1; }

events=syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_readv,syscalls:sys_enter_sendto,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_sendmsg,syscalls:sys_enter_epoll_wait
# perf counts the server's syscalls for as long as the load generator runs.
perf stat -x, -e "$events" -p "$spid" -- \
    taskset -c "$CLIENT_CPU" "$WSX_BENCH" bench echo -c 100 -k 16 -p "$SIZE" -t "$SECONDS_RUN" --warmup 0 \
    --url "ws://$addr/" --json > "$tmp/bench.json" 2> "$tmp/perf.csv"
python3 - "$tmp/perf.csv" "$tmp/bench.json" "$SECONDS_RUN" <<'EOF'
import json, sys
perf, bench, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
rate = next(r["value"] for r in json.load(open(bench))["results"] if r["name"] == "messages/s")
windows = rate * secs / 16
print(f"load: {rate:,.0f} messages/s (under perf); {windows:,.0f} windows")
for line in open(perf):
    f = line.strip().split(",")
    if len(f) > 2 and f[2].startswith("syscalls:"):
        n = float(f[0]) if f[0].replace(".", "").isdigit() else 0
        if n:
            print(f"{f[2].split('sys_enter_')[1]:>12}: {n:>12,.0f}  {n / windows:6.2f} per window")
EOF
