#!/usr/bin/env bash
# How long does `depot compact` on a running server make clients wait?
#
# Usage:   bash benches/compact_stall.sh
#          N=100000 bash benches/compact_stall.sh            # smaller database
#          RUNS="compact --allow-pause" bash benches/compact_stall.sh
#
# Builds depot and the probe (examples/compact_stall.rs) in release mode, starts `depot serve`
# on a fresh database in a temporary directory, creates a user and a write token, then the
# probe uploads N small files, deletes DELETE_PCT% of them (spread over every package) and,
# for each command in RUNS, runs `depot --db DB <command>` against the running server while
# two connections keep sending uncached GETs of random files and PUTs of new files. It prints,
# per run, the command's output, how long it took, and the longest GET and PUT a client saw
# while it ran (the stall), next to the longest in the seconds before (the baseline).
# Last, it stops the server (SIGTERM) and runs `depot verify`.
#
# Results go to stdout; progress to stderr. Exit status 0 unless something failed (a probe
# request, the server, verify). A refused compaction is a result, not a failure.
#
# Environment (defaults in brackets):
#   N            small files uploaded [300000]
#   FILE_BYTES   size of each [1024]
#   DELETE_PCT   percentage deleted before compacting [50]
#   CONNS        connections for the upload and delete phases [16]
#   PROBE_SECS   probing before and after each command [2]
#   RUNS         commands, separated by ";" ["compact;compact --allow-pause"]
#   DEPOT_BIN    a depot binary to use instead of building one
#   TMPDIR       where the temporary directory is made (N=300000 needs about 2 GiB)
#   KEEP_TMP=1   keep the temporary directory (database, server log)

set -u -o pipefail

export N=${N:-300000} FILE_BYTES=${FILE_BYTES:-1024} DELETE_PCT=${DELETE_PCT:-50}
export CONNS=${CONNS:-16} PROBE_SECS=${PROBE_SECS:-2}
export RUNS=${RUNS:-"compact;compact --allow-pause"}
KEEP_TMP=${KEEP_TMP:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf 'compact_stall.sh: %s\n' "$*" >&2; }

if [[ -n "${DEPOT_BIN:-}" ]]; then
    log "building the probe (release); depot is $DEPOT_BIN"
    (cd "$ROOT" && cargo build --release --quiet --example compact_stall) || { log "build failed"; exit 1; }
    DEPOT=$(cd "$(dirname "$DEPOT_BIN")" && pwd)/$(basename "$DEPOT_BIN")
else
    log "building depot and the probe (release)"
    (cd "$ROOT" && cargo build --release --quiet --bin depot --example compact_stall) || { log "build failed"; exit 1; }
    DEPOT="$ROOT/target/release/depot"
fi
PROBE="$ROOT/target/release/examples/compact_stall"

source "$ROOT/benches/server.sh"
start_fresh_depot bench depot-compact
echo "# machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"

"$PROBE" "http://$ADDR" bench "$TOKEN" "$DEPOT" "$DB"
status=$?

stop_and_verify_depot || status=1
echo "# machine: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
exit "$status"
