#!/usr/bin/env bash
# depot soak test: hours-long behaviour in minutes.
#
# Usage:   bash benches/soak.sh
#          DURATION=60 CONNS=50 bash benches/soak.sh      # quick run
#
# Builds depot and the load generator (examples/soak.rs) in release mode, starts
# `depot serve` on a fresh database in a temporary directory, creates a user and a write token
# through the CLI, and runs the generator: CONNS keep-alive connections mixing downloads, HEAD,
# listings, GOPROXY reads, uploads and deletes for DURATION seconds. It prints total requests,
# errors (with samples), the request rate, latency percentiles overall and per kind, and the
# server's VmRSS over time with a flat/not-flat verdict. Then it stops the server with SIGTERM
# (expecting exit 0) and runs `depot verify` on the database.
#
# Results go to stdout; progress to stderr. Exit status 0 only when the generator saw no error,
# memory stayed flat, the server stopped cleanly and verify passed.
#
# Environment (defaults in brackets):
#   DURATION     seconds of load [300]
#   CONNS        concurrent connections [200]
#   SAMPLE_SECS  memory sample interval [5]
#   SEED         the generator's choices [from the clock]
#   TMPDIR       where the temporary directory is made
#   KEEP_TMP=1   keep the temporary directory (database, server log)

set -u -o pipefail

export DURATION=${DURATION:-300}
export CONNS=${CONNS:-200}
export SAMPLE_SECS=${SAMPLE_SECS:-5}
KEEP_TMP=${KEEP_TMP:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf 'soak.sh: %s\n' "$*" >&2; }

log "building depot and the generator (release)"
(cd "$ROOT" && cargo build --release --quiet --bin depot --example soak) || { log "build failed"; exit 1; }
DEPOT="$ROOT/target/release/depot"
SOAK="$ROOT/target/release/examples/soak"

source "$ROOT/benches/server.sh"
start_fresh_depot soak depot-soak

"$SOAK" "http://$ADDR" soak "$TOKEN" "$PID"
status=$?

log "stopping depot (SIGTERM)"
kill -TERM "$PID"
wait "$PID"
code=$?
PID=""
if ((code != 0)); then
    log "depot exited with status $code after SIGTERM"
    status=1
fi
if grep -aqi 'panick' "$T/server.log"; then
    log "depot logged a panic: $(grep -ai -m 1 'panick' "$T/server.log" | cut -c1-300)"
    status=1
fi
verify=$("$DEPOT" --db "$DB" verify 2>&1) || { log "verify failed: $verify"; status=1; }
echo "verify               $(tail -n 1 <<< "$verify")"
echo "database file        $(du -k "$DB" | awk '{ printf "%.1f MiB", $1 / 1024 }'), server log $(wc -l < "$T/server.log") lines"
exit "$status"
