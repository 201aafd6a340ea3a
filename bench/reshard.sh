#!/usr/bin/env bash
# Resharding time (issue 6): move slots with their keys between two masters, with
# redis-cli --cluster reshard and with slotkv-cli --cluster reshard, for a slotkv cluster
# and a redis cluster.
#
#   bench/reshard.sh                      # build slotkv-server and slotkv-cli (release), compare
#   KEYS=20000 bench/reshard.sh           # smoke run, well under a minute
#
# Environment (and those of bench/lib.sh):
#   KEYS               keys loaded before resharding (default 1000000)
#   SLOTS              slots moved by each reshard (default 4096)
#   PIPELINE           --cluster-pipeline: keys per MIGRATE (default 10, as redis-cli)
#   RESHARD_TIMEOUT_S  give up on one reshard after this long (default 1800)
#
# Layout: two masters A and B, no replicas; A takes all 16384 slots (CLUSTER
# ADDSLOTSRANGE) and B joins with CLUSTER MEET. Owning every slot, A can be loaded with
# DEBUG POPULATE ($KEYS keys "key:<n>"). Then, on each cluster in turn:
#   1. redis-cli  --cluster reshard --cluster-from A --cluster-to B --cluster-slots $SLOTS
#   2. slotkv-cli --cluster reshard, the same command, moving the next $SLOTS slots of A
# Both move the same share of the keys. After each, the keys on A and on B (DBSIZE) must be
# exactly those whose slots each owns (computed here with CRC16), and the cluster ok.
set -euo pipefail

KEYS=${KEYS:-1000000}
SLOTS=${SLOTS:-4096}
PIPELINE=${PIPELINE:-10}
RESHARD_TIMEOUT_S=${RESHARD_TIMEOUT_S:-1800}
CLUSTER_TIMEOUT_S=60

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
bench_init server cli
say_setup
say

# known_nodes CLUSTER COUNT: every node of it knows COUNT nodes.
known_nodes() {
    local name
    for name in ${CLUSTER[$1]}; do
        [[ "$(redis-cli -p "${PORT[$name]}" cluster info | tr -d '\r' | grep '^cluster_known_nodes:')" == "cluster_known_nodes:$2" ]] || return 1
    done
}

# two_masters CLUSTER BINARY: A (CLUSTER-1) with all slots and $KEYS keys, B (CLUSTER-2) empty.
two_masters() {
    local c=$1 a b reply
    start_nodes "$c" "$2" 2
    a=${PORT[$c-1]} b=${PORT[$c-2]}
    [[ "$(redis-cli -p "$a" cluster addslotsrange 0 16383)" == OK ]] || { echo "bench: $c: ADDSLOTSRANGE failed" >&2; exit 1; }
    [[ "$(redis-cli -p "$a" cluster meet 127.0.0.1 "$b")" == OK ]] || { echo "bench: $c: MEET failed" >&2; exit 1; }
    wait_for "$CLUSTER_TIMEOUT_S" known_nodes "$c" 2 || { echo "bench: $c: nodes did not meet" >&2; exit 1; }
    wait_for "$CLUSTER_TIMEOUT_S" all_ok "$c" || { echo "bench: $c not ok" >&2; exit 1; }
    reply=$(redis-cli -p "$a" debug populate "$KEYS")
    [[ "$reply" == OK ]] || { echo "bench: $c: DEBUG POPULATE: $reply" >&2; exit 1; }
    [[ "$(redis-cli -p "$a" dbsize)" == "$KEYS" ]] || { echo "bench: $c: DBSIZE is not $KEYS" >&2; exit 1; }
}

# reshard CLUSTER CLI: moves $SLOTS slots from A to B with CLI; prints seconds, "timeout"
# or "failed".
reshard() {
    local c=$1 cli=$2 from to t0 rc=0
    from=$(redis-cli -p "${PORT[$c-1]}" cluster myid)
    to=$(redis-cli -p "${PORT[$c-2]}" cluster myid)
    t0=$(now_us)
    in_background timeout "$RESHARD_TIMEOUT_S" "$cli" --cluster reshard "127.0.0.1:${PORT[$c-1]}" \
        --cluster-from "$from" --cluster-to "$to" --cluster-slots "$SLOTS" \
        --cluster-pipeline "$PIPELINE" --cluster-yes >>"$WORK/$c-reshard.log" 2>&1 || rc=$?
    case $rc in
        0) seconds "$t0" "$(now_us)" ;;
        124) echo timeout ;;
        *) echo failed ;;
    esac
}

# verify CLUSTER: each master holds exactly the keys of its slots; prints a summary.
verify() {
    local c=$1 name id counts ok=1 summary=
    wait_for "$CLUSTER_TIMEOUT_S" all_ok "$c" || { ok=0; summary+=" cluster_state not ok;"; }
    counts=$(redis-cli -p "${PORT[$c-1]}" cluster nodes | python3 -c '
import binascii, sys
keys = int(sys.argv[1])
owner = {}
for line in sys.stdin:
    f = line.split()
    for r in f[8:]:
        if not r.startswith("["):
            lo, _, hi = r.partition("-")
            for s in range(int(lo), int(hi or lo) + 1):
                owner[s] = f[0]
count = {}
for i in range(keys):
    # Redis hash slot: CRC16/XMODEM (= crc_hqx from 0) of the key, which has no {tag}.
    o = owner.get(binascii.crc_hqx(b"key:%d" % i, 0) % 16384)
    count[o] = count.get(o, 0) + 1
for o, n in count.items():
    print(o, n)
' "$KEYS")
    for name in $c-1 $c-2; do
        id=$(redis-cli -p "${PORT[$name]}" cluster myid)
        want=$(awk -v id="$id" '$1 == id {print $2}' <<<"$counts")
        have=$(redis-cli -p "${PORT[$name]}" dbsize)
        summary+=" ${name##*-}: ${have} keys (expected ${want:-0})"
        [[ "$have" == "${want:-0}" ]] || ok=0
    done
    if ((ok)); then echo "ok:$summary"; else echo "WRONG:$summary"; fi
}

declare -A T=()
for name in slotkv redis; do
    echo "==> $name: 2 masters, $KEYS keys on A" >&2
    two_masters "rs-$name" "$(binary "$name")"
done
# Alternating server by server so that outside load hits both alike.
for cli in redis-cli slotkv-cli; do
    bin=$(command -v redis-cli)
    [[ $cli == redis-cli ]] || bin=$SLOTKV_CLI
    for name in slotkv redis; do
        echo "==> $name: $cli --cluster reshard $SLOTS slots A -> B" >&2
        T[$name-$cli]=$(reshard "rs-$name" "$bin")
        check=$(verify "rs-$name")
        say "$name cluster after $cli (${T[$name-$cli]} s): $check"
        [[ $check == ok:* ]] || T[$name-$cli]="wrong"
    done
done
for name in slotkv redis; do
    stop_cluster "rs-$name"
done
say
{
    for cli in redis-cli slotkv-cli; do
        printf 'reshard %s slots, %s (s)\t%s\t%s\tlower\n' "$SLOTS" "$cli" "${T[slotkv-$cli]}" "${T[redis-$cli]}"
    done
    # The issue's target: our CLI on our servers against redis-cli on redis-server.
    printf 'reshard %s slots, each own CLI (s)\t%s\t%s\tlower\n' "$SLOTS" "${T[slotkv-slotkv-cli]}" "${T[redis-redis-cli]}"
} | print_table "reshard: 2 masters, $KEYS keys, $SLOTS slots A -> B per run, --cluster-pipeline $PIPELINE"
say "(slotkv-cli moves the next $SLOTS slots of A after redis-cli moved the first; A: 1, B: 2)"
say
say "saved: $OUT"
