#!/usr/bin/env bash
# Persistence and replication figures (issue 3): slotkv-server against redis-server.
#
#   bench/persistence.sh                          # build slotkv-server (release) and compare
#   KEYS=20000 N=20000 bench/persistence.sh       # smoke run, well under a minute
#
# Environment (and those of bench/lib.sh):
#   N           requests per redis-benchmark run for the AOF part (default 200000)
#   CLIENTS     parallel connections (default 50)
#   PIPELINES   pipeline depths for the AOF part (default "1 16")
#   ROUNDS      runs of each AOF test per server; the table shows the best (default 1)
#   KEYS        keys for the RDB and full-sync parts (default 1000000; DEBUG POPULATE)
#   VALUE_SIZE  value size for DEBUG POPULATE (default: none, values are "value:<n>")
#   SYNC_ARGS   extra flags for the master of the full-sync part (default
#               "--repl-diskless-sync-delay 0": redis 7.0 otherwise waits 5 s for more
#               replicas before a diskless transfer)
#   SYNC_TIMEOUT_S  how long a full sync may take (default 300)
#   PARTS       which parts to run (default "aof rdb sync")
set -euo pipefail

N=${N:-200000}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-1 16}
ROUNDS=${ROUNDS:-1}
KEYS=${KEYS:-1000000}
VALUE_SIZE=${VALUE_SIZE:-}
SYNC_ARGS=${SYNC_ARGS:---repl-diskless-sync-delay 0}
SYNC_TIMEOUT_S=${SYNC_TIMEOUT_S:-300}
PARTS=${PARTS:-aof rdb sync}

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_init server
say_setup
say

# populate PORT: DEBUG POPULATE $KEYS [key $VALUE_SIZE] and a check of DBSIZE.
populate() {
    local reply dbsize
    # shellcheck disable=SC2086 # VALUE_SIZE is empty or one number
    reply=$(redis-cli -p "$1" debug populate "$KEYS" ${VALUE_SIZE:+key $VALUE_SIZE})
    [[ "$reply" == OK ]] || { echo "bench: DEBUG POPULATE on port $1: $reply" >&2; exit 1; }
    dbsize=$(redis-cli -p "$1" dbsize)
    [[ "$dbsize" == "$KEYS" ]] || { echo "bench: port $1 has $dbsize keys, expected $KEYS" >&2; exit 1; }
}

# ---- (a) SET throughput with appendonly yes, appendfsync everysec -------------------------
if [[ " $PARTS " == *" aof "* ]]; then
    echo "==> AOF everysec: redis-benchmark -t set -c $CLIENTS -n $N -P {$PIPELINES}" >&2
    for name in slotkv redis; do
        start_server "aof-$name" "$(binary "$name")" --appendonly yes --appendfsync everysec
    done
    declare -A BEST=()
    # Alternating server by server so that outside load hits both alike.
    for p in $PIPELINES; do
        for ((round = 1; round <= ROUNDS; round++)); do
            for name in slotkv redis; do
                rps=$(bench_rps "${PORT[aof-$name]}" -t set -c "$CLIENTS" -n "$N" -P "$p" | awk '$1 == "SET" {print $2}')
                key="$name-$p"
                BEST[$key]=$(best_of "$rps" "${BEST[$key]:-}")
            done
        done
    done
    for name in slotkv redis; do
        [[ "$(info_field "${PORT[aof-$name]}" persistence aof_enabled)" == 1 ]] ||
            { echo "bench: aof-$name does not report aof_enabled:1" >&2; exit 1; }
        stop_server "aof-$name"
    done
    for p in $PIPELINES; do
        printf 'SET rps, appendfsync everysec, -P %s\t%.0f\t%.0f\thigher\n' "$p" "${BEST[slotkv-$p]}" "${BEST[redis-$p]}"
    done | print_table "AOF (appendonly yes, appendfsync everysec), -c $CLIENTS -n $N, best of $ROUNDS"
    say
fi

# ---- (b) RDB: SAVE time, file size, load time at start-up ---------------------------------
if [[ " $PARTS " == *" rdb "* ]]; then
    echo "==> RDB: DEBUG POPULATE $KEYS, SAVE, restart" >&2
    declare -A SAVE_S=() SIZE=() LOAD_S=()
    for name in slotkv redis; do
        node="rdb-$name"
        start_server "$node" "$(binary "$name")"
        populate "${PORT[$node]}"
        t0=$(now_us)
        reply=$(redis-cli -p "${PORT[$node]}" save)
        t1=$(now_us)
        [[ "$reply" == OK ]] || { echo "bench: SAVE on $name: $reply" >&2; exit 1; }
        SAVE_S[$name]=$(seconds "$t0" "$t1")
        SIZE[$name]=$(stat -c %s "$WORK/$node/dump.rdb")
        stop_server "$node"
        # Same dir, so the server finds dump.rdb; start_server returns once PING answers
        # and INFO says loading:0.
        start_server "$node" "$(binary "$name")"
        LOAD_S[$name]=$(seconds "${START_US[$node]}" "$(now_us)")
        dbsize=$(redis-cli -p "${PORT[$node]}" dbsize)
        [[ "$dbsize" == "$KEYS" ]] || { echo "bench: $name loaded $dbsize keys, expected $KEYS" >&2; exit 1; }
        stop_server "$node"
    done
    {
        printf 'SAVE time (s)\t%s\t%s\tlower\n' "${SAVE_S[slotkv]}" "${SAVE_S[redis]}"
        printf 'dump.rdb size (MB)\t%.2f\t%.2f\tlower\n' "$((SIZE[slotkv]))e-6" "$((SIZE[redis]))e-6"
        printf 'start until loaded (s)\t%s\t%s\tlower\n' "${LOAD_S[slotkv]}" "${LOAD_S[redis]}"
    } | print_table "RDB: $KEYS keys (DEBUG POPULATE${VALUE_SIZE:+, $VALUE_SIZE-byte values}), rdbcompression yes"
    say "(start until loaded: process start until PING answers PONG and INFO says loading:0, polled every 10 ms)"
    say
fi

# ---- (c) full sync of a new replica -------------------------------------------------------
if [[ " $PARTS " == *" sync "* ]]; then
    echo "==> full sync: master with $KEYS keys, new replica" >&2
    declare -A SYNC_S=()
    synced() {
        [[ "$(info_field "$1" replication master_link_status)" == up &&
            "$(info_field "$1" replication master_sync_in_progress)" == 0 ]]
    }
    for name in slotkv redis; do
        # shellcheck disable=SC2086 # SYNC_ARGS is a list of flags
        start_server "master-$name" "$(binary "$name")" $SYNC_ARGS
        populate "${PORT[master-$name]}"
        start_server "replica-$name" "$(binary "$name")" --replicaof 127.0.0.1 "${PORT[master-$name]}"
        port=${PORT[replica-$name]}
        if wait_for "$SYNC_TIMEOUT_S" synced "$port"; then
            SYNC_S[$name]=$(seconds "${START_US[replica-$name]}" "$(now_us)")
            dbsize=$(redis-cli -p "$port" dbsize)
            [[ "$dbsize" == "$KEYS" ]] || { echo "bench: $name replica has $dbsize keys, expected $KEYS" >&2; exit 1; }
        else
            SYNC_S[$name]=timeout
        fi
        stop_server "replica-$name"
        stop_server "master-$name"
    done
    printf 'replica start until synced (s)\t%s\t%s\tlower\n' "${SYNC_S[slotkv]}" "${SYNC_S[redis]}" |
        print_table "full sync: master with $KEYS keys, replica started with --replicaof; master flags: ${SYNC_ARGS:-none}"
    say "(synced: master_link_status:up and master_sync_in_progress:0 on the replica, polled every 10 ms;"
    say " slotkv always sends a snapshot file written by a forked child, redis 7.0 by default streams it diskless)"
    say
fi
say "saved: $OUT"
