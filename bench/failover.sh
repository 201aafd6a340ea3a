#!/usr/bin/env bash
# Failover time (issue 5): SIGKILL a master of a 3+3 cluster and time until a write on its
# promoted replica succeeds, for a slotkv cluster and a redis cluster.
#
#   bench/failover.sh                 # build slotkv-server (release) and compare, 5 runs each
#   RUNS=1 bench/failover.sh          # smoke run, under a minute
#
# Environment (and those of bench/lib.sh):
#   RUNS                failovers per server; the table shows median, min and max (default 5)
#   NODE_TIMEOUT        cluster-node-timeout in ms (default 2000)
#   FAILOVER_TIMEOUT_S  give up on one failover after this long (default 30)
#
# Each run starts a fresh cluster (6 nodes, redis-cli --cluster create --cluster-replicas 1),
# waits for cluster_state:ok everywhere, every node listing the 3 replicas and every
# replica's link up, writes a key through its master M, SIGKILLs M, then loops
# `redis-cli -c SET` against M's replica (following MOVED, retrying on CLUSTERDOWN and
# connection errors, 10 ms apart) until it answers OK. Failover time = SIGKILL until that
# OK; the replica must then report role master.
set -euo pipefail

RUNS=${RUNS:-5}
NODE_TIMEOUT=${NODE_TIMEOUT:-2000}
FAILOVER_TIMEOUT_S=${FAILOVER_TIMEOUT_S:-30}
CLUSTER_TIMEOUT_S=60
KEY=failover-key

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_init server
say_setup
say

# failover_once CLUSTER: sets FO to the failover time in ms, or to "timeout" / "failed".
failover_once() {
    local c=$1 slot master replica t0 out deadline role
    FO=failed
    slot=$(redis-cli -p "${PORT[$c-1]}" cluster keyslot "$KEY")
    read -r master replica _ < <(slot_owner "${PORT[$c-1]}" "$slot")
    [[ -n "$replica" ]] || { echo "bench: $c: slot $slot has no replica" >&2; return; }
    out=$(redis-cli -p "$master" set "$KEY" before)
    [[ "$out" == OK ]] || { echo "bench: $c: SET on the master: $out" >&2; return; }
    redis-cli -p "$master" wait 1 5000 >/dev/null

    t0=$(now_us)
    kill_server "$(node_name "$master")"
    deadline=$((SECONDS + FAILOVER_TIMEOUT_S))
    until [[ "$(timeout 2 redis-cli -c -p "$replica" set "$KEY" after 2>/dev/null)" == OK ]]; do
        ((SECONDS < deadline)) || { FO=timeout; return; }
        sleep 0.01
    done
    out=$((($(now_us) - t0) / 1000))
    role=$(redis-cli -p "$replica" role | head -n 1)
    if [[ "$role" != master ]]; then
        echo "bench: $c: the write succeeded but the replica's role is $role" >&2
        return
    fi
    FO=$out
}

echo "==> failover: 3 masters + 3 replicas, cluster-node-timeout $NODE_TIMEOUT, $RUNS runs" >&2
declare -A TIMES=()
for ((run = 1; run <= RUNS; run++)); do
    # Alternating server by server so that outside load hits both alike.
    for name in slotkv redis; do
        c="fo-$name-$run"
        start_nodes "$c" "$(binary "$name")" 6 --cluster-node-timeout "$NODE_TIMEOUT"
        create_cluster "$c" 1
        wait_for "$CLUSTER_TIMEOUT_S" all_ok "$c" || { echo "bench: $c not ok" >&2; exit 1; }
        wait_for "$CLUSTER_TIMEOUT_S" replicas_known "$c" 3 || { echo "bench: $c: replicas not known everywhere" >&2; exit 1; }
        wait_for "$CLUSTER_TIMEOUT_S" replicas_synced "$c" || { echo "bench: $c: replicas not synced" >&2; exit 1; }
        failover_once "$c"
        echo "    run $run $name: $FO ms" >&2
        TIMES[$name]+=" $FO"
        stop_cluster "$c"
    done
done
say "failover runs (ms): slotkv${TIMES[slotkv]}; redis${TIMES[redis]}"
runs_table "failover: SIGKILL of a master until the first write on its promoted replica, $RUNS runs" \
    "failover time (ms)" "${TIMES[slotkv]}" "${TIMES[redis]}"
say "target (issue 5): under cluster-node-timeout + 500 ms = $((NODE_TIMEOUT + 500)) ms"
say
say "saved: $OUT"
