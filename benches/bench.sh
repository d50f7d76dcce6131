#!/usr/bin/env bash
# depot benchmark.
#
# Usage:   bash benches/bench.sh
#          DURATION=3 BIG_MB=64 bash benches/bench.sh      # quick run
#
# Starts depot on a fresh database in a temporary directory and measures, on loopback:
#   - 4 KiB GET rate (req/s) and p99 latency        (wrk, one file fetched over and over)
#   - the same with "Authorization: token ..."      (a token from `depot token create`)
#   - random 4 KiB GETs among N files               (written first by FILL_CONNS clients)
#   - 4 KiB PUT rate (req/s) and p99 latency        (wrk + Lua, PUT_CONNS clients, every PUT a
#                                                   new file name with distinct content)
#   - BIG_MB upload and download speed, MB/s        (curl --upload-file / curl -o /dev/null)
#   - peak RSS of the server: VmHWM from /proc/PID/status, and the largest VmRSS sampled
#     every 0.1 s while the benchmark runs
#   - peak RSS while PAR_UPLOADS concurrent BIG_MB uploads run (VmHWM reset through
#     /proc/PID/clear_refs just before, plus sampled VmRSS), and their aggregate MB/s
# When nginx (with its WebDAV module) is installed, the same workload runs against an nginx
# started as the current user with a config in the temporary directory (PUT/GET under /dav/;
# the token GET sends nginx the same header, which it ignores), and depot/nginx ratios are
# printed with the floors they are expected to meet: GET rate >= 0.8x, anonymous and with a
# token, random GETs >= 0.7x, durable PUT rate >= 0.6x, download >= 0.6x, upload >= 0.5x;
# peak RSS <= 128 MiB plus the small-file cache the server is given (--file-cache-mib, 96 MiB
# by default: memory is bounded by configuration, and that cache is the operator's to size).
# Then the list timings (depot only: nginx has no list API), unless LIST=0: a fresh database
# filled in the shape of issue 12 (at 300,000 files: 1,000 packages, one with 20,000 versions,
# one version with 5,000 files), scaled to 1,000 files and to LIST_FILES; for the owner's
# package list, the versions of the big package and the files of its big version, page 1 and
# the middle page (?page=&limit=LIST_LIMIT) are timed with curl: cold (the first GET after a
# restart) and warm (median and p90 of LIST_REPEAT GETs). Floors: a warm page <= 10 ms at
# LIST_FILES and <= 2x its cost at 1,000 files.
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
#   TARGETS      what to benchmark, in order [depot nginx lists] (nginx is dropped if not
#                installed; TARGETS=lists runs the list timings alone)
#   N            files for the random GETs [20000]
#   FILL_CONNS   wrk connections writing the files for the random GETs and the lists [32]
#   FILL_TIMEOUT seconds after which a fill is given up [3600]
#   LIST=0       skip the list timings
#   LIST_FILES   files in the large list database [300000] (1000 or less: only the 1,000 one)
#   LIST_LIMIT   page size of the timed list pages [50]
#   LIST_REPEAT  warm GETs per timed page [100]
#   LIST_MAX_MS  the floor for a warm page at LIST_FILES [10]
#   DROP_CACHES=1  also drop the kernel page cache before each cold list GET (needs root; it
#                slows everything else on the machine for a while)
#   TMPDIR       where the temporary directory is made (needs about 2 GiB + PAR_UPLOADS x BIG_MB free)
#   KEEP_TMP=1   keep the temporary directory (logs, configs, wrk output) instead of deleting it
#   FILE_CACHE_MIB the small-file cache the benchmarked depot runs with (--file-cache-mib) [96]
#   RSS_LIMIT_MIB  the peak RSS limit [128 + FILE_CACHE_MIB]

set -u -o pipefail

DURATION=${DURATION:-10}
BIG_MB=${BIG_MB:-1024}
THREADS=${THREADS:-2}
GET_CONNS=${GET_CONNS:-32}
PUT_CONNS=${PUT_CONNS:-32}
PAR_UPLOADS=${PAR_UPLOADS:-8}
FILE_CACHE_MIB=${FILE_CACHE_MIB:-96}
RSS_LIMIT_MIB=${RSS_LIMIT_MIB:-$((128 + FILE_CACHE_MIB))}
KEEP_TMP=${KEEP_TMP:-0}
N=${N:-20000}
FILL_CONNS=${FILL_CONNS:-32}
FILL_TIMEOUT=${FILL_TIMEOUT:-3600}
LIST=${LIST:-1}
LIST_FILES=${LIST_FILES:-300000}
LIST_LIMIT=${LIST_LIMIT:-50}
LIST_REPEAT=${LIST_REPEAT:-100}
LIST_MAX_MS=${LIST_MAX_MS:-10}
DROP_CACHES=${DROP_CACHES:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPOT_BIN_DEFAULT="$ROOT/target/release/depot"
if [[ -n "${DEPOT_BIN:-}" ]]; then
    case "$DEPOT_BIN" in /*) ;; */*) DEPOT_BIN="$PWD/$DEPOT_BIN" ;; *) DEPOT_BIN=$(command -v "$DEPOT_BIN" || echo "$PWD/$DEPOT_BIN") ;; esac
else
    DEPOT_BIN=$DEPOT_BIN_DEFAULT
fi
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true)}
TARGETS=${TARGETS:-depot nginx lists}

USER_NAME=bench
USER_PASS=benchpass
AUTH_HEADER="Basic $(printf '%s:%s' "$USER_NAME" "$USER_PASS" | base64 | tr -d '\n')"

ERRORS=0
declare -A R=()          # results: R[target.metric]=number
declare -a PIDS=()       # processes to stop on exit
declare -a LIST_SIZES=() # the list databases measured, in files
T=""

log()   { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
error() { ERRORS=$((ERRORS + 1)); printf 'ERROR: %s\n' "$*"; log "ERROR: $*"; }
# result LABEL VALUE UNIT [NOTE]
result() { if [[ -n "${4:-}" ]]; then printf '%-62s %12s %-6s  %s\n' "$1" "$2" "$3" "$4"; else printf '%-62s %12s %s\n' "$1" "$2" "$3"; fi; }
note()  { printf '# %s\n' "$*"; }

for v in DURATION BIG_MB THREADS GET_CONNS PUT_CONNS PAR_UPLOADS FILE_CACHE_MIB RSS_LIMIT_MIB N FILL_CONNS FILL_TIMEOUT LIST_FILES \
         LIST_LIMIT LIST_REPEAT LIST_MAX_MS; do
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
want_nginx=0; want_depot=0; want_lists=0
for t in $TARGETS; do
    case "$t" in
        depot) want_depot=1 ;;
        nginx) want_nginx=1 ;;
        lists) [[ $LIST == 0 ]] || want_lists=1 ;;
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

if ((want_depot || want_lists)) && [[ ! -x "$DEPOT_BIN" ]]; then
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

# The PUT script (benches/put.lua): a distinct path and distinct 4 KiB content for every request.
cp "$ROOT/benches/put.lua" "$T/put.lua"

# The fill script: PUT every index 0..total-1 once (thread t takes t-1, t-1+threads, ...), the
# path computed from the index, then stop. wrk runs for a fixed time, so each thread writes
# "<ok> <bad>" to <markdir>/done-<tid> when its share is answered, and fill() interrupts wrk
# once every thread has. Connections with nothing left to PUT poll a health path meanwhile.
# args: mode prefix total markdir threads auth health-path [shape: packages versions files]
#   (health-path: any GET answered 200, polled by connections that are done)
#   mode "flat":  <prefix>v<i div 100>/f<i>.bin, 4 KiB of distinct content (random GETs)
#   mode "shape": the issue's list shape scaled to total files: package "big" whose version
#                 1.0.0 holds <files> files and which has <versions> versions, the rest spread
#                 over packages p1..p<packages-1>, one file per version; small bodies
cat > "$T/fill.lua" <<'EOF'
local nthreads = 0
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end

function init(args)
  mode, prefix, total, markdir = args[1], args[2], tonumber(args[3]), args[4]
  local threads = tonumber(args[5])
  headers = { ["Content-Type"] = "application/octet-stream" }
  if args[6] ~= nil and args[6] ~= "" then headers["Authorization"] = args[6] end
  health = wrk.format("GET", args[7])
  -- wrk calls the first thread's request() once before the run to check the request (its
  -- answer is never sent): give it the health GET rather than a file index
  probe = (tid == 1)
  npkg, nver, nfiles = tonumber(args[8] or 0), tonumber(args[9] or 0), tonumber(args[10] or 0)
  nextidx = tid - 1
  stride = threads
  share = 0
  if total > tid - 1 then share = math.floor((total - tid) / threads) + 1 end
  ok, bad, finished = 0, 0, false
  local chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
  local t = {}
  math.randomseed(os.time() + tid * 7919)
  for i = 1, 4096 do
    local r = math.random(1, #chars)
    t[i] = chars:sub(r, r)
  end
  filler = table.concat(t)
  if share == 0 then mark() end
end

function path(i)
  if mode == "flat" then
    return prefix .. "v" .. math.floor(i / 100) .. "/f" .. i .. ".bin"
  end
  if i < nfiles then return prefix .. "big/1.0.0/f" .. i .. ".bin" end
  i = i - nfiles
  if i < nver - 1 then return prefix .. "big/1.0." .. (i + 1) .. "/f.bin" end
  i = i - (nver - 1)
  local p = npkg - 1
  return prefix .. "p" .. (1 + i % p) .. "/1.0." .. math.floor(i / p) .. "/f.bin"
end

function request()
  if probe then
    probe = false
    return health
  end
  if nextidx >= total then return health end
  local name = path(nextidx)
  nextidx = nextidx + stride
  local body = name .. "\n"
  if mode == "flat" then body = body .. filler:sub(#body + 1) end
  return wrk.format("PUT", name, headers, body)
end

function mark()
  finished = true
  local f = io.open(markdir .. "/done-" .. tid, "w")
  f:write(ok .. " " .. bad .. "\n")
  f:close()
end

function response(status, hdrs, body)
  if finished then return end
  if status == 200 then return end -- the health path
  if status == 201 then ok = ok + 1 else bad = bad + 1 end
  if ok + bad >= share then mark() end
end
EOF

# Random GETs among the files the "flat" fill wrote. args: prefix total
cat > "$T/rand.lua" <<'EOF'
local nthreads = 0
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end

function init(args)
  prefix, total = args[1], tonumber(args[2])
  math.randomseed(os.time() + tid * 7919)
end

function request()
  local i = math.random(0, total - 1)
  return wrk.format("GET", prefix .. "v" .. math.floor(i / 100) .. "/f" .. i .. ".bin")
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

if ((want_depot || want_nginx)); then
    log "writing $BIG_LABEL of random data to $BIG"
    head -c "$BIG_BYTES" /dev/urandom > "$BIG" || { error "could not create $BIG"; exit 1; }
fi
BIG_SHA=""
if ((want_depot)) && command -v sha256sum >/dev/null 2>&1; then
    BIG_SHA=$(sha256sum "$BIG" | awk '{ print $1 }')
fi

# ---------------------------------------------------------------- the workload (same for both servers)
# fill NAME BASE_URL MODE PREFIX TOTAL AUTH HEALTH_PATH [PACKAGES VERSIONS FILES]: PUTs TOTAL
# files with fill.lua (see there) by FILL_CONNS clients; sets FILL_RATE (files/s)
fill() {
    local name=$1 base=$2 mode=$3 prefix=$4 total=$5 auth=$6 health=$7
    shift 7
    local mk="$T/fill-$name" out="$T/wrk-fill-$name.txt" pid n f a b ok=0 bad=0 t0 t1
    FILL_RATE=""
    rm -rf "$mk"; mkdir -p "$mk"
    t0=$(date +%s.%N)
    wrk -t"$THREADS" -c"$FILL_CONNS" -d"${FILL_TIMEOUT}s" --timeout 30s -s "$T/fill.lua" "$base/" -- \
        "$mode" "$prefix" "$total" "$mk" "$THREADS" "$auth" "$health" "$@" > "$out" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    while kill -0 "$pid" 2>/dev/null; do
        n=$(find "$mk" -name 'done-*' | wc -l)
        ((n >= THREADS)) && break
        sleep 0.2
    done
    t1=$(date +%s.%N)
    kill -INT "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    forget_pid "$pid"
    for f in "$mk"/done-*; do
        [[ -f $f ]] || continue
        read -r a b < "$f"
        ok=$((ok + a)); bad=$((bad + b))
    done
    if ((ok != total)); then
        error "$name: fill of $total files: $ok answered 201, $bad did not (wrk: $(tail -n 3 "$out" | tr '\n' ' '))"
        return 1
    fi
    FILL_RATE=$(awk -v n="$total" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')
    log "$name: $total files written, $FILL_RATE files/s"
}

# bench_target NAME BASE_URL PUT_PREFIX_PATH AUTH_HEADER(or "") RANDOM_FILES_PREFIX SERVER_PIDS...
bench_target() {
    local name=$1 base=$2 prefix=$3 auth=$4 rand_prefix=$5
    shift 5
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

    # -- the same GET with a token (nginx gets the same header and ignores it)
    local token_value=${TOKEN:-depot_nginx-ignores-this-header}
    log "$name: GET 4 KiB with Authorization: token, ${THREADS} threads, $GET_CONNS connections, ${DURATION}s"
    if run_wrk "$name-get-token" "$GET_CONNS" -H "Authorization: token $token_value" "$get_url"; then
        R[$name.get_tok_rate]=$WRK_RATE
        result "$name GET 4KiB with a token, rate ($GET_CONNS conns)" "$WRK_RATE" "req/s"
        result "$name GET 4KiB with a token, p99 latency" "$WRK_P99_MS" "ms"
        ((WRK_BAD > 0)) && error "$name GET with a token: $WRK_BAD of $WRK_REQS responses were not 2xx/3xx"
        [[ -n "$WRK_SOCKERR" ]] && note "$name GET with a token: $WRK_SOCKERR"
        [[ $name == nginx ]] && note "nginx GET with a token: the same Authorization header is sent; nginx ignores it (no auth configured)"
    fi

    # -- random GETs among N small files
    log "$name: writing $N files of 4 KiB under $rand_prefix for the random GETs"
    if fill "$name-rand" "$base" flat "$rand_prefix" "$N" "$auth" "$prefix/get-4k.bin"; then
        result "$name fill: $N files of 4 KiB ($FILL_CONNS conns)" "$FILL_RATE" "files/s"
        log "$name: GET a random one of $N files, ${THREADS} threads, $GET_CONNS connections, ${DURATION}s"
        if run_wrk "$name-rand" "$GET_CONNS" -s "$T/rand.lua" "$base/" -- "$rand_prefix" "$N"; then
            R[$name.rand_rate]=$WRK_RATE
            result "$name GET random 4KiB among $N files, rate ($GET_CONNS conns)" "$WRK_RATE" "req/s"
            result "$name GET random 4KiB among $N files, p99 latency" "$WRK_P99_MS" "ms"
            ((WRK_BAD > 0)) && error "$name random GET: $WRK_BAD of $WRK_REQS responses were not 2xx/3xx"
            [[ -n "$WRK_SOCKERR" ]] && note "$name random GET: $WRK_SOCKERR"
        fi
    fi

    # -- 4 KiB PUT, every request a new file name. Write back what the runs before left
    # dirty first (the previous target's GiB uploads): a PUT run measured while the kernel
    # writes back gigabytes measures that writeback, and the ratio with it.
    sync
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
# new_depot_db DIR: a fresh database DIR/depot.redb with the admin user; sets TOKEN to a new
# token of that user (the CLI opens the file, so this runs while no server holds it)
new_depot_db() {
    local d=$1 db=$1/depot.redb
    mkdir -p "$d"
    if ! printf '%s\n' "$USER_PASS" | "$DEPOT_BIN" --db "$db" user add "$USER_NAME" --admin --password-stdin \
            > "$d/useradd.out" 2>&1; then
        error "depot: 'user add' failed: $(tr '\n' ' ' < "$d/useradd.out")"
        return 1
    fi
    if ! TOKEN=$("$DEPOT_BIN" --db "$db" token create "$USER_NAME" --name bench 2> "$d/token.err" | tail -n 1) \
            || [[ $TOKEN != depot_* ]]; then
        error "depot: 'token create' failed: $(tr '\n' ' ' < "$d/token.err")"
        return 1
    fi
}

# start_depot DIR: serves DIR/depot.redb on a free port; sets SPID and SPORT. A port found
# free can be taken before depot binds it (or be held by a closed connection in TIME_WAIT),
# so a start that fails with "Address already in use" is tried again on another port.
start_depot() {
    local try rc
    for try in 1 2 3 4 5; do
        start_depot_once "$@"; rc=$?
        ((rc == 2)) || return $rc
        log "depot: port taken, trying another one"
    done
    error "depot: no port could be bound after 5 tries"
    return 1
}
start_depot_once() {
    local d=$1 i code="" pid port
    port=$(free_port) || { error "depot: no free port found"; return 1; }
    local off
    off=$(stat -c %s "$d/server.log" 2>/dev/null || echo 0)
    log "depot: starting on 127.0.0.1:$port with $d/depot.redb"
    NO_COLOR=1 "$DEPOT_BIN" --db "$d/depot.redb" serve --listen "127.0.0.1:$port" --file-cache-mib "$FILE_CACHE_MIB" >> "$d/stdout.log" 2>> "$d/server.log" &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 600; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            if tail -c +$((off + 1)) "$d/server.log" | grep -q 'Address already in use'; then wait "$pid"; forget_pid "$pid"; return 2; fi
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
    SPID=$pid; SPORT=$port
}

# stop_depot DIR PID: SIGTERM, then checks the exit status and the log for panics
stop_depot() {
    local d=$1 pid=$2 code
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
}

run_depot() {
    local d="$T/depot" version
    version=$("$DEPOT_BIN" --version 2>/dev/null | head -n 1)
    note "depot: $DEPOT_BIN${version:+ ($version)}"
    new_depot_db "$d" || return 1
    start_depot "$d" || return 1

    bench_target depot "http://127.0.0.1:$SPORT" "/api/packages/$USER_NAME/generic/pkg/1.0" "$AUTH_HEADER" \
        "/api/packages/$USER_NAME/generic/rand/" "$SPID"

    stop_depot "$d" "$SPID" || return 1
    note "depot: database file after the run: $(du -k "$d/depot.redb" | awk '{ printf "%.1f MiB", $1 / 1024 }'), server log $(wc -l < "$d/server.log") lines"
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
    bench_target nginx "http://127.0.0.1:$port" "/dav/pkg/1.0" "" "/dav/rand/" "$pid" $master_children

    kill -0 "$pid" 2>/dev/null || { error "nginx died during the benchmark"; forget_pid "$pid"; return 1; }
    log "nginx: stopping"
    stop_pid "$pid" 15
    wait "$pid" 2>/dev/null
    forget_pid "$pid"
    [[ "$KEEP_TMP" == 1 ]] || rm -rf "$n/www"   # free the disk
}

# ---------------------------------------------------------------- list timings (depot only)
# list_shape FILES: sets SHAPE_P SHAPE_V SHAPE_K, the issue's shape at 300,000 files (1,000
# packages, one with 20,000 versions, one version with 5,000 files) scaled to FILES
list_shape() {
    local f=$1
    SHAPE_P=$(((1000 * f + 150000) / 300000)); ((SHAPE_P < 2)) && SHAPE_P=2
    SHAPE_V=$(((20000 * f + 150000) / 300000)); ((SHAPE_V < 2)) && SHAPE_V=2
    SHAPE_K=$(((5000 * f + 150000) / 300000)); ((SHAPE_K < 1)) && SHAPE_K=1
}

# time_list LABEL URL REPEAT: REPEAT sequential GETs on one connection; sets LT_MED LT_P90 (ms)
# and LT_BYTES, the size of the answer
time_list() {
    local label=$1 url=$2 n=$3 urls=() i out
    for ((i = 0; i < n; i++)); do urls+=(-o /dev/null "$url"); done   # -o counts per URL
    out=$(curl -sS -w '%{http_code} %{time_total} %{size_download}\n' "${urls[@]}" 2>&1)
    LT_MED=""; LT_P90=""; LT_BYTES=""
    if awk '$1 != 200 { bad = 1 } END { exit !bad }' <<< "$out" || (($(wc -l <<< "$out") != n)); then
        error "$label: GET $url did not answer 200 every time: $(sort <<< "$out" | uniq -c | head -n 3 | tr '\n' ' ')"
        return 1
    fi
    LT_BYTES=$(awk 'NR == 1 { print $3 }' <<< "$out")
    read -r LT_MED LT_P90 < <(awk '{ print $2 * 1000 }' <<< "$out" | sort -n | awk '{ a[NR] = $1 }
        END { m = a[int((NR + 1) / 2)]; p = int(NR * 0.9 + 0.999); if (p < 1) p = 1; printf "%.2f %.2f\n", m, a[p] }')
}

run_lists() {
    local sizes=(1000) f d e page pages mid total url key base cold=""
    LIST_SIZES=()
    ((LIST_FILES > 1000)) && sizes+=("$LIST_FILES")
    [[ $DROP_CACHES == 1 ]] && cold=" and a drop of the page cache"
    note "list timings, depot only (nginx has no list API): a fresh database per size in the issue's shape; page size limit=$LIST_LIMIT; warm = $LIST_REPEAT GETs in a row on one connection; cold = the first GET after a restart$cold"
    for f in "${sizes[@]}"; do
        list_shape "$f"
        d="$T/lists-$f"
        note "lists at $f files: $SHAPE_P packages; package big has $SHAPE_V versions, its version 1.0.0 holds $SHAPE_K files; the other packages one file per version"
        new_depot_db "$d" || return 1
        start_depot "$d" || return 1
        base="http://127.0.0.1:$SPORT"
        log "lists: writing $f files"
        if ! fill "lists-$f" "$base" shape "/api/packages/$USER_NAME/generic/" "$f" "$AUTH_HEADER" /healthz \
                "$SHAPE_P" "$SHAPE_V" "$SHAPE_K"; then
            stop_depot "$d" "$SPID"; return 1
        fi
        result "depot fill: $f files in the list shape ($FILL_CONNS conns)" "$FILL_RATE" "files/s"
        for e in packages versions files; do
            case $e in
                packages) total=$SHAPE_P; url="/api/v1/packages/$USER_NAME" ;;
                versions) total=$SHAPE_V; url="/api/v1/packages/$USER_NAME/generic/big" ;;
                files) total=$SHAPE_K; url="/api/v1/packages/$USER_NAME/generic/big/1.0.0/files" ;;
            esac
            # The owner's list has one item per version (Gitea's shape): the server's count
            # decides where the middle page is.
            total=$(curl -sS -D - -o /dev/null "$base$url?limit=1" | tr -d '\r' |
                awk -F': ' -v t="$total" 'tolower($1) == "x-total-count" { t = $2 } END { print t + 0 }')
            pages=$(((total + LIST_LIMIT - 1) / LIST_LIMIT))
            mid=$(((pages + 1) / 2))
            for page in 1 $( ((mid > 1)) && echo "$mid"); do
                key=$e.first
                ((page > 1)) && key=$e.mid
                R[list.$f.$key.page]=$page
                # cold: a restart (and the page cache dropped, with DROP_CACHES=1) before the first GET
                stop_depot "$d" "$SPID" || return 1
                if [[ $DROP_CACHES == 1 ]]; then
                    sync; { echo 3 > /proc/sys/vm/drop_caches; } 2>/dev/null || note "could not drop the page cache (needs root)"
                fi
                start_depot "$d" || return 1
                base="http://127.0.0.1:$SPORT"
                time_list "lists $e" "$base$url?page=$page&limit=$LIST_LIMIT" 1 || continue
                R[list.$f.$key.cold]=$LT_MED
                time_list "lists $e" "$base$url?page=$page&limit=$LIST_LIMIT" "$LIST_REPEAT" || continue
                R[list.$f.$key.med]=$LT_MED
                result "depot list $e page $page at $f files, cold" "${R[list.$f.$key.cold]}" "ms"
                result "depot list $e page $page at $f files, warm median" "$LT_MED" "ms"
                result "depot list $e page $page at $f files, warm p90" "$LT_P90" "ms"
                note "list $e page $page at $f files ($total in the list) answers $LT_BYTES bytes"
            done
        done
        stop_depot "$d" "$SPID" || return 1
        LIST_SIZES+=("$f")
        note "lists at $f files: database file $(du -k "$d/depot.redb" | awk '{ printf "%.1f MiB", $1 / 1024 }')"
        [[ "$KEEP_TMP" == 1 ]] || rm -rf "$d"
    done
}

# ---------------------------------------------------------------- main
note "depot benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), $(nproc) CPUs; DURATION=${DURATION}s BIG_MB=$BIG_MB THREADS=$THREADS GET_CONNS=$GET_CONNS PUT_CONNS=$PUT_CONNS PAR_UPLOADS=$PAR_UPLOADS N=$N FILL_CONNS=$FILL_CONNS LIST=$LIST LIST_FILES=$LIST_FILES LIST_LIMIT=$LIST_LIMIT"
[[ -n "$nginx_skip_reason" ]] && note "$nginx_skip_reason"
for t in $TARGETS; do
    case "$t" in
        depot) ((want_depot)) && { run_depot || log "depot run incomplete"; } ;;
        nginx) ((want_nginx)) && { run_nginx || log "nginx run incomplete"; } ;;
        lists) ((want_lists)) && { run_lists || log "list timings incomplete"; } ;;
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
    ratio "GET 4KiB rate with a token (nginx ignores it)" get_tok_rate 0.8
    ratio "GET random 4KiB among $N files rate" rand_rate 0.7
    ratio "PUT 4KiB rate (durable)" put_rate 0.6
    ratio "$BIG_LABEL download MB/s" down 0.6
    ratio "$BIG_LABEL upload MB/s" up 0.5
fi

# list floors: a warm page within LIST_MAX_MS at the largest size, and within 2x of the same
# page's cost at 1,000 files (its first page when 1,000 files make one page only)
if ((want_lists)) && ((${#LIST_SIZES[@]})); then
    big=${LIST_SIZES[-1]}
    for e in packages versions files; do
        for pos in first mid; do
            k=list.$big.$e.$pos
            [[ -n ${R[$k.med]:-} ]] || continue
            l="depot list $e page ${R[$k.page]} at $big files, warm median"
            awk -v a="${R[$k.med]}" -v lim="$LIST_MAX_MS" -v l="$l" 'BEGIN {
                printf "%-62s %12.2f %-6s  limit <= %g ms: %s\n", l, a, "ms", lim, (a <= lim ? "ok" : "ABOVE") }'
            ((big > 1000)) || continue
            small=${R[list.1000.$e.$pos.med]:-${R[list.1000.$e.first.med]:-}}
            l="ratio list $e page ${R[$k.page]}, $big/1000 files, warm median"
            if [[ -z $small ]]; then result "$l" "n/a" "" "(a measurement is missing)"; continue; fi
            awk -v a="${R[$k.med]}" -v b="$small" -v l="$l" 'BEGIN {
                if (b <= 0) { printf "%-62s %12s\n", l, "n/a"; exit }
                r = a / b
                printf "%-62s %12.2f %-6s  limit <= 2.0x: %s\n", l, r, "x", (r <= 2 ? "ok" : "ABOVE") }'
        done
    done
fi

if ((ERRORS > 0)); then
    note "$ERRORS error(s); exit status 1"
    exit 1
fi
exit 0
