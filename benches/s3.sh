#!/usr/bin/env bash
# Object store throughput and memory (issue 14): the same bytes uploaded and downloaded
# straight to a Garage cluster (curl's SigV4) and through depot with --blob-store s3, and
# depot's peak RSS while PAR concurrent uploads stream to the store.
#
# Starts a Garage cluster of NODES nodes on loopback (replication factor NODES, sqlite
# metadata, no fsync: the tests' settings) and a depot on a fresh database, both in a
# temporary directory removed at the end (KEEP_TMP=1 keeps it). Prints one line per figure:
#   - direct and through-depot upload and download of SIZE_MB, MB/s (curl's own average),
#     and depot's share of the direct figure
#   - PAR concurrent SIZE_MB uploads through depot: aggregate MB/s, and depot's peak RSS
#     (VmHWM after a reset through /proc/PID/clear_refs, and the largest sampled VmRSS).
#     They send the same file: each streams its own object (deduplication happens at the
#     commit), so the store and depot do the full work; only disk for one copy is needed.
#
# Needs: garage (cargo install garage --locked), curl with --aws-sigv4 (7.75+), awk.
# Settings (environment):
#   SIZE_MB  size of each file in MiB [1024]
#   PAR      concurrent uploads for the RSS run [8]
#   NODES    Garage nodes [3]
#   DEPOT    the depot binary [target/release/depot, built if missing]
#   GARAGE   the garage binary [garage on PATH, else ~/.cargo/bin/garage]
# Run it on a quiet machine: on a shared one the figures say little.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-1024}
PAR=${PAR:-8}
NODES=${NODES:-3}
KEEP_TMP=${KEEP_TMP:-0}
log() { echo "s3.sh: $*" >&2; }
result() { printf '%-58s %12s %s\n' "$1" "$2" "$3"; }

GARAGE=${GARAGE:-$(command -v garage || echo "$HOME/.cargo/bin/garage")}
[[ -x "$GARAGE" ]] || { log "garage not found: cargo install garage --locked"; exit 1; }
command -v curl >/dev/null || { log "curl not found"; exit 1; }
if [[ -z "${DEPOT:-}" ]]; then
    DEPOT=target/release/depot
    [[ -x "$DEPOT" ]] || cargo build --release --quiet --bin depot
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/depot-s3-bench.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ "$KEEP_TMP" == 1 ]]; then log "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

free_port() { # a port nothing listens on now
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}
wait_port() { # port: until something listens there (30 s)
    local i
    for ((i = 0; i < 300; i++)); do
        (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    log "nothing listens on port $1"; exit 1
}

# ---- Garage
SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
S3_PORTS=()
for ((i = 1; i <= NODES; i++)); do
    rpc=$(free_port); s3=$(free_port)
    S3_PORTS+=("$s3")
    cat >"$T/node$i.toml" <<EOF
metadata_dir = "$T/node$i/meta"
data_dir = "$T/node$i/data"
db_engine = "sqlite"
metadata_fsync = false
data_fsync = false
replication_factor = $NODES
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$SECRET"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"
EOF
    RUST_LOG=warn "$GARAGE" -c "$T/node$i.toml" server >"$T/node$i.log" 2>&1 &
    PIDS+=($!)
    wait_port "$s3"
done
g() { "$GARAGE" -c "$T/node1.toml" "$@"; }
retry() { # a garage command that may fail until the layout reached every node
    local i
    for ((i = 0; i < 150; i++)); do g "$@" >"$T/garage.out" 2>&1 && return 0; sleep 0.2; done
    log "garage $*: $(cat "$T/garage.out")"; exit 1
}
IDS=()
for ((i = 1; i <= NODES; i++)); do IDS+=("$("$GARAGE" -c "$T/node$i.toml" node id -q 2>/dev/null)"); done
for ((i = 1; i < NODES; i++)); do retry node connect "${IDS[$i]}"; done
for ((i = 0; i < NODES; i++)); do
    retry layout assign "${IDS[$i]%%@*}" -z "dc$((i + 1))" -c 10G -t "node$((i + 1))"
done
retry layout apply --version 1
retry bucket create depot
retry key create depot-key
KEY_ID=$(awk -F': *' '/Key ID:/ { print $2 }' "$T/garage.out" | tr -d ' ')
KEY_SECRET=$(awk -F': *' '/Secret key:/ { print $2 }' "$T/garage.out" | tr -d ' ')
[[ -n "$KEY_ID" && -n "$KEY_SECRET" ]] || { log "no key in: $(cat "$T/garage.out")"; exit 1; }
retry bucket allow --read --write --owner depot --key depot-key
ENDPOINT="http://127.0.0.1:${S3_PORTS[0]}"
log "garage: $NODES nodes, endpoint $ENDPOINT"

# ---- depot with --blob-store s3 (settings through the environment, as a service would)
export DEPOT_BLOB_STORE=s3 DEPOT_S3_ENDPOINT="$ENDPOINT" DEPOT_S3_BUCKET=depot DEPOT_S3_REGION=garage
export DEPOT_S3_ACCESS_KEY_ID="$KEY_ID" DEPOT_S3_SECRET_ACCESS_KEY="$KEY_SECRET"
DB="$T/depot.redb"
printf 'bench-password\n' | "$DEPOT" --db "$DB" user add bench --password-stdin >/dev/null 2>"$T/cli.err" \
    || { log "user add: $(cat "$T/cli.err")"; exit 1; }
TOKEN=$("$DEPOT" --db "$DB" token create bench --name bench --scope write 2>"$T/cli.err") \
    || { log "token create: $(cat "$T/cli.err")"; exit 1; }
NO_COLOR=1 "$DEPOT" --db "$DB" serve --listen 127.0.0.1:0 >/dev/null 2>"$T/depot.log" &
DPID=$!
PIDS+=("$DPID")
ADDR=""
for ((i = 0; i < 300; i++)); do
    ADDR=$(grep -ao 'listening on http://[0-9.:]*' "$T/depot.log" | head -n 1 | sed 's|.*http://||') || true
    [[ -n "$ADDR" ]] && break
    kill -0 "$DPID" 2>/dev/null || { log "depot exited: $(tail -n 5 "$T/depot.log")"; exit 1; }
    sleep 0.1
done
[[ -n "$ADDR" ]] || { log "depot did not start"; exit 1; }
log "depot pid $DPID on $ADDR"

# ---- the bytes
BIG="$T/big.bin"
head -c "$((SIZE_MB << 20))" /dev/urandom >"$BIG"
BYTES=$((SIZE_MB << 20))
LABEL="$SIZE_MB MiB"
sync

s3curl() { curl -sS --fail --aws-sigv4 aws:amz:garage:s3 -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    --user "$KEY_ID:$KEY_SECRET" "$@"; }
mbs() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
check() { # a curl -w "%{http_code} %{speed}" answer, the wanted code
    [[ ${1%% *} == "$2" ]] || { log "expected $2, got '$1'"; exit 1; }
    echo "${1#* }"
}

log "direct: upload and download of $LABEL"
up_direct=$(check "$(s3curl -o /dev/null -w '%{http_code} %{speed_upload}' --upload-file "$BIG" \
    "$ENDPOINT/depot/bench/direct.bin")" 200)
down_direct=$(check "$(s3curl -o /dev/null -w '%{http_code} %{speed_download}' \
    "$ENDPOINT/depot/bench/direct.bin")" 200)

BASE="http://$ADDR/api/packages/bench/generic/bench"
AUTH=(-H "Authorization: token $TOKEN")
log "through depot: upload and download of $LABEL"
sync
up_depot=$(check "$(curl -sS -o /dev/null -w '%{http_code} %{speed_upload}' "${AUTH[@]}" \
    --upload-file "$BIG" "$BASE/1/big.bin")" 201)
down_depot=$(check "$(curl -sS -o /dev/null -w '%{http_code} %{speed_download}' "$BASE/1/big.bin")" 200)

result "upload $LABEL straight to Garage" "$(mbs "$up_direct")" "MB/s"
result "upload $LABEL through depot" "$(mbs "$up_depot")" "MB/s ($(ratio "$up_depot" "$up_direct") of direct)"
result "download $LABEL straight from Garage" "$(mbs "$down_direct")" "MB/s"
result "download $LABEL through depot" "$(mbs "$down_depot")" "MB/s ($(ratio "$down_depot" "$down_direct") of direct)"

# ---- PAR concurrent uploads: depot's memory
kib() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$DPID/status"; }
hwm_reset=0
{ echo 5 >"/proc/$DPID/clear_refs"; } 2>/dev/null && hwm_reset=1
(
    trap 'exit 0' TERM
    max=0
    while :; do
        cur=$(kib VmRSS)
        if ((cur > max)); then max=$cur; echo "$max" >"$T/rss.max"; fi
        sleep 0.1
    done
) &
SAMPLER=$!
PIDS+=("$SAMPLER")
log "through depot: $PAR concurrent uploads of $LABEL"
t0=$(date +%s.%N)
cps=()
for ((i = 1; i <= PAR; i++)); do
    curl -sS -o /dev/null -w '%{http_code}' "${AUTH[@]}" --upload-file "$BIG" "$BASE/par/p$i.bin" \
        >"$T/par$i.code" 2>"$T/par$i.err" &
    cps+=($!)
done
for p in "${cps[@]}"; do wait "$p" || true; done
t1=$(date +%s.%N)
kill -TERM "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null || true
for ((i = 1; i <= PAR; i++)); do
    [[ $(cat "$T/par$i.code") == 201 ]] || { log "upload $i: $(cat "$T/par$i.code") $(cat "$T/par$i.err")"; exit 1; }
done
agg=$(awk -v a="$t0" -v b="$t1" -v n="$PAR" -v s="$BYTES" 'BEGIN { printf "%.1f", n * s / (b - a) / 1e6 }')
result "$PAR concurrent uploads of $LABEL through depot" "$agg" "MB/s aggregate"
if ((hwm_reset)); then
    result "depot peak RSS during them (VmHWM)" "$(awk -v k="$(kib VmHWM)" 'BEGIN { printf "%.1f", k / 1024 }')" "MiB"
fi
result "depot peak RSS during them (largest sampled VmRSS)" \
    "$(awk -v k="$(cat "$T/rss.max" 2>/dev/null || echo 0)" 'BEGIN { printf "%.1f", k / 1024 }')" "MiB"
objects=$(s3curl "$ENDPOINT/depot?list-type=2&prefix=depot%2F" | grep -o '<Key>' | wc -l)
# Every upload was the same bytes: each streamed an object of its own, then its commit found
# the content stored and the duplicate object was deleted, so one object stays.
log "objects in the store: $objects (the same content throughout: 1 expected)"
