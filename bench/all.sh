#!/usr/bin/env bash
# Runs the benchmark scripts one after the other with one build of slotkv-server and
# slotkv-cli.
#
#   bench/all.sh                          # everything at full size (long: tens of minutes)
#   SMOKE=1 bench/all.sh                  # small sizes: checks the scripts in a few minutes
#   SCRIPTS="failover reshard" bench/all.sh
#
# Environment: SCRIPTS (default "run persistence cluster failover reshard bigkey"), SMOKE=1, and
# every knob of the scripts themselves (they are passed through). Each script saves its
# own results file under bench/results/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRIPTS=${SCRIPTS:-run persistence cluster failover reshard bigkey}

if [[ -n "${SMOKE:-}" ]]; then
    export N=${N:-20000} KEYS=${KEYS:-20000} MEM_KEYS=${MEM_KEYS:-20000} RUNS=${RUNS:-1} SLOTS=${SLOTS:-512} FIELDS=${FIELDS:-100000} ROUNDS=${ROUNDS:-1}
fi

if [[ -z "${SLOTKV_SERVER_BIN:-}" || -z "${SLOTKV_CLI_BIN:-}" ]]; then
    echo "==> cargo build --release --bin slotkv-server --bin slotkv-cli" >&2
    (cd "$ROOT" && cargo build --release --quiet --bin slotkv-server --bin slotkv-cli)
    target=${CARGO_TARGET_DIR:-$ROOT/target}/release
    export SLOTKV_SERVER_BIN=${SLOTKV_SERVER_BIN:-$target/slotkv-server}
    export SLOTKV_CLI_BIN=${SLOTKV_CLI_BIN:-$target/slotkv-cli}
fi

failed=()
for script in $SCRIPTS; do
    echo
    echo "######## bench/$script.sh"
    "$ROOT/bench/$script.sh" || failed+=("$script")
done
if ((${#failed[@]})); then
    echo "bench: failed: ${failed[*]}" >&2
    exit 1
fi
