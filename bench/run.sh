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
#   and those of bench/lib.sh: SLOTKV_SERVER_BIN, REDIS_SERVER_BIN, KEEP=1 (keep the
#   work dir: server logs, raw CSV)
#
# Prints a throughput/latency table, then a memory table, and saves both under
# bench/results/ (not committed: copy the numbers you want to keep into bench/README.md).
set -euo pipefail

N=${N:-200000}
CLIENTS=${CLIENTS:-50}
TESTS=${TESTS-set,get,incr,lpush,lpop,sadd,hset,zadd,lrange_100}
PIPELINES=${PIPELINES:-1 16}
ROUNDS=${ROUNDS:-1}
MEM_KEYS=${MEM_KEYS:-1000000}
MEM_VALUE_SIZE=${MEM_VALUE_SIZE:-32}

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_init server

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
used_memory() { info_field "$1" memory used_memory; }

say_setup
say "redis-benchmark -t $TESTS -c $CLIENTS -n $N, pipelines: $PIPELINES, best of $ROUNDS"
say

# ---- throughput and latency -------------------------------------------------------------
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
                    in_background redis-benchmark -p "${PORT[$name]}" -t "$test" -c "$CLIENTS" -n "$N" -P "$p" -q --csv \
                        >>"$WORK/$name-P$p.csv"
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
