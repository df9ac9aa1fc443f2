#!/bin/sh
# Run `aggregator fetch` against the shared feed farm, side by side with the peers.
#
#   sh bench/run_peers.sh [peers.py options...]
#   e.g. sh bench/run_peers.sh --n 200 1000 --reps 3
#        sh bench/run_peers.sh --n 1000 --latency-ms 50 --phases cold,warm --peers ''
#
# cold = first run (empty store), warm/warm2 = re-runs right after: sources are not due yet, so
# they use `fetch --force` (every source is fetched, all 304). Set-up (untimed) writes the config;
# the count is the number of stored items (one row per (source, key)), compared with the farm's
# items_total in manifest.json.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=${BENCH:-$HERE/../../shared/bench}
cd "$BENCH"
exec python3 peers.py \
    --ours "aggregator --config {state}/config.yaml -q fetch --force" \
    --setup "ours=python3 $HERE/mkconfig.py {urls} {state}/config.yaml" \
    --count "ours=python3 $HERE/count.py {state}/config.yaml" \
    "$@"
