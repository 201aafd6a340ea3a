#!/usr/bin/env bash
# Side-by-side benchmark: slotkv-server against redis-server, same machine, same client.
#
#   bench/run.sh                     # build slotkv-server (release) and compare
#   N=50000 bench/run.sh             # fewer requests per test
#   SLOTKV_SERVER_BIN=/usr/bin/redis-server bench/run.sh   # check the script itself
#
# Environment:
#   N                 requests per redis-benchmark test (default 200000)
#   CLIENTS           parallel connections (default 50)
#   TESTS             redis-benchmark -t list (default set,get,incr,lpush,lpop,sadd,hset,zadd,lrange_100;
#                     set and empty, as in `TESTS= bench/run.sh`, skips the throughput part)
#   PIPELINES         pipeline depths to run (default "1 16")
#   ROUNDS            runs of each test per server; the table shows the best (default 1)
#   MEM_KEYS          keys for the memory comparison (default 1000000; 0 skips it)
#   MEM_VALUE_SIZE    value size in bytes for the memory comparison (default 32)
#   SLOTKV_SERVER_BIN use this binary instead of building slotkv-server
#   REDIS_SERVER_BIN  reference server (default: redis-server on PATH)
#   KEEP=1            keep the work dir (server logs, raw CSV)
#
# Prints a throughput/latency table, then a memory table, and saves both under
# bench/results/ (not committed: copy the numbers you want to keep into bench/README.md).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-200000}
CLIENTS=${CLIENTS:-50}
TESTS=${TESTS-set,get,incr,lpush,lpop,sadd,hset,zadd,lrange_100}
PIPELINES=${PIPELINES:-1 16}
ROUNDS=${ROUNDS:-1}
MEM_KEYS=${MEM_KEYS:-1000000}
MEM_VALUE_SIZE=${MEM_VALUE_SIZE:-32}
START_TIMEOUT_S=20

for tool in redis-cli redis-benchmark python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install redis-tools)" >&2; exit 1; }
done

REDIS_BIN=${REDIS_SERVER_BIN:-$(command -v redis-server || true)}
[[ -x "$REDIS_BIN" ]] || { echo "bench: redis-server not found (apt-get install redis-server)" >&2; exit 1; }

if [[ -n "${SLOTKV_SERVER_BIN:-}" ]]; then
    SLOTKV_BIN=$SLOTKV_SERVER_BIN
else
    echo "==> cargo build --release --bin slotkv-server" >&2
    (cd "$ROOT" && cargo build --release --quiet --bin slotkv-server)
    SLOTKV_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/slotkv-server
fi
[[ -x "$SLOTKV_BIN" ]] || { echo "bench: $SLOTKV_BIN is not executable" >&2; exit 1; }

WORK=$(mktemp -d -t slotkv-bench-XXXXXX)
declare -A PID=() PORT=()
BENCH_PID=

cleanup() {
    local name
    if [[ -n "$BENCH_PID" ]]; then
        kill "$BENCH_PID" 2>/dev/null || true
        wait "$BENCH_PID" 2>/dev/null || true
    fi
    for name in "${!PID[@]}"; do
        stop_server "$name"
    done
    if [[ -n "${KEEP:-}" ]]; then
        echo "bench: work dir kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A port on 127.0.0.1 that was free a moment ago.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for SECONDS COMMAND...: polls COMMAND every 50 ms until it succeeds or time is up.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}

answers_ping() { [[ "$(redis-cli -p "$1" ping 2>/dev/null)" == PONG ]]; }

# start_server NAME BINARY: starts it on a free port with no persistence, waits for PING.
start_server() {
    local name=$1 bin=$2 attempt port dir
    dir="$WORK/$name"
    mkdir -p "$dir"
    for attempt in 1 2 3; do
        port=$(free_port)
        (cd "$dir" && exec "$bin" --port "$port" --save "" --appendonly no \
            --enable-debug-command yes >>"$dir/server.log" 2>&1) &
        PID[$name]=$!
        PORT[$name]=$port
        if wait_for "$START_TIMEOUT_S" server_up "$name"; then
            return 0
        fi
        if grep -q "Address already in use" "$dir/server.log"; then
            stop_server "$name"
            continue
        fi
        echo "bench: $name ($bin) did not start; log:" >&2
        tail -n 30 "$dir/server.log" >&2
        exit 1
    done
    echo "bench: $name: no free port after 3 attempts" >&2
    exit 1
}

# server_up NAME: alive and answering on its port (fails fast if it died).
server_up() {
    kill -0 "${PID[$1]}" 2>/dev/null || return 1
    answers_ping "${PORT[$1]}"
}

stop_server() {
    local name=$1 pid=${PID[$1]:-}
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait_for 10 bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    unset "PID[$name]"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
used_memory() { redis-cli -p "$1" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}'; }

echo "slotkv: $SLOTKV_BIN"
echo "redis:  $REDIS_BIN ($("$REDIS_BIN" --version | awk '{print $3}'))"
echo "redis-benchmark -t $TESTS -c $CLIENTS -n $N, pipelines: $PIPELINES, best of $ROUNDS; $(nproc) cores"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (numbers mean little above ~0.5)"
echo

# ---- throughput and latency -------------------------------------------------------------
RESULTS="$ROOT/bench/results"
mkdir -p "$RESULTS"
OUT="$RESULTS/$(date -u +%Y%m%dT%H%M%SZ).txt"
: >"$OUT"
if [[ -n "$TESTS" ]]; then
    start_server slotkv "$SLOTKV_BIN"
    start_server redis "$REDIS_BIN"
    # Interleaved test by test (and round by round), so that load from anything else on the
    # machine hits both servers alike rather than one whole run.
    for p in $PIPELINES; do
        echo "==> -P $p" >&2
        for test in ${TESTS//,/ }; do
            for ((round = 1; round <= ROUNDS; round++)); do
                for name in slotkv redis; do
                    redis-cli -p "${PORT[$name]}" flushall >/dev/null
                    # In the background + wait: bash runs the INT/TERM traps at once instead
                    # of after the benchmark finishes.
                    redis-benchmark -p "${PORT[$name]}" -t "$test" -c "$CLIENTS" -n "$N" -P "$p" -q --csv \
                        >>"$WORK/$name-P$p.csv" &
                    BENCH_PID=$!
                    wait "$BENCH_PID"
                    BENCH_PID=
                done
            done
        done
    done
    stop_server slotkv
    stop_server redis

    python3 - "$WORK" "$PIPELINES" <<'PY' | tee -a "$OUT"
import csv, sys, os
work, pipelines = sys.argv[1], sys.argv[2].split()

def load(name, p):
    rows = {}
    with open(os.path.join(work, f"{name}-P{p}.csv")) as f:
        for r in csv.DictReader(f):
            # One header per redis-benchmark run; helper runs ("LPUSH (needed to
            # benchmark LRANGE)") are not results.
            if r["test"] == "test" or "needed to benchmark" in r["test"]:
                continue
            name = r["test"].split(" ")[0]
            rps, p99 = float(r["rps"]), float(r["p99_latency_ms"])
            if name in rows:  # best of the rounds
                rps, p99 = max(rps, rows[name][0]), min(p99, rows[name][1])
            rows[name] = (rps, p99)
    return rows

def ratio(a, b):
    return f"{a / b:.2f}" if b else "-"

hdr = ("test", "P", "slotkv rps", "redis rps", "ratio", "slotkv p99", "redis p99", "ratio")
fmt = "{:<12} {:>3} {:>12} {:>12} {:>6} {:>11} {:>10} {:>6}"
print(fmt.format(*hdr))
for p in pipelines:
    s, r = load("slotkv", p), load("redis", p)
    for test in r:
        if test not in s:
            print(fmt.format(test, p, "missing", f"{r[test][0]:.0f}", "-", "-", f"{r[test][1]:.3f}", "-"))
            continue
        (srps, sp99), (rrps, rp99) = s[test], r[test]
        print(fmt.format(test, p, f"{srps:.0f}", f"{rrps:.0f}", ratio(srps, rrps),
                         f"{sp99:.3f}", f"{rp99:.3f}", ratio(sp99, rp99)))
print("(rps ratio = slotkv/redis, higher is better; p99 in ms, ratio = slotkv/redis, lower is better)")
PY
fi

# ---- memory -----------------------------------------------------------------------------
if ((MEM_KEYS > 0)); then
    echo
    echo "==> memory: DEBUG POPULATE $MEM_KEYS key $MEM_VALUE_SIZE" >&2
    declare -A RSS0=() RSS1=() USED=()
    for name in slotkv redis; do
        if [[ $name == slotkv ]]; then bin=$SLOTKV_BIN; else bin=$REDIS_BIN; fi
        start_server "$name-mem" "$bin"
        port=${PORT[$name-mem]}
        RSS0[$name]=$(rss_kb "${PID[$name-mem]}")
        reply=$(redis-cli -p "$port" debug populate "$MEM_KEYS" key "$MEM_VALUE_SIZE")
        [[ "$reply" == OK ]] || { echo "bench: DEBUG POPULATE on $name: $reply" >&2; exit 1; }
        dbsize=$(redis-cli -p "$port" dbsize)
        [[ "$dbsize" == "$MEM_KEYS" ]] || { echo "bench: $name has $dbsize keys, expected $MEM_KEYS" >&2; exit 1; }
        RSS1[$name]=$(rss_kb "${PID[$name-mem]}")
        USED[$name]=$(used_memory "$port")
        stop_server "$name-mem"
    done
    python3 - "$MEM_KEYS" "$MEM_VALUE_SIZE" \
        "${RSS0[slotkv]}" "${RSS1[slotkv]}" "${USED[slotkv]:-0}" \
        "${RSS0[redis]}" "${RSS1[redis]}" "${USED[redis]:-0}" <<'PY' | tee -a "$OUT"
import sys
keys, size = int(sys.argv[1]), int(sys.argv[2])
s0, s1, su, r0, r1, ru = (int(x) for x in sys.argv[3:9])
def mib(kb): return f"{kb / 1024:.1f}"
def ratio(a, b): return f"{a / b:.2f}" if b else "-"
print(f"memory: {keys} keys, {size}-byte values (DEBUG POPULATE)")
fmt = "{:<26} {:>10} {:>10} {:>6}"
print(fmt.format("", "slotkv", "redis", "ratio"))
print(fmt.format("RSS empty (MiB)", mib(s0), mib(r0), ratio(s0, r0)))
print(fmt.format("RSS loaded (MiB)", mib(s1), mib(r1), ratio(s1, r1)))
print(fmt.format("used_memory (MiB)", f"{su / 2**20:.1f}", f"{ru / 2**20:.1f}", ratio(su, ru)))
print(fmt.format("RSS growth per key (B)", f"{(s1 - s0) * 1024 / keys:.0f}",
                 f"{(r1 - r0) * 1024 / keys:.0f}", ratio(s1 - s0, r1 - r0)))
print("(ratio = slotkv/redis, lower is better)")
PY
fi
echo
echo "saved: $OUT"
