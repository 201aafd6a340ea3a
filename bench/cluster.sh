#!/usr/bin/env bash
# Cluster figures (issue 4): a slotkv cluster against a redis cluster on this machine.
#
#   bench/cluster.sh                      # build slotkv-server (release) and compare
#   RUNS=1 N=20000 bench/cluster.sh       # smoke run, well under a minute
#
# Environment (and those of bench/lib.sh):
#   RUNS        cluster creations per server for part (a); the table shows the median (default 3)
#   N           requests per redis-benchmark run for part (b) (default 1000000: the rps of
#               redis-benchmark --cluster is N over a multiple of ~250 ms, so each run must
#               last seconds to mean anything)
#   CLIENTS     parallel connections (default 50)
#   TESTS       redis-benchmark -t list (default set,get)
#   PIPELINES   pipeline depths (default "1 16")
#   ROUNDS      runs of each test per cluster; the table shows the best (default 1)
#   PARTS       which parts to run (default "create throughput")
set -euo pipefail

RUNS=${RUNS:-3}
N=${N:-1000000}
CLIENTS=${CLIENTS:-50}
TESTS=${TESTS:-set,get}
PIPELINES=${PIPELINES:-1 16}
ROUNDS=${ROUNDS:-1}
PARTS=${PARTS:-create throughput}
CLUSTER_TIMEOUT_S=60

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_init server
say_setup
say

# ---- (a) six nodes to cluster_state:ok everywhere ------------------------------------------
if [[ " $PARTS " == *" create "* ]]; then
    echo "==> create: 6 nodes, redis-cli --cluster create --cluster-replicas 1, $RUNS runs" >&2
    declare -A TIMES=()
    for ((run = 1; run <= RUNS; run++)); do
        for name in slotkv redis; do
            c="create-$name-$run"
            t0=$(now_us)
            start_nodes "$c" "$(binary "$name")" 6
            create_cluster "$c" 1
            if wait_for "$CLUSTER_TIMEOUT_S" all_ok "$c"; then
                TIMES[$name]+=" $(seconds "$t0" "$(now_us)")"
            else
                TIMES[$name]+=" timeout"
            fi
            stop_cluster "$c"
        done
    done
    say "create runs (s): slotkv${TIMES[slotkv]}; redis${TIMES[redis]}"
    runs_table "cluster creation: 6 nodes, --cluster-replicas 1, $RUNS runs" \
        "start of 6 nodes until all cluster_state:ok (s)" "${TIMES[slotkv]}" "${TIMES[redis]}"
    say "(includes redis-cli's own 1 s waits while the nodes join; same client for both)"
    say
fi

# ---- (b) redis-benchmark --cluster ----------------------------------------------------------
if [[ " $PARTS " == *" throughput "* ]]; then
    echo "==> throughput: 3 masters, 0 replicas, redis-benchmark --cluster -t $TESTS -P {$PIPELINES}" >&2
    for name in slotkv redis; do
        start_nodes "bench-$name" "$(binary "$name")" 3
        create_cluster "bench-$name" 0
        wait_for "$CLUSTER_TIMEOUT_S" all_ok "bench-$name" || { echo "bench: bench-$name not ok" >&2; exit 1; }
    done
    declare -A BEST=()
    for p in $PIPELINES; do
        for test in ${TESTS//,/ }; do
            for ((round = 1; round <= ROUNDS; round++)); do
                for name in slotkv redis; do
                    out=$(bench_rps "${PORT[bench-$name-1]}" --cluster -t "$test" -c "$CLIENTS" -n "$N" -P "$p")
                    while read -r t rps; do
                        key="$name-$p-$t"
                        BEST[$key]=$(best_of "$rps" "${BEST[$key]:-}")
                    done <<<"$out"
                done
            done
        done
    done
    for name in slotkv redis; do
        stop_cluster "bench-$name"
    done
    for p in $PIPELINES; do
        for test in ${TESTS//,/ }; do
            t=${test^^}
            printf '%s rps, -P %s\t%.0f\t%.0f\thigher\n' "$t" "$p" "${BEST[slotkv-$p-$t]:-0}" "${BEST[redis-$p-$t]:-0}"
        done
    done | print_table "redis-benchmark --cluster: 3 masters, 0 replicas, -c $CLIENTS -n $N, best of $ROUNDS"
    say
fi
say "saved: $OUT"
