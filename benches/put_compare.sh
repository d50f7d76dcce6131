#!/usr/bin/env bash
# Durable 4 KiB PUT rate of several depot builds, measured alternately in one invocation, so
# a change to the upload path can be judged against a reference build on the same machine
# state (wrk -t2 -c32, every request a new file of one version, with a write token: the
# PUT load of bench.sh; CONNS=8 for fewer clients).
#
# Usage:   bash benches/put_compare.sh REFERENCE_BINARY OTHER_BINARY...
#          ROUNDS=5 DURATION=10 bash benches/put_compare.sh old/depot target/release/depot
# Prints each round's rate per binary, with what each commit and file cost (uploads per
# durable commit from /metrics, the writer thread's page writes per commit, bytes written and
# CPU time per file from /proc; "-" where a build lacks the metric), then per binary the median rate,
# the spread and the median's ratio to the first (the reference). Needs wrk. Run it on a quiet machine.
set -u -o pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
(($# >= 2)) || { echo "usage: $0 REFERENCE_BINARY OTHER_BINARY..." >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
KEEP_TMP=0
log() { echo "[put_compare] $*" >&2; }
source benches/server.sh

lua=benches/put.lua

# writer_io: "<write syscalls> <bytes written> <ns on CPU>" of the server's writer thread so far.
writer_io() {
    local t cpu
    for t in /proc/"$PID"/task/*; do
        [[ $(cat "$t/comm" 2>/dev/null) == depot-writer ]] || continue
        cpu=$(awk '{ print $1 }' "$t/schedstat" 2>/dev/null)
        awk -v cpu="${cpu:--}" '/^syscw:/ { n = $2 } /^wchar:/ { b = $2 }
            END { if (n == "") print "- -", cpu; else print n, b, cpu }' "$t/io" 2>/dev/null \
            || echo "- - -"
        return
    done
    echo "- - -"
}

# commit_counts: "<durable commits> <jobs they carried>" from /metrics ("- -" for a build
# without those counters).
commit_counts() {
    curl -s "http://$ADDR/metrics" | awk '
        /^depot_store_commits_total\{durable="true"\} / { c = $2 }
        /^depot_store_commit_jobs_total / { j = $2 }
        END { if (c == "") print "- -"; else print c, j }'
}

# one_run BINARY: "<req/s> <files per commit> <writes per commit> <KiB written per file>
# <writer CPU us per file> <p99 latency>" for BINARY on a fresh database: how many uploads shared an fsync,
# and what each cost the disk (the writer thread's write syscalls, a database page each, and
# bytes, from /proc) and the writer thread's CPU (schedstat).
one_run() (
    DEPOT=$1
    start_fresh_depot bench depot-put
    sync
    read -r w0 b0 u0 < <(writer_io)
    read -r c0 j0 < <(commit_counts)
    out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$lua" "http://$ADDR/" -- "/api/packages/bench/generic/p/1/put-" "token $TOKEN")
    read -r w1 b1 u1 < <(writer_io)
    read -r c1 j1 < <(commit_counts)
    awk -v w0="$w0" -v w1="$w1" -v b0="$b0" -v b1="$b1" -v c0="$c0" -v c1="$c1" -v j0="$j0" -v j1="$j1" \
        -v u0="$u0" -v u1="$u1" '
        /^Requests\/sec:/ { rate = $2 }
        / requests in / { n = $1 }
        /^ +99% / { p99 = $2 }
        END {
            counted = c0 != "-" && c1 != "-" && c1 != c0
            per = counted ? sprintf("%.1f", (j1 - j0) / (c1 - c0)) : "-"
            wpc = (counted && w0 != "-" && w1 != "-") ? sprintf("%.1f", (w1 - w0) / (c1 - c0)) : "-"
            kib = (w0 != "-" && w1 != "-" && n > 0) ? sprintf("%.1f", (b1 - b0) / n / 1024) : "-"
            us = (u0 != "-" && u1 != "-" && n > 0) ? sprintf("%.1f", (u1 - u0) / n / 1000) : "-"
            print rate, per, wpc, kib, us, p99
        }' <<< "$out"
)

declare -A rates
for ((r = 1; r <= ROUNDS; r++)); do
    for bin in "$@"; do
        read -r rate per wpc kib us p99 < <(one_run "$bin")
        [[ -n ${rate:-} ]] || { echo "no rate from $bin" >&2; exit 1; }
        echo "round $r  $bin  $rate req/s (p99 $p99), $per files per durable commit, $wpc page writes per durable commit, $kib KiB written per file, $us us of writer CPU per file"
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
