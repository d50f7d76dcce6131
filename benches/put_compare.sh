#!/usr/bin/env bash
# Durable 4 KiB PUT rate of several depot builds, measured alternately in one invocation, so
# a change to the upload path can be judged against a reference build on the same machine
# state (wrk -t2 -c32, every request a new file of one version, with a write token: the
# PUT load of bench.sh).
#
# Usage:   bash benches/put_compare.sh REFERENCE_BINARY OTHER_BINARY...
#          ROUNDS=5 DURATION=10 bash benches/put_compare.sh old/depot target/release/depot
# Prints each round's rate per binary, then per binary the median, the spread and the
# median's ratio to the first (the reference). Needs wrk. Run it on a quiet machine.
set -u -o pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
(($# >= 2)) || { echo "usage: $0 REFERENCE_BINARY OTHER_BINARY..." >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
KEEP_TMP=0
log() { echo "[put_compare] $*" >&2; }
source benches/server.sh

lua=benches/put.lua

# one_run BINARY: the PUT rate of BINARY on a fresh database, in req/s.
one_run() (
    DEPOT=$1
    start_fresh_depot bench depot-put
    sync
    wrk -t2 -c32 -d"${DURATION}s" -s "$lua" "http://$ADDR/" -- "/api/packages/bench/generic/p/1/put-" "token $TOKEN" \
        | awk '/^Requests\/sec:/ { print $2 }'
)

declare -A rates
for ((r = 1; r <= ROUNDS; r++)); do
    for bin in "$@"; do
        rate=$(one_run "$bin")
        [[ -n $rate ]] || { echo "no rate from $bin" >&2; exit 1; }
        echo "round $r  $bin  $rate req/s"
        rates[$bin]="${rates[$bin]:-} $rate"
    done
done
ref=""
for bin in "$@"; do
    read -r med lo hi < <(tr ' ' '\n' <<< "${rates[$bin]}" | sed '/^$/d' | sort -g \
        | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)], v[1], v[NR] }')
    [[ -n $ref ]] || ref=$med
    printf '%-50s median %8.1f req/s (%s .. %s)  %.2fx of the reference\n' "$bin" "$med" "$lo" "$hi" \
        "$(awk -v a="$med" -v b="$ref" 'BEGIN { print a / b }')"
done
