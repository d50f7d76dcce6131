# Sourced by the benchmark scripts: a depot on a fresh database in a temporary directory.
#
# start_fresh_depot NAME PREFIX starts "$DEPOT" (which the caller sets, as well as `log` and
# KEEP_TMP) on 127.0.0.1 with one user NAME (password "NAME-password") and a write token for
# it, and sets T (the temporary directory), DB, PID, TOKEN and ADDR (host:port). The
# directory is removed and the server killed when the calling script exits (KEEP_TMP=1 keeps
# the directory). It exits the script with a message when anything fails.

start_fresh_depot() {
    local name=$1 prefix=$2
    T=$(mktemp -d "${TMPDIR:-/tmp}/$prefix.XXXXXX")
    DB="$T/depot.redb"
    PID=""
    trap _fresh_depot_cleanup EXIT

    printf '%s-password\n' "$name" | "$DEPOT" --db "$DB" user add "$name" --password-stdin >/dev/null 2>"$T/cli.err" \
        || { log "user add failed: $(cat "$T/cli.err")"; exit 1; }
    TOKEN=$("$DEPOT" --db "$DB" token create "$name" --name "$name" --scope write 2>"$T/cli.err") \
        || { log "token create failed: $(cat "$T/cli.err")"; exit 1; }

    NO_COLOR=1 "$DEPOT" --db "$DB" serve --listen 127.0.0.1:0 >/dev/null 2>"$T/server.log" &
    PID=$!
    ADDR=""
    local i
    for ((i = 0; i < 600; i++)); do
        ADDR=$(grep -ao 'listening on http://[0-9.:]*' "$T/server.log" | head -n 1 | sed 's|.*http://||')
        [[ -n "$ADDR" ]] && break
        kill -0 "$PID" 2>/dev/null || { log "depot exited during start-up: $(tail -n 5 "$T/server.log")"; exit 1; }
        sleep 0.1
    done
    [[ -n "$ADDR" ]] || { log "depot did not start listening within 60 s"; exit 1; }
    log "depot pid $PID on $ADDR, database $DB"
}

_fresh_depot_cleanup() {
    [[ -n "$PID" ]] && kill -KILL "$PID" 2>/dev/null
    if [[ "$KEEP_TMP" == 1 ]]; then log "kept $T"; else rm -rf "$T"; fi
}

# stop_and_verify_depot: stops the server started by start_fresh_depot with SIGTERM, then
# runs `depot verify` on its database and prints its last line. Fails (status 1, with a log
# line) when the server exited badly, logged a panic, or verify found a problem.
stop_and_verify_depot() {
    local ok=0 code verify
    log "stopping depot (SIGTERM)"
    kill -TERM "$PID"
    wait "$PID"
    code=$?
    PID=""
    ((code == 0)) || { log "depot exited with status $code after SIGTERM"; ok=1; }
    if grep -aqi 'panick' "$T/server.log"; then
        log "depot logged a panic: $(grep -ai -m 1 'panick' "$T/server.log" | cut -c1-300)"
        ok=1
    fi
    verify=$("$DEPOT" --db "$DB" verify 2>&1) || { log "verify failed: $verify"; ok=1; }
    echo "verify: $(tail -n 1 <<< "$verify")"
    return "$ok"
}
