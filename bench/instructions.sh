#!/usr/bin/env bash
# User-space instructions per echoed message of one server, counted by callgrind: a
# figure that does not move with the machine's load, unlike msgs/s or CPU time.
#
#   bench/instructions.sh [-c C] [-k K] [-p P] [--rounds R1,R2] -- SERVER [ARGS...]
#   bench/instructions.sh -p 1024 -- bench/target/release/tungstenite-echo-tuned --read-buffer 4096
#
# Runs SERVER (which must take `--listen ADDR` and print `listening on ADDR`) under
# `valgrind --tool=callgrind` twice, driven by bench/fixed_echo.py with R1 and then R2
# rounds of C connections x K messages of P bytes, and prints
#   (Ir(R2) - Ir(R1)) / (C * K * (R2 - R1))
# so startup, handshakes and shutdown cancel out; split into libc's memset, libc's
# memcpy/memmove and everything else, because callgrind counts every iteration of a
# `rep stosb`/`rep movsb` as one instruction: a server that zeroes its buffers (tungstenite
# zeroes its read buffer before each read) shows ~1 instruction per byte zeroed there, so
# those two figures are bytes zeroed and copied, not time.
# Kernel time (the syscalls themselves) is not counted: pair this with
# `perf stat -e 'syscalls:sys_enter_*'` for that.
# Defaults: C=100 K=16 P=20, rounds 20,60.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
C=100 K=16 P=20 ROUNDS=20,60
while (( $# )); do
    case $1 in
        -c) C=$2; shift 2 ;;
        -k) K=$2; shift 2 ;;
        -p) P=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "usage: $0 [-c C] [-k K] [-p P] [--rounds R1,R2] -- SERVER [ARGS...]" >&2; exit 2 ;;
    esac
done
(( $# )) || { echo "$0: no server command" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "$0: valgrind not found" >&2; exit 1; }
IFS=, read -r R1 R2 <<< "$ROUNDS"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

SERVER=("$@")

# count R: the total instructions (Ir) of one callgrind run of SERVER driven for R rounds.
count() {
    local out="$TMP/callgrind.$1" pid addr=
    valgrind --tool=callgrind --callgrind-out-file="$out" "${SERVER[@]}" --listen 127.0.0.1:0 \
        > "$TMP/server.log" 2> "$TMP/valgrind.log" &
    pid=$!
    for _ in $(seq 600); do
        addr=$(sed -n 's/^listening on //p' "$TMP/server.log" | head -1)
        [[ -n $addr ]] && break
        sleep 0.1
    done
    if [[ -z $addr ]]; then
        echo "$0: the server did not start: $(tail -3 "$TMP/valgrind.log")" >&2
        kill "$pid" 2>/dev/null
        exit 1
    fi
    python3 "$BENCH/fixed_echo.py" --url "ws://$addr/" -c "$C" -k "$K" -p "$P" -r "$1" > "$TMP/client.$1.json"
    sleep 0.5
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    # "TOTAL MEMSET MEMCPY": all instructions, and those in libc's memset and memcpy/memmove
    # (self cost).
    callgrind_annotate --threshold=100 "$out" 2>/dev/null | python3 -c '
import re, sys
total = memset = memcpy = 0
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)", line)
    if not m:
        continue
    n = int(m.group(1).replace(",", ""))
    if m.group(2).startswith("PROGRAM TOTALS"):
        total = n
    elif re.search(r":__memset\w*", m.group(2)):
        memset += n
    elif re.search(r":__mem(cpy|move)\w*", m.group(2)):
        memcpy += n
print(total, memset, memcpy)'
}

read -r ir1 ms1 mc1 < <(count "$R1")
read -r ir2 ms2 mc2 < <(count "$R2")
[[ -n $ir1 && -n $ir2 && $ir1 != 0 ]] || { echo "$0: no callgrind totals (see valgrind's output)" >&2; exit 1; }
python3 - "$ir1" "$ms1" "$mc1" "$ir2" "$ms2" "$mc2" "$C" "$K" "$P" "$R1" "$R2" "${SERVER[*]}" <<'PY'
import json, sys
ir1, ms1, mc1, ir2, ms2, mc2, c, k, p, r1, r2 = map(int, sys.argv[1:12])
n = c * k * (r2 - r1)
print(json.dumps({"server": sys.argv[12], "connections": c, "in_flight": k, "size": p, "rounds": [r1, r2],
                  "instructions_per_message": round((ir2 - ir1) / n, 1),
                  "other_instructions_per_message": round(((ir2 - ms2 - mc2) - (ir1 - ms1 - mc1)) / n, 1),
                  "memset_per_message": round((ms2 - ms1) / n, 1),
                  "memcpy_per_message": round((mc2 - mc1) / n, 1)}))
PY
