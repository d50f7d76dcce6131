#!/usr/bin/env bash
# depot benchmark.
#
# Usage:   bash benches/bench.sh
#          DURATION=3 BIG_MB=64 bash benches/bench.sh      # quick run
#
# Starts depot on a fresh database in a temporary directory and measures, on loopback:
#   - 4 KiB GET rate (req/s) and p99 latency        (wrk, one file fetched over and over)
#   - 4 KiB PUT rate (req/s) and p99 latency        (wrk + Lua, PUT_CONNS clients, every PUT a
#                                                   new file name with distinct content)
#   - BIG_MB upload and download speed, MB/s        (curl --upload-file / curl -o /dev/null)
#   - peak RSS of the server: VmHWM from /proc/PID/status, and the largest VmRSS sampled
#     every 0.1 s while the benchmark runs
#   - peak RSS while PAR_UPLOADS concurrent BIG_MB uploads run (VmHWM reset through
#     /proc/PID/clear_refs just before, plus sampled VmRSS), and their aggregate MB/s
# When nginx (with its WebDAV module) is installed, the same workload runs against an nginx
# started as the current user with a config in the temporary directory (PUT/GET under /dav/),
# and depot/nginx ratios are printed with the floors they are expected to meet:
#   GET rate >= 0.8x, PUT rate >= 0.5x, download >= 0.6x, upload >= 0.5x; peak RSS <= 128 MiB.
# The floors are informational: the script exits 0 unless something errored (a server did not
# start or died, a request failed or got an unexpected status, a tool is missing).
#
# Results go to stdout, one per line ("#" lines are notes); progress goes to stderr.
# MB = 10^6 bytes, MiB = 2^20 bytes. Latencies are wrk's (coordinated omission included).
#
# Needs: wrk, curl (and optionally nginx):  apt-get install -y wrk nginx curl
# The script installs nothing. It builds depot (cargo build --release) only when DEPOT_BIN is
# left at its default and target/release/depot does not exist yet.
#
# Environment (defaults in brackets):
#   DURATION     seconds per wrk run [10]
#   BIG_MB       size of the big file in MiB [1024]
#   THREADS      wrk threads [2]
#   GET_CONNS    wrk connections for the GET run [32]
#   PUT_CONNS    wrk connections (concurrent clients) for the PUT run [32]
#   PAR_UPLOADS  number of concurrent big uploads for the RSS-under-load run [8]
#   DEPOT_BIN    depot binary [<repo>/target/release/depot]
#   NGINX_BIN    nginx binary [nginx from PATH, else /usr/sbin/nginx]
#   TARGETS      what to benchmark, in order [depot nginx] (nginx is dropped if not installed)
#   TMPDIR       where the temporary directory is made (needs about 2 GiB + PAR_UPLOADS x BIG_MB free)
#   KEEP_TMP=1   keep the temporary directory (logs, configs, wrk output) instead of deleting it
#   RSS_LIMIT_MIB  the peak RSS floor [128]

set -u -o pipefail

DURATION=${DURATION:-10}
BIG_MB=${BIG_MB:-1024}
THREADS=${THREADS:-2}
GET_CONNS=${GET_CONNS:-32}
PUT_CONNS=${PUT_CONNS:-32}
PAR_UPLOADS=${PAR_UPLOADS:-8}
RSS_LIMIT_MIB=${RSS_LIMIT_MIB:-128}
KEEP_TMP=${KEEP_TMP:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPOT_BIN_DEFAULT="$ROOT/target/release/depot"
if [[ -n "${DEPOT_BIN:-}" ]]; then
    case "$DEPOT_BIN" in /*) ;; */*) DEPOT_BIN="$PWD/$DEPOT_BIN" ;; *) DEPOT_BIN=$(command -v "$DEPOT_BIN" || echo "$PWD/$DEPOT_BIN") ;; esac
else
    DEPOT_BIN=$DEPOT_BIN_DEFAULT
fi
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true)}
TARGETS=${TARGETS:-depot nginx}

USER_NAME=bench
USER_PASS=benchpass
AUTH_HEADER="Basic $(printf '%s:%s' "$USER_NAME" "$USER_PASS" | base64 | tr -d '\n')"

ERRORS=0
declare -A R=()          # results: R[target.metric]=number
declare -a PIDS=()       # processes to stop on exit
T=""

log()   { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
error() { ERRORS=$((ERRORS + 1)); printf 'ERROR: %s\n' "$*"; log "ERROR: $*"; }
# result LABEL VALUE UNIT [NOTE]
result() { if [[ -n "${4:-}" ]]; then printf '%-62s %12s %-6s  %s\n' "$1" "$2" "$3" "$4"; else printf '%-62s %12s %s\n' "$1" "$2" "$3"; fi; }
note()  { printf '# %s\n' "$*"; }

for v in DURATION BIG_MB THREADS GET_CONNS PUT_CONNS PAR_UPLOADS RSS_LIMIT_MIB; do
    if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then echo "bench.sh: $v must be a positive integer (got '${!v}')" >&2; exit 2; fi
done

# ---------------------------------------------------------------- tools
missing=()
for tool in wrk curl awk head base64 ps; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if ((${#missing[@]})); then
    echo "bench.sh: missing: ${missing[*]}" >&2
    echo "install them with:  apt-get install -y wrk nginx curl   (nginx is optional)" >&2
    exit 1
fi
want_nginx=0; want_depot=0
for t in $TARGETS; do
    case "$t" in
        depot) want_depot=1 ;;
        nginx) want_nginx=1 ;;
        *) echo "bench.sh: unknown target '$t' in TARGETS" >&2; exit 2 ;;
    esac
done
nginx_skip_reason=""
if ((want_nginx)); then
    if [[ -z "$NGINX_BIN" || ! -x "$NGINX_BIN" ]]; then
        nginx_skip_reason="nginx not installed (apt-get install -y nginx); no depot/nginx ratios"
    elif ! "$NGINX_BIN" -V 2>&1 | grep -q -- '--with-http_dav_module'; then
        nginx_skip_reason="$NGINX_BIN has no WebDAV module (http_dav_module); no depot/nginx ratios"
    fi
    [[ -n "$nginx_skip_reason" ]] && { log "$nginx_skip_reason"; want_nginx=0; }
fi

if ((want_depot)) && [[ ! -x "$DEPOT_BIN" ]]; then
    if [[ "$DEPOT_BIN" == "$DEPOT_BIN_DEFAULT" ]]; then
        command -v cargo >/dev/null 2>&1 || { echo "bench.sh: $DEPOT_BIN missing and no cargo to build it" >&2; exit 1; }
        log "building depot: (cd $ROOT && cargo build --release)"
        (cd "$ROOT" && cargo build --release >&2) || { echo "bench.sh: cargo build --release failed" >&2; exit 1; }
    fi
    [[ -x "$DEPOT_BIN" ]] || { echo "bench.sh: depot binary not found: $DEPOT_BIN" >&2; exit 1; }
fi

# ---------------------------------------------------------------- temp dir and cleanup
T=$(mktemp -d "${TMPDIR:-/tmp}/depot-bench.XXXXXX") || exit 1

stop_pid() { # pid [grace seconds]: TERM, then KILL after the grace period
    local pid=$1 grace=${2:-15} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < grace * 10; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    log "pid $pid still alive after ${grace}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null
}
cleanup() {
    local pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do stop_pid "$pid" 5; done
    wait 2>/dev/null
    if [[ "$KEEP_TMP" == 1 ]]; then log "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM
forget_pid() { local p keep=(); for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done; PIDS=("${keep[@]}"); }

# ---------------------------------------------------------------- helpers
# sum of a /proc/PID/status field (kB) over pids; missing pids count 0
proc_kib() {
    local field=$1 total=0 pid k v rest
    shift
    for pid in "$@"; do
        { while read -r k v rest; do
              if [[ $k == "$field:" ]]; then total=$((total + v)); break; fi
          done < "/proc/$pid/status"; } 2>/dev/null
    done
    echo "$total"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

SAMPLER=""
start_sampler() { # outfile pids...: writes the largest summed VmRSS (kB) seen so far
    local out=$1
    shift
    echo 0 > "$out"
    (
        trap 'exit 0' TERM
        max=0
        while :; do
            cur=$(proc_kib VmRSS "$@")
            if ((cur > max)); then max=$cur; echo "$max" > "$out.new" && mv -f "$out.new" "$out"; fi
            sleep 0.1
        done
    ) &
    SAMPLER=$!
    PIDS+=("$SAMPLER")
}
stop_sampler() {
    [[ -n "$SAMPLER" ]] || return 0
    kill -TERM "$SAMPLER" 2>/dev/null
    wait "$SAMPLER" 2>/dev/null
    forget_pid "$SAMPLER"
    SAMPLER=""
}

# reset VmHWM of the pids to their current RSS; returns non-zero if not possible
reset_hwm() {
    local pid ok=0
    for pid in "$@"; do { echo 5 > "/proc/$pid/clear_refs"; } 2>/dev/null || ok=1; done
    return $ok
}

# wrk time ("635.91us", "2.34ms", "1.02s", "1.50m") -> milliseconds
to_ms() {
    awk -v s="$1" 'BEGIN {
        if (match(s, /^[0-9.]+/)) { n = substr(s, 1, RLENGTH); u = substr(s, RLENGTH + 1) } else { print "nan"; exit }
        f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
        if (f < 0) print "nan"; else printf "%.3f", n * f }'
}

http_code() { # method url [curl args...] -> prints the status code (000 on connection failure)
    local m=$1 u=$2
    shift 2
    curl -sS -o /dev/null -w '%{http_code}' -X "$m" "$@" "$u" 2>/dev/null || true
}

# run_wrk NAME CONNS [wrk options...] URL [-- script args]: parses into WRK_RATE, WRK_P99_MS, WRK_REQS,
# WRK_BAD (non-2xx/3xx responses), WRK_SOCKERR
run_wrk() {
    local name=$1 conns=$2 out
    shift 2
    out="$T/wrk-$name.txt"
    WRK_RATE=""; WRK_P99_MS=""; WRK_REQS=""; WRK_BAD=0; WRK_SOCKERR=""
    if ! wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --timeout 10s --latency "$@" > "$out" 2>&1; then
        error "$name: wrk failed: $(tail -n 3 "$out" | tr '\n' ' ')"
        return 1
    fi
    WRK_RATE=$(awk '/^Requests\/sec:/ { printf "%.1f", $2 }' "$out")
    WRK_P99_MS=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    WRK_REQS=$(awk '/requests in/ { print $1; exit }' "$out")
    WRK_BAD=$(awk -F': *' '/Non-2xx or 3xx responses/ { print $2 }' "$out")
    WRK_BAD=${WRK_BAD:-0}
    WRK_SOCKERR=$(awk '/Socket errors/ { sub(/^ +/, ""); print }' "$out")
    if [[ -z "$WRK_RATE" || -z "$WRK_REQS" ]]; then
        error "$name: could not parse wrk output: $(tr '\n' ' ' < "$out" | cut -c1-300)"
        return 1
    fi
    return 0
}

# The PUT script: a distinct path and distinct 4 KiB content for every request.
cat > "$T/put.lua" <<'EOF'
-- wrk script: PUT 4 KiB bodies, each to a new path "<prefix><thread>-<counter>".
-- args: prefix [authorization header value]
local threads = {}
local nthreads = 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
  table.insert(threads, thread)
end

function init(args)
  prefix = args[1]
  headers = { ["Content-Type"] = "application/octet-stream" }
  if args[2] ~= nil and args[2] ~= "" then headers["Authorization"] = args[2] end
  counter = 0
  statuses = {}
  local chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
  local t = {}
  math.randomseed(os.time() + tid * 7919)
  for i = 1, 4096 do
    local r = math.random(1, #chars)
    t[i] = chars:sub(r, r)
  end
  filler = table.concat(t)
end

function request()
  counter = counter + 1
  local name = tid .. "-" .. counter
  local head = name .. "\n"
  return wrk.format("PUT", prefix .. name, headers, head .. filler:sub(#head + 1))
end

function response(status, hdrs, body)
  if status < 200 or status > 299 then
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then
      for code, n in pairs(s) do total[code] = (total[code] or 0) + n end
    end
  end
  for code, n in pairs(total) do io.write(string.format("unexpected status %d: %d\n", code, n)) end
end
EOF

# ---------------------------------------------------------------- the big file
BIG="$T/big.bin"
BIG_BYTES=$((BIG_MB * 1024 * 1024))
BIG_LABEL="${BIG_MB}MiB"
((BIG_MB % 1024 == 0)) && BIG_LABEL="$((BIG_MB / 1024))GiB"
SMALL="$T/small-4k.bin"
head -c 4096 /dev/urandom > "$SMALL"

need_mb=$((2048 + (PAR_UPLOADS + 2) * BIG_MB))
avail_kb=$(df -Pk "$T" | awk 'NR == 2 { print $4 }')
if [[ -n "$avail_kb" ]] && ((avail_kb / 1024 < need_mb)); then
    log "warning: $T has $((avail_kb / 1024)) MiB free, the run may need about $need_mb MiB"
fi

log "writing $BIG_LABEL of random data to $BIG"
head -c "$BIG_BYTES" /dev/urandom > "$BIG" || { error "could not create $BIG"; exit 1; }
BIG_SHA=""
if ((want_depot)) && command -v sha256sum >/dev/null 2>&1; then
    BIG_SHA=$(sha256sum "$BIG" | awk '{ print $1 }')
fi

# ---------------------------------------------------------------- the workload (same for both servers)
# bench_target NAME BASE_URL PUT_PREFIX_PATH AUTH_HEADER(or "") SERVER_PIDS...
bench_target() {
    local name=$1 base=$2 prefix=$3 auth=$4
    shift 4
    local pids=("$@")
    local curl_auth=() code got s rc
    [[ -n "$auth" ]] && curl_auth=(-H "Authorization: $auth")
    local nonce
    nonce=$(date +%s)-$$

    # -- 4 KiB GET
    local get_url="$base$prefix/get-4k.bin"
    code=$(http_code PUT "$get_url" "${curl_auth[@]}" --data-binary "@$SMALL" -H 'Content-Type: application/octet-stream')
    if [[ $code != 201 ]]; then error "$name: PUT of the 4 KiB file answered $code, expected 201"; return 1; fi
    if ! curl -sS -f -o "$T/small.back" "$get_url" || ! cmp -s "$SMALL" "$T/small.back"; then
        error "$name: GET of the 4 KiB file did not return what was uploaded"; return 1
    fi

    start_sampler "$T/rss-$name-main" "${pids[@]}"

    log "$name: GET 4 KiB, ${THREADS} threads, $GET_CONNS connections, ${DURATION}s"
    if run_wrk "$name-get" "$GET_CONNS" "$get_url"; then
        R[$name.get_rate]=$WRK_RATE; R[$name.get_p99]=$WRK_P99_MS
        result "$name GET 4KiB rate ($GET_CONNS conns)" "$WRK_RATE" "req/s"
        result "$name GET 4KiB p99 latency" "$WRK_P99_MS" "ms"
        ((WRK_BAD > 0)) && error "$name GET: $WRK_BAD of $WRK_REQS responses were not 2xx/3xx"
        [[ -n "$WRK_SOCKERR" ]] && note "$name GET: $WRK_SOCKERR"
    fi

    # -- 4 KiB PUT, every request a new file name
    log "$name: PUT 4 KiB (new file each), ${THREADS} threads, $PUT_CONNS connections, ${DURATION}s"
    if run_wrk "$name-put" "$PUT_CONNS" -s "$T/put.lua" "$base/" -- "$prefix/put-$nonce-" "$auth"; then
        R[$name.put_rate]=$WRK_RATE; R[$name.put_p99]=$WRK_P99_MS
        result "$name PUT 4KiB rate ($PUT_CONNS conns)" "$WRK_RATE" "req/s"
        result "$name PUT 4KiB p99 latency" "$WRK_P99_MS" "ms"
        if ((WRK_BAD > 0)); then
            error "$name PUT: $WRK_BAD of $WRK_REQS responses were not 2xx ($(grep '^unexpected status' "$T/wrk-$name-put.txt" | sort | tr '\n' ';'))"
        fi
        [[ -n "$WRK_SOCKERR" ]] && note "$name PUT: $WRK_SOCKERR"
    fi

    # -- big upload
    local big_url="$base$prefix/big-0.bin"
    log "$name: upload of $BIG_LABEL"
    got=$(curl -sS -o /dev/null -w '%{http_code} %{speed_upload} %{size_upload}' "${curl_auth[@]}" \
              -H 'Content-Type: application/octet-stream' --upload-file "$BIG" "$big_url" 2>"$T/curl.err")
    rc=$?
    read -r code s got <<< "$got"
    if ((rc != 0)) || [[ $code != 201 ]]; then
        error "$name: $BIG_LABEL upload failed: curl exit $rc, status $code, $(tr '\n' ' ' < "$T/curl.err")"
    else
        R[$name.up]=$(awk -v s="$s" 'BEGIN { printf "%.1f", s / 1e6 }')
        result "$name $BIG_LABEL upload" "${R[$name.up]}" "MB/s"
        if [[ -n "$BIG_SHA" && $name == depot ]]; then
            local hsum
            hsum=$(curl -sS -I "$big_url" | awk -F': *' 'tolower($1) == "x-checksum-sha256" { gsub(/[\r"]/, "", $2); print tolower($2) }')
            [[ "$hsum" == "$BIG_SHA" ]] || error "$name: X-Checksum-Sha256 of the big file is '$hsum', expected $BIG_SHA"
        fi
    fi

    # -- big download
    log "$name: download of $BIG_LABEL"
    got=$(curl -sS -o /dev/null -w '%{http_code} %{speed_download} %{size_download}' "$big_url" 2>"$T/curl.err")
    rc=$?
    read -r code s got <<< "$got"
    if ((rc != 0)) || [[ $code != 200 ]] || [[ $got != "$BIG_BYTES" ]]; then
        error "$name: $BIG_LABEL download failed: curl exit $rc, status $code, $got bytes, $(tr '\n' ' ' < "$T/curl.err")"
    else
        R[$name.down]=$(awk -v s="$s" 'BEGIN { printf "%.1f", s / 1e6 }')
        result "$name $BIG_LABEL download" "${R[$name.down]}" "MB/s"
    fi

    stop_sampler
    local hwm_main samp_main hwm_par="" samp_par
    hwm_main=$(proc_kib VmHWM "${pids[@]}")
    samp_main=$(cat "$T/rss-$name-main")

    # -- PAR_UPLOADS concurrent big uploads: RSS under load
    local hwm_reset=0 i t0 t1 ok=1
    reset_hwm "${pids[@]}" && hwm_reset=1
    start_sampler "$T/rss-$name-par" "${pids[@]}"
    log "$name: $PAR_UPLOADS concurrent uploads of $BIG_LABEL"
    local cpids=()
    t0=$(date +%s.%N)
    for ((i = 1; i <= PAR_UPLOADS; i++)); do
        curl -sS -o /dev/null -w '%{http_code}' "${curl_auth[@]}" -H 'Content-Type: application/octet-stream' \
            --upload-file "$BIG" "$base$prefix/par-$i.bin" > "$T/par-$i.code" 2> "$T/par-$i.err" &
        cpids+=($!); PIDS+=($!)
    done
    for i in "${!cpids[@]}"; do
        wait "${cpids[$i]}" || { ok=0; error "$name: concurrent upload $((i + 1)) failed: curl exit $?, $(tr '\n' ' ' < "$T/par-$((i + 1)).err")"; }
        forget_pid "${cpids[$i]}"
    done
    t1=$(date +%s.%N)
    stop_sampler
    for ((i = 1; i <= PAR_UPLOADS; i++)); do
        code=$(cat "$T/par-$i.code" 2>/dev/null)
        [[ $code == 201 ]] || { ok=0; error "$name: concurrent upload $i answered '$code', expected 201"; }
    done
    if ((ok)); then
        R[$name.par]=$(awk -v a="$t0" -v b="$t1" -v n="$PAR_UPLOADS" -v sz="$BIG_BYTES" 'BEGIN { printf "%.1f", n * sz / (b - a) / 1e6 }')
    fi
    ((hwm_reset)) && hwm_par=$(proc_kib VmHWM "${pids[@]}")
    samp_par=$(cat "$T/rss-$name-par")

    # -- RSS report
    local hwm_all=$hwm_main samp_all=$samp_main lim_kib=$((RSS_LIMIT_MIB * 1024)) verdict
    [[ -n "$hwm_par" ]] && ((hwm_par > hwm_all)) && hwm_all=$hwm_par
    ((samp_par > samp_all)) && samp_all=$samp_par
    R[$name.rss]=$hwm_all
    local what="" floor_note=""
    ((${#pids[@]} > 1)) && what=" (sum of ${#pids[@]} processes)"
    if [[ $name == depot ]]; then
        if ((hwm_all <= lim_kib)); then verdict=ok; else verdict=ABOVE; fi
        floor_note="limit <= $RSS_LIMIT_MIB MiB: $verdict"
    fi
    result "$name peak RSS, VmHWM at end$what" "$(mib "$hwm_all")" "MiB" "$floor_note"
    result "$name peak RSS, largest sampled VmRSS$what" "$(mib "$samp_all")" "MiB"
    result "$name peak RSS before the concurrent uploads (VmHWM)" "$(mib "$hwm_main")" "MiB"
    if [[ -n "$hwm_par" ]]; then
        floor_note=""
        if [[ $name == depot ]]; then
            if ((hwm_par <= lim_kib)); then verdict=ok; else verdict=ABOVE; fi
            floor_note="limit <= $RSS_LIMIT_MIB MiB: $verdict"
        fi
        result "$name peak RSS during ${PAR_UPLOADS}x$BIG_LABEL uploads (VmHWM)" "$(mib "$hwm_par")" "MiB" "$floor_note"
    else
        note "$name: could not reset VmHWM through /proc/PID/clear_refs; only the sampled value is given below"
    fi
    result "$name peak RSS during ${PAR_UPLOADS}x$BIG_LABEL uploads (sampled)" "$(mib "$samp_par")" "MiB"
    [[ -n "${R[$name.par]:-}" ]] && result "$name ${PAR_UPLOADS}x$BIG_LABEL concurrent upload, aggregate" "${R[$name.par]}" "MB/s"
    local anon file
    anon=$(proc_kib RssAnon "${pids[@]}"); file=$(proc_kib RssFile "${pids[@]}")
    note "$name RSS at end: RssAnon $(mib "$anon") MiB, RssFile $(mib "$file") MiB"
    return 0
}

free_port() { # a port on 127.0.0.1 nothing listens on
    local p i
    for ((i = 0; i < 100; i++)); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<> "/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    return 1
}

# ---------------------------------------------------------------- depot
run_depot() {
    local d="$T/depot" db port="" i code="" pid
    mkdir -p "$d"
    db="$d/depot.redb"
    local version
    version=$("$DEPOT_BIN" --version 2>/dev/null | head -n 1)
    note "depot: $DEPOT_BIN${version:+ ($version)}"
    if ! printf '%s\n' "$USER_PASS" | "$DEPOT_BIN" --db "$db" user add "$USER_NAME" --admin --password-stdin \
            > "$d/useradd.out" 2>&1; then
        error "depot: 'user add' failed: $(tr '\n' ' ' < "$d/useradd.out")"
        return 1
    fi
    port=$(free_port) || { error "depot: no free port found"; return 1; }
    log "depot: starting on 127.0.0.1:$port with a fresh database $db"
    NO_COLOR=1 "$DEPOT_BIN" --db "$db" serve --listen "127.0.0.1:$port" > "$d/stdout.log" 2> "$d/server.log" &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 600; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"; error "depot exited during start-up (status $?): $(tail -n 5 "$d/server.log" | tr '\n' ' ')"
            forget_pid "$pid"; return 1
        fi
        code=$(http_code GET "http://127.0.0.1:$port/healthz")
        [[ $code == 200 ]] && break
        sleep 0.1
    done
    if [[ $code != 200 ]]; then
        error "depot not ready after 60 s (GET /healthz answered '$code'): $(tail -n 5 "$d/server.log" | tr '\n' ' ')"
        return 1
    fi
    log "depot: pid $pid, listening on 127.0.0.1:$port"

    bench_target depot "http://127.0.0.1:$port" "/api/packages/$USER_NAME/generic/pkg/1.0" "$AUTH_HEADER" "$pid"

    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid"; error "depot died during the benchmark (status $?): $(tail -n 5 "$d/server.log" | tr '\n' ' ')"
        forget_pid "$pid"; return 1
    fi
    log "depot: stopping (SIGTERM)"
    stop_pid "$pid" 30
    wait "$pid"; code=$?
    forget_pid "$pid"
    ((code == 0)) || error "depot exited with status $code after SIGTERM"
    if grep -aqi 'panick' "$d/server.log"; then
        error "depot logged a panic: $(grep -ai -m 1 'panick' "$d/server.log" | cut -c1-300)"
    fi
    note "depot: database file after the run: $(du -k "$db" | awk '{ printf "%.1f MiB", $1 / 1024 }'), server log $(wc -l < "$d/server.log") lines"
    [[ "$KEEP_TMP" == 1 ]] || rm -rf "$d"   # free the disk before the next target
}

# ---------------------------------------------------------------- nginx
run_nginx() {
    local n="$T/nginx" port pid i code master_children
    mkdir -p "$n/www/dav" "$n/tmp/body" "$n/tmp/proxy" "$n/tmp/fastcgi" "$n/tmp/uwsgi" "$n/tmp/scgi" "$n/logs"
    port=$(free_port) || { error "nginx: no free port found"; return 1; }
    local user_line=""
    # as root the workers would switch to "nobody"; keep them as the current user
    (($(id -u) == 0)) && user_line="user $(id -un) $(id -gn);"
    cat > "$n/nginx.conf" <<EOF
# generated by benches/bench.sh
$user_line
worker_processes 2;
pid $n/nginx.pid;
error_log $n/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log $n/logs/access.log;
    client_body_temp_path $n/tmp/body;
    proxy_temp_path $n/tmp/proxy;
    fastcgi_temp_path $n/tmp/fastcgi;
    uwsgi_temp_path $n/tmp/uwsgi;
    scgi_temp_path $n/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$port;
        root $n/www;
        location /dav/ {
            dav_methods PUT DELETE;
            create_full_put_path on;
            client_max_body_size 0;
        }
    }
}
EOF
    note "nginx: $("$NGINX_BIN" -v 2>&1), worker_processes 2, WebDAV PUT, config $n/nginx.conf (deleted at exit unless KEEP_TMP=1)"
    log "nginx: starting on 127.0.0.1:$port"
    "$NGINX_BIN" -p "$n" -e "$n/logs/error.log" -c "$n/nginx.conf" -g 'daemon off;' > "$n/logs/stdout.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 300; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"; error "nginx exited during start-up (status $?): $(tail -n 5 "$n/logs/error.log" "$n/logs/stdout.log" | tr '\n' ' ')"
            forget_pid "$pid"; return 1
        fi
        code=$(http_code GET "http://127.0.0.1:$port/")
        [[ $code != 000 ]] && break
        sleep 0.1
    done
    [[ $code != 000 ]] || { error "nginx not answering after 30 s"; return 1; }
    # the workers: children of the master
    for ((i = 0; i < 50; i++)); do
        master_children=$(ps -o pid= --ppid "$pid" | tr -s ' \n' ' ')
        (($(wc -w <<< "$master_children") >= 2)) && break
        sleep 0.1
    done
    log "nginx: master $pid, workers $master_children"

    # shellcheck disable=SC2086
    bench_target nginx "http://127.0.0.1:$port" "/dav/pkg/1.0" "" "$pid" $master_children

    kill -0 "$pid" 2>/dev/null || { error "nginx died during the benchmark"; forget_pid "$pid"; return 1; }
    log "nginx: stopping"
    stop_pid "$pid" 15
    wait "$pid" 2>/dev/null
    forget_pid "$pid"
    [[ "$KEEP_TMP" == 1 ]] || rm -rf "$n/www"   # free the disk
}

# ---------------------------------------------------------------- main
note "depot benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), $(nproc) CPUs; DURATION=${DURATION}s BIG_MB=$BIG_MB THREADS=$THREADS GET_CONNS=$GET_CONNS PUT_CONNS=$PUT_CONNS PAR_UPLOADS=$PAR_UPLOADS"
[[ -n "$nginx_skip_reason" ]] && note "$nginx_skip_reason"
for t in $TARGETS; do
    case "$t" in
        depot) ((want_depot)) && { run_depot || log "depot run incomplete"; } ;;
        nginx) ((want_nginx)) && { run_nginx || log "nginx run incomplete"; } ;;
    esac
done

# ---------------------------------------------------------------- ratios
if ((want_depot && want_nginx)); then
    ratio() { # label metric floor
        local a=${R[depot.$2]:-} b=${R[nginx.$2]:-}
        if [[ -z "$a" || -z "$b" ]]; then
            result "ratio depot/nginx $1" "n/a" "" "(a measurement is missing)"
            return
        fi
        awk -v a="$a" -v b="$b" -v f="$3" -v l="ratio depot/nginx $1" 'BEGIN {
            if (b <= 0) { printf "%-62s %12s\n", l, "n/a"; exit }
            r = a / b
            printf "%-62s %12.2f %-6s  floor >= %.1fx: %s\n", l, r, "x", f, (r >= f ? "ok" : "BELOW") }'
    }
    ratio "GET 4KiB rate" get_rate 0.8
    ratio "PUT 4KiB rate" put_rate 0.5
    ratio "$BIG_LABEL download MB/s" down 0.6
    ratio "$BIG_LABEL upload MB/s" up 0.5
fi

if ((ERRORS > 0)); then
    note "$ERRORS error(s); exit status 1"
    exit 1
fi
exit 0
