#!/bin/sh
# Run `aggregator fetch` against the shared feed farm, side by side with the peers.
#
#   sh bench/run_peers.sh [peers.py options...]
#   e.g. sh bench/run_peers.sh --n 200 1000 --reps 3
#        sh bench/run_peers.sh --n 1000 --latency-ms 50 --phases cold,warm --peers ''
#
# cold = first run (empty store), warm/warm2 = re-runs right after: sources are not due yet, so
# they use `fetch --force` (every source is fetched, all 304). Set-up (untimed) writes the config;
# byte-code is compiled in the set-up, as `pip install` does (peers.py sets PYTHONDONTWRITEBYTECODE);
# the count is the number of stored items (one row per (source, key)), compared with the farm's
# items_total in manifest.json.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=${BENCH:-$HERE/../../shared/bench}
# AGG_SRC: the folder holding the `aggregator` package to measure (default: this checkout; point
# it at a copy to freeze the code during a long run). AGG_WORKERS / AGG_PER_HOST: fetch.workers /
# fetch.per_host written into the config (default: unset, i.e. the aggregator's defaults).
SRC=$(cd "${AGG_SRC:-$HERE/..}" && pwd)
FETCH_OPTS="${AGG_WORKERS:+--workers $AGG_WORKERS} ${AGG_PER_HOST:+--per-host $AGG_PER_HOST}"
# the interpreter itself, not a pyenv shim (a shim is a shell script: ~0.1 s per start)
PY=$(python3 -c 'import sys; print(sys.executable)')
cd "$BENCH"
exec python3 peers.py \
    --ours "PYTHONPATH=$SRC $PY -m aggregator --config {state}/config.yaml -q fetch --force" \
    --setup "ours=$PY -m compileall -q $SRC/aggregator >/dev/null; $PY $HERE/mkconfig.py {urls} {state}/config.yaml $FETCH_OPTS" \
    --count "ours=PYTHONPATH=$SRC $PY $HERE/count.py {state}/config.yaml" \
    "$@"
