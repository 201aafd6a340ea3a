#!/usr/bin/env bash
# Large keys in slot migration (issue 6): MIGRATE of one hash of $FIELDS fields from a node
# A to a node B, for slotkv and redis-server, with the longest PING stall seen on A and on
# B while it runs.
#
#   bench/bigkey.sh                       # build slotkv-server (release), compare
#   FIELDS=100000 ROUNDS=1 bench/bigkey.sh   # smoke run, a few seconds
#
# Environment (and those of bench/lib.sh):
#   FIELDS   fields of the hash (default 1000000; field "f<i>", value "v<i>")
#   ROUNDS   migrations per server, alternating (default 3; the table shows the median)
#
# Layout: two standalone nodes A and B per server (MIGRATE sends RESTORE; a cluster node
# sends RESTORE-ASKING, the same payload and the same work). Each round: fill the hash on
# A (pipelined HSET, 1000 fields per command), start one thread per node that sends PING,
# waits for PONG and sleeps 1 ms, over and over, time `MIGRATE 127.0.0.1 <B> "" 0 60000
# KEYS big`, stop the threads, check that B has every field and A none, delete it on B.
# "stall" is the longest PING round trip a thread saw while MIGRATE ran.
set -euo pipefail

FIELDS=${FIELDS:-1000000}
ROUNDS=${ROUNDS:-3}

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_init server
say_setup
say
python3 -c 'import redis' 2>/dev/null || { echo "bench: python3 package redis not found (pip install redis)" >&2; exit 1; }

# one_round PORT_A PORT_B: prints "seconds stall_a_ms stall_b_ms", or "failed" and why.
one_round() {
    python3 - "$1" "$2" "$FIELDS" <<'PY'
import sys, threading, time
import redis

pa, pb, fields = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
a = redis.Redis(port=pa, socket_timeout=300)
b = redis.Redis(port=pb, socket_timeout=300)
a.delete("big")
b.delete("big")
pipe = a.pipeline(transaction=False)
for start in range(0, fields, 1000):
    m = {}
    for f in range(start, min(start + 1000, fields)):
        m[f"f{f}"] = f"v{f}"
    pipe.hset("big", mapping=m)
    if len(pipe) == 50:
        pipe.execute()
pipe.execute()
assert a.hlen("big") == fields, "fill"

stop = threading.Event()
longest = {}

def poll(name, port):
    c = redis.Redis(port=port, socket_timeout=300)
    worst = 0.0
    while not stop.is_set():
        t = time.perf_counter()
        c.ping()
        worst = max(worst, time.perf_counter() - t)
        time.sleep(0.001)
    longest[name] = worst

threads = [threading.Thread(target=poll, args=(n, p)) for n, p in (("a", pa), ("b", pb))]
for t in threads:
    t.start()
time.sleep(0.2)  # both pollers running
t0 = time.perf_counter()
reply = a.execute_command("MIGRATE", "127.0.0.1", pb, "", 0, 60000, "KEYS", "big")
took = time.perf_counter() - t0
time.sleep(0.05)
stop.set()
for t in threads:
    t.join()
ok = reply in (b"OK", "OK", True) and b.hlen("big") == fields and not a.exists("big")
b.delete("big")
if not ok:
    print(f"failed: reply {reply!r}, hlen on B {b.hlen('big')}")
else:
    print(f"{took:.3f} {longest['a'] * 1000:.1f} {longest['b'] * 1000:.1f}")
PY
}

declare -A SEC=() STALL_A=() STALL_B=()
for name in slotkv redis; do
    start_server "$name-a" "$(binary "$name")"
    start_server "$name-b" "$(binary "$name")"
done
for ((r = 1; r <= ROUNDS; r++)); do
    for name in slotkv redis; do
        echo "==> $name: round $r, MIGRATE of a $FIELDS-field hash A -> B" >&2
        res=$(one_round "${PORT[$name-a]}" "${PORT[$name-b]}")
        say "$name round $r: $res (s, stall on A ms, stall on B ms)"
        if [[ $res == failed* ]]; then
            res="failed failed failed"
        fi
        read -r s sa sb <<<"$res"
        SEC[$name]+=" $s" STALL_A[$name]+=" $sa" STALL_B[$name]+=" $sb"
    done
done
say

# median VALUES...: the median of the numbers, or "failed" if any run failed.
median() { python3 -c 'import statistics, sys
try:
    print(f"{statistics.median(float(x) for x in sys.argv[1:]):.3f}")
except ValueError:
    print("failed")' "$@"; }

{
    # shellcheck disable=SC2086 # word splitting of the run lists is wanted
    printf 'MIGRATE %s-field hash (s)\t%s\t%s\tlower\n' "$FIELDS" "$(median ${SEC[slotkv]})" "$(median ${SEC[redis]})"
    # shellcheck disable=SC2086
    printf 'longest PING on source (ms)\t%s\t%s\tlower\n' "$(median ${STALL_A[slotkv]})" "$(median ${STALL_A[redis]})"
    # shellcheck disable=SC2086
    printf 'longest PING on target (ms)\t%s\t%s\tlower\n' "$(median ${STALL_B[slotkv]})" "$(median ${STALL_B[redis]})"
} | print_table "bigkey: MIGRATE of one $FIELDS-field hash between two standalone nodes, median of $ROUNDS rounds"
say
say "saved: $OUT"
