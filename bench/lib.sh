# shellcheck shell=bash
# Shared helpers for the bench/*.sh scripts: binaries, servers and clusters on free
# loopback ports, bounded waits, timing, result tables. Sourced, not run.
#
# A script sets its knobs, sources this file, then calls `bench_init server` or
# `bench_init server cli` (checks tools, finds or builds the binaries, makes the work dir,
# installs the cleanup traps and opens the results file). Every server started with
# `start_server` is stopped on exit, also on Ctrl-C or SIGTERM.
#
# Environment understood here:
#   SLOTKV_SERVER_BIN  use this binary instead of building slotkv-server
#   SLOTKV_CLI_BIN     use this binary instead of building slotkv-cli
#   REDIS_SERVER_BIN   reference server (default: redis-server on PATH)
#   START_TIMEOUT_S    how long a server may take to answer PING (default 120: includes
#                      loading an RDB file)
#   KEEP=1             keep the work dir (server logs, raw output)

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
START_TIMEOUT_S=${START_TIMEOUT_S:-120}

# Read by the scripts that source this file.
# shellcheck disable=SC2034
declare -A PID=() PORT=() START_US=()
BENCH_PID=
WORK=
OUT=

# bench_init server [cli]: tools, binaries (slotkv-server, and slotkv-cli with "cli"), work
# dir, traps, $OUT.
bench_init() {
    local tool
    for tool in redis-cli redis-benchmark python3; do
        command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install redis-tools)" >&2; exit 1; }
    done
    REDIS_BIN=${REDIS_SERVER_BIN:-$(command -v redis-server || true)}
    [[ -x "$REDIS_BIN" ]] || { echo "bench: redis-server not found (apt-get install redis-server)" >&2; exit 1; }

    local target=${CARGO_TARGET_DIR:-$BENCH_ROOT/target}/release
    local build=()
    [[ -n "${SLOTKV_SERVER_BIN:-}" ]] || build+=(--bin slotkv-server)
    [[ "${2:-}" != cli || -n "${SLOTKV_CLI_BIN:-}" ]] || build+=(--bin slotkv-cli)
    if ((${#build[@]})); then
        echo "==> cargo build --release ${build[*]}" >&2
        (cd "$BENCH_ROOT" && cargo build --release --quiet "${build[@]}")
    fi
    SLOTKV_BIN=${SLOTKV_SERVER_BIN:-$target/slotkv-server}
    SLOTKV_CLI=${SLOTKV_CLI_BIN:-$target/slotkv-cli}
    [[ -x "$SLOTKV_BIN" ]] || { echo "bench: $SLOTKV_BIN is not executable" >&2; exit 1; }
    [[ "${2:-}" != cli || -x "$SLOTKV_CLI" ]] || { echo "bench: $SLOTKV_CLI is not executable" >&2; exit 1; }

    WORK=$(mktemp -d -t slotkv-bench-XXXXXX)
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    local results="$BENCH_ROOT/bench/results"
    mkdir -p "$results"
    OUT="$results/$(basename "$0" .sh)-$(date -u +%Y%m%dT%H%M%SZ).txt"
}

bench_cleanup() {
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

# say TEXT...: prints a line and appends it to the results file.
say() { echo "$*" | tee -a "$OUT"; }

# Header lines every result file starts with.
say_setup() {
    say "slotkv: $SLOTKV_BIN ($(cd "$BENCH_ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?'))"
    say "redis:  $REDIS_BIN ($("$REDIS_BIN" --version | awk '{print $3}'))"
    say "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (numbers mean little above ~0.5)"
}

# A port on 127.0.0.1 that was free a moment ago; with "cluster", one whose bus port
# (+10000) was free too.
free_port() {
    python3 - "${1:-}" <<'PY'
import socket, sys
cluster = sys.argv[1] == "cluster"
while True:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    if not cluster:
        break
    if port + 10000 > 65535:
        continue
    try:
        b = socket.socket()
        b.bind(("127.0.0.1", port + 10000))
        b.close()
        break
    except OSError:
        pass
print(port)
PY
}

# now_us: wall clock in microseconds.
now_us() { echo "${EPOCHREALTIME/[.,]/}"; }

# wait_for SECONDS COMMAND...: polls COMMAND every 10 ms until it succeeds or time is up.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.01
    done
}

answers_ping() { [[ "$(redis-cli -p "$1" ping 2>/dev/null)" == PONG ]]; }

# info_field PORT SECTION FIELD: one field of INFO SECTION.
info_field() { redis-cli -p "$1" info "$2" 2>/dev/null | tr -d '\r' | awk -F: -v f="$3" '$1 == f {print $2}'; }

# server_up NAME: alive, answering PING and not loading (fails fast if it died).
server_up() {
    kill -0 "${PID[$1]}" 2>/dev/null || return 1
    answers_ping "${PORT[$1]}" && [[ "$(info_field "${PORT[$1]}" persistence loading)" == 0 ]]
}

# start_server NAME BINARY [ARGS...]: starts BINARY in $WORK/NAME (kept between starts of
# the same NAME) on a free port, with no persistence and DEBUG enabled unless ARGS say
# otherwise, and waits until it answers PING and is not loading. Sets PID[NAME],
# PORT[NAME] and START_US[NAME] (just before the process started). With
# CLUSTER_PORT=1 in the environment the bus port is free too.
start_server() {
    local name=$1 bin=$2 port dir
    shift 2
    dir="$WORK/$name"
    mkdir -p "$dir"
    for _ in 1 2 3; do
        port=$(free_port "${CLUSTER_PORT:+cluster}")
        # shellcheck disable=SC2034 # read by the scripts
        START_US[$name]=$(now_us)
        (cd "$dir" && exec "$bin" --port "$port" --save "" --appendonly no \
            --enable-debug-command yes "$@" >>"$dir/server.log" 2>&1) &
        PID[$name]=$!
        PORT[$name]=$port
        if wait_for "$START_TIMEOUT_S" server_up "$name"; then
            return 0
        fi
        if grep -qi "already in use" "$dir/server.log"; then
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

# kill_server NAME: SIGKILL, reaped at once (so bash prints no "Killed" line).
kill_server() {
    local pid=${PID[$1]}
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    unset "PID[$1]"
}

# in_background COMMAND...: runs COMMAND in the background and waits for it, so that the
# INT/TERM traps run at once instead of after it finishes.
in_background() {
    local rc=0
    "$@" &
    BENCH_PID=$!
    wait "$BENCH_PID" || rc=$?
    BENCH_PID=
    return "$rc"
}

# bench_rps PORT [redis-benchmark ARGS...]: the rps of each test, "TEST RPS" per line.
bench_rps() {
    local port=$1
    shift
    in_background redis-benchmark -p "$port" -q --csv "$@" >"$WORK/bench.csv"
    python3 - "$WORK/bench.csv" <<'PY'
import csv, sys
# --cluster prints the masters before the CSV header.
lines = open(sys.argv[1]).read().splitlines()
start = next((i for i, l in enumerate(lines) if l.startswith('"test",')), None)
if start is None:
    sys.exit("bench: no CSV from redis-benchmark:\n" + "\n".join(lines[-10:]))
for r in csv.DictReader(lines[start:]):
    if r["test"] != "test":
        print(r["test"].split(" ")[0], r["rps"])
PY
}

# best_of VALUE...: the greatest of the non-empty VALUEs.
best_of() { python3 -c 'import sys; print(max(float(x) for x in sys.argv[1:] if x))' "$@"; }

# ---- clusters -----------------------------------------------------------------------------

declare -A CLUSTER=()

# start_nodes CLUSTER BINARY COUNT [ARGS...]: COUNT cluster-enabled nodes named
# CLUSTER-1..CLUSTER-COUNT, each in its own dir; CLUSTER[CLUSTER] lists their names.
start_nodes() {
    local cluster=$1 bin=$2 count=$3 i
    shift 3
    CLUSTER[$cluster]=
    for ((i = 1; i <= count; i++)); do
        CLUSTER_PORT=1 start_server "$cluster-$i" "$bin" --cluster-enabled yes \
            --cluster-config-file nodes.conf "$@"
        CLUSTER[$cluster]+=" $cluster-$i"
    done
}

# create_cluster CLUSTER REPLICAS: redis-cli --cluster create over its nodes.
create_cluster() {
    local name addrs=()
    for name in ${CLUSTER[$1]}; do
        addrs+=("127.0.0.1:${PORT[$name]}")
    done
    in_background redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$2" \
        --cluster-yes >>"$WORK/$1-create.log" 2>&1 || {
        echo "bench: cluster create for $1 failed:" >&2
        tail -n 20 "$WORK/$1-create.log" >&2
        return 1
    }
}

cluster_ok() { [[ "$(redis-cli -p "$1" cluster info 2>/dev/null | tr -d '\r' | grep '^cluster_state:')" == cluster_state:ok ]]; }

# all_ok CLUSTER: every node of it reports cluster_state:ok.
all_ok() {
    local name
    for name in ${CLUSTER[$1]}; do
        cluster_ok "${PORT[$name]}" || return 1
    done
}

# replicas_synced CLUSTER: every replica of it has its link to the master up.
replicas_synced() {
    local name port
    for name in ${CLUSTER[$1]}; do
        port=${PORT[$name]}
        [[ "$(info_field "$port" replication role)" == master ]] && continue
        [[ "$(info_field "$port" replication master_link_status)" == up ]] || return 1
        [[ "$(info_field "$port" replication master_sync_in_progress)" == 0 ]] || return 1
    done
}

# replicas_known CLUSTER COUNT: every node of it lists COUNT replicas in CLUSTER NODES.
replicas_known() {
    local name
    for name in ${CLUSTER[$1]}; do
        [[ "$(redis-cli -p "${PORT[$name]}" cluster nodes | awk '$3 ~ /slave/ && $4 != "-"' | wc -l)" == "$2" ]] || return 1
    done
}

stop_cluster() {
    local name
    for name in ${CLUSTER[$1]}; do
        stop_server "$name"
    done
    unset "CLUSTER[$1]"
}

# node_name PORT: the name of the started node listening on PORT.
node_name() {
    local name
    for name in "${!PORT[@]}"; do
        [[ "${PORT[$name]}" == "$1" ]] && { echo "$name"; return 0; }
    done
    return 1
}

# binary slotkv|redis: the server binary of that name.
binary() { if [[ $1 == slotkv ]]; then echo "$SLOTKV_BIN"; else echo "$REDIS_BIN"; fi; }

# ---- tables -------------------------------------------------------------------------------

# print_table TITLE: reads rows "metric<TAB>slotkv<TAB>redis<TAB>higher|lower" from stdin
# and prints them with the ratio slotkv/redis and which direction is better; the table
# goes to the results file too. A value that is not a number (timeout, failed) gets no ratio.
print_table() {
    python3 -c '
import sys
title = sys.argv[1]
rows = [l.rstrip("\n").split("\t") for l in sys.stdin if l.strip()]
def num(v):
    try:
        return float(v)
    except ValueError:
        return None
w = max([len("metric")] + [len(r[0]) for r in rows])
fmt = "{:<%d} | {:>12} | {:>12} | {:>6} | {}" % w
print(title)
print(fmt.format("metric", "slotkv", "redis", "ratio", "better"))
for metric, s, r, better in rows:
    a, b = num(s), num(r)
    ratio = f"{a / b:.2f}" if a is not None and b else "-"
    print(fmt.format(metric, s, r, ratio, "higher" if better == "higher" else "lower"))
print("(ratio = slotkv/redis; \"better\" says whether a higher or a lower ratio is better)")
' "$1" | tee -a "$OUT"
}

# runs_table TITLE METRIC SLOTKV_RUNS REDIS_RUNS: median, min and max of each server's runs
# (space-separated numbers; anything else, such as "timeout", is a failed run) as rows of
# print_table, lower is better.
runs_table() {
    python3 - "$2" "$3" "$4" <<'PY' | print_table "$1"
import statistics, sys
metric = sys.argv[1]
def stats(runs):
    xs = runs.split()
    try:
        ok = [float(x) for x in xs]
    except ValueError:
        return [f"{sum(not x.replace('.', '').isdigit() for x in xs)} failed"] * 3
    fmt = "{:.0f}" if all(x.isdigit() for x in xs) else "{:.3f}"
    return [fmt.format(v) for v in (statistics.median(ok), min(ok), max(ok))]
s, r = stats(sys.argv[2]), stats(sys.argv[3])
for i, what in enumerate(("median", "min", "max")):
    print(f"{metric}, {what}\t{s[i]}\t{r[i]}\tlower")
PY
}

# seconds FROM_US TO_US: elapsed time in seconds with 3 decimals.
seconds() { python3 -c "import sys; print(f'{(int(sys.argv[2]) - int(sys.argv[1])) / 1e6:.3f}')" "$1" "$2"; }

# slot_owner PORT SLOT: "<master port> <replica port>..." of SLOT, as the node on PORT sees it.
slot_owner() {
    redis-cli -p "$1" cluster nodes | python3 -c '
import sys
slot = int(sys.argv[1])
nodes = [l.split() for l in sys.stdin if l.strip()]
port = {n[0]: n[1].split("@")[0].rsplit(":", 1)[1] for n in nodes}
for n in nodes:
    for r in n[8:]:
        if r.startswith("["):
            continue  # a slot being migrated or imported
        lo, _, hi = r.partition("-")
        if int(lo) <= slot <= int(hi or lo):
            print(port[n[0]], *[port[m[0]] for m in nodes if m[3] == n[0]])
            sys.exit(0)
sys.exit(f"slot {slot} has no owner")
' "$2"
}
