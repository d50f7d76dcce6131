#!/usr/bin/env bash
# Webhook delivery latency: from a publish's 201 to the receiver having its event, under a
# burst of publishes, and what a receiver outage in the middle of the burst does to it.
#
# Usage:   bash benches/webhook_latency.sh
#          N=100 OUTAGE_SECS=5 bash benches/webhook_latency.sh     # a quick check
#
# Builds depot and the probe (examples/webhook_latency.rs) in release mode, starts `depot
# serve --webhook-allow-private` (the receiver is on loopback) on a fresh database in a
# temporary directory, creates a user and a write token, then the probe registers its own
# receiver as a hook and runs: a burst of N publishes; the same burst with the receiver
# answering 503 for OUTAGE_SECS from the moment half of the publishes were acknowledged.
# Per run it prints the publish rate, the latency percentiles (201 → receiver), how long
# until every event was in, duplicates and events never received. Last, it stops the server
# (SIGTERM) and runs `depot verify`.
#
# Environment (defaults in brackets):
#   N            publishes per run [1000]
#   CONNS        publishing connections [16]
#   OUTAGE_SECS  receiver outage of the second run; 0 skips that run [30]
#   DEPOT_BIN    a depot binary to use instead of building one
#   KEEP_TMP=1   keep the temporary directory (database, server log)

set -u -o pipefail

export N=${N:-1000} CONNS=${CONNS:-16} OUTAGE_SECS=${OUTAGE_SECS:-30}
KEEP_TMP=${KEEP_TMP:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf 'webhook_latency.sh: %s\n' "$*" >&2; }

if [[ -n "${DEPOT_BIN:-}" ]]; then
    log "building the probe (release); depot is $DEPOT_BIN"
    (cd "$ROOT" && cargo build --release --quiet --example webhook_latency) || { log "build failed"; exit 1; }
    DEPOT=$(cd "$(dirname "$DEPOT_BIN")" && pwd)/$(basename "$DEPOT_BIN")
else
    log "building depot and the probe (release)"
    (cd "$ROOT" && cargo build --release --quiet --bin depot --example webhook_latency) || { log "build failed"; exit 1; }
    DEPOT="$ROOT/target/release/depot"
fi
PROBE="$ROOT/target/release/examples/webhook_latency"

export DEPOT_WEBHOOK_ALLOW_PRIVATE=1
source "$ROOT/benches/server.sh"
start_fresh_depot bench depot-webhooks
echo "# machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo "# N=$N CONNS=$CONNS OUTAGE_SECS=$OUTAGE_SECS"

"$PROBE" "http://$ADDR" bench "$TOKEN"
status=$?

stop_and_verify_depot || status=1
echo "# machine: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
exit "$status"
