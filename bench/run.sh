#!/usr/bin/env bash
# The benchmark harness of icepeak-rs (issue 9; figures and their meaning in PERFORMANCE.md).
#
#   bench/run.sh                 every scenario, median of 3 repetitions (about 10 minutes)
#   bench/run.sh --quick         1 repetition, shorter runs, smaller K (about 3 minutes)
#   bench/run.sh S4 [S6 ...]     only these scenarios (S1 S2 S2d S3 S4 S5 S6)
#
# It installs what it needs (Debian: wrk, redis-server, nginx), builds the server and the load
# generator (bench/loadgen) with --release, pins the server (and each baseline server) to core 0
# and every load generator to core 1, starts and stops everything itself on 127.0.0.1, and
# prints one line per scenario: medians, and the ratio to the baseline measured in the same run.
# Server CPU is read from /proc/<pid>/stat (utime+stime) before and after each measured run.
# Every loop is bounded in count and time; every external command runs under `timeout`.
#
# Environment: REPS=N overrides the repetitions, S4_KS="100 10000" the fan-out sizes, S5_N the
# idle WebSockets of S5; KEEP=1 keeps the work directory (/tmp/icepeak-bench.*) with the logs
# of every server.
set -uo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
QUICK=0
ONLY=()
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        S1 | S2 | S2d | S3 | S4 | S5 | S6) ONLY+=("$arg") ;;
        s1 | s2 | s2d | s3 | s4 | s5 | s6) ONLY+=("S${arg#s}") ;;
        *) echo "run.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
    esac
done
[ ${#ONLY[@]} -eq 0 ] && ONLY=(S1 S2 S2d S3 S4 S5 S6)
wanted() { local s; for s in "${ONLY[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

if [ $QUICK = 1 ]; then
    REPS=${REPS:-1}; DUR=2; S4_KS=${S4_KS:-"100 1000"}; S4_DUR=3; S5_N=${S5_N:-2000}; STALL_DUR=4
else
    REPS=${REPS:-3}; DUR=5; S4_KS=${S4_KS:-"100 1000 10000"}; S4_DUR=8; S5_N=${S5_N:-10000}; STALL_DUR=10
fi
BIG_MB=100
S4_OTHERS=1000          # subscribers on unrelated paths / channels
S4_NOTIF_RATE=50000     # offered notifications per second: PUT rate = this / K
# Below the ephemeral range (32768-60999 by default): a client socket of an earlier run that
# happens to hold one of these ports in TIME_WAIT would otherwise make the next bind fail.
P_ICE=21080; P_NGINX=21081; P_REDIS=21082; P_METRICS=21083
SMALL='{"age":42,"name":"Alice"}'
read -r EPH_LOW EPH_HIGH </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || EPH_LOW=32768 EPH_HIGH=60999
if [ "$P_METRICS" -ge "$EPH_LOW" ] && [ "$P_ICE" -le "$EPH_HIGH" ]; then
    echo "run.sh: warning: ports $P_ICE-$P_REDIS are inside the ephemeral range $EPH_LOW-$EPH_HIGH" >&2
fi

log() { printf '%s\n' "$*" >&2; }
die() { log "run.sh: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Setup: packages, builds, cores, limits, work directory.

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
command -v nginx >/dev/null && [ -x "$(command -v nginx)" ] || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
command -v taskset >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
    log "installing: ${need[*]}"
    [ "$(id -u)" = 0 ] || die "need root to apt-get install ${need[*]}"
    timeout 600 apt-get update -qq >/dev/null || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "${need[@]}" >/dev/null \
        || die "apt-get install ${need[*]} failed"
fi

log "building the server and the load generator (--release)"
(cd "$ROOT" && timeout 1800 cargo build --release --quiet --bin icepeak) || die "server build failed"
(cd "$BENCH/loadgen" && timeout 1800 cargo build --release --quiet) || die "loadgen build failed"

WORK=$(mktemp -d /tmp/icepeak-bench.XXXXXX)
# Private copies: a rebuild during the run cannot swap the binaries under the benchmark.
cp "${CARGO_TARGET_DIR:-$ROOT/target}/release/icepeak" "$WORK/icepeak" || die "no server binary"
cp "${CARGO_TARGET_DIR:-$BENCH/loadgen/target}/release/icepeak-loadgen" "$WORK/loadgen" \
    || die "no loadgen binary"
ICEPEAK="$WORK/icepeak"
LG="$WORK/loadgen"
RES="$WORK/results"
mkdir -p "$RES" "$BENCH/results"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW="$BENCH/results/raw-$STAMP.log"
SUMMARY="$BENCH/results/summary-$STAMP.txt"
: >"$RAW"

if [ "$(nproc)" -ge 2 ]; then
    PIN_S=(taskset -c 0); PIN_L=(taskset -c 1); PINNING="server core 0, load generator core 1"
else
    PIN_S=(); PIN_L=(); PINNING="no pinning (one core)"
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
CLK=$(getconf CLK_TCK)

STARTED=()
cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Helpers.

raw() { printf '%s\n' "$*" >>"$RAW"; }
record() { printf '%s\n' "$2" >>"$RES/$1"; }   # record NAME VALUE (one repetition)
med() {                                        # median of the repetitions of NAME
    [ -s "$RES/$1" ] || { echo nan; return; }
    sort -g "$RES/$1" | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}
maxof() { [ -s "$RES/$1" ] && sort -g "$RES/$1" | tail -1 || echo nan; }
sumof() { [ -s "$RES/$1" ] && awk '{s+=$1} END {print s+0}' "$RES/$1" || echo nan; }
calc() { awk "BEGIN { x = $1; if (x != x) print \"nan\"; else printf \"${2:-%.2f}\", x }" 2>/dev/null || echo nan; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b + 0 == 0) print "nan"; else printf "%.2f", a / b }'; }
# verdict RATIO <=|>=|< TARGET
verdict() {
    awk -v r="$1" -v op="$2" -v t="$3" 'BEGIN {
        if (r == "nan") { print "n/a"; exit }
        ok = (op == "<=") ? (r + 0 <= t + 0) : (op == ">=") ? (r + 0 >= t + 0) : (r + 0 < t + 0)
        print (ok ? "MET" : "MISSED") }'
}
kv() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k {print $2; exit}'; }   # kv KEY LINE
ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
si() { awk -v x="$1" 'BEGIN { if (x == "nan") print "nan"; else if (x >= 1e6) printf "%.2fM", x/1e6; else if (x >= 1e4) printf "%.0fk", x/1e3; else printf "%.0f", x }'; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {  # wait_port PORT PID: until something listens (at most 60 s)
    local i
    for i in $(seq 1 1200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
stop_pid() {  # SIGTERM, up to 30 s, then SIGKILL
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# start_icepeak DIR [FLAGS...]: sets ICE_PID.
start_icepeak() {
    local dir=$1; shift
    mkdir -p "$dir"
    port_free $P_ICE || die "port $P_ICE is in use"
    "${PIN_S[@]}" "$ICEPEAK" --data-file "$dir/icepeak.json" --host 127.0.0.1 --port $P_ICE \
        --max-connections 16000 "$@" >"$dir/server.log" 2>&1 &
    ICE_PID=$!
    STARTED+=("$ICE_PID")
    wait_port $P_ICE "$ICE_PID" || { cat "$dir/server.log" >&2; die "icepeak did not start"; }
}

# start_nginx: one process (no master), one worker's worth of work, serving $WORK/www.
start_nginx() {
    local dir="$WORK/nginx"
    mkdir -p "$dir" "$WORK/www"
    local small
    small=$(cat "$WORK/www/small.json")
    cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
error_log $dir/error.log;
pid $dir/nginx.pid;
events { worker_connections 16000; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000000;
    keepalive_timeout 120;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$P_NGINX;
        root $WORK/www;
        location = /return { default_type application/json; return 200 '$small'; }
        location / { default_type application/json; }
    }
}
EOF
    port_free $P_NGINX || die "port $P_NGINX is in use"
    "${PIN_S[@]}" nginx -p "$dir/" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
    NGINX_PID=$!
    STARTED+=("$NGINX_PID")
    wait_port $P_NGINX "$NGINX_PID" || { cat "$dir/error.log" "$dir/stdout.log" >&2; die "nginx did not start"; }
}

# start_redis: no persistence (no RDB, no AOF).
start_redis() {
    local dir="$WORK/redis"
    mkdir -p "$dir"
    port_free $P_REDIS || die "port $P_REDIS is in use"
    "${PIN_S[@]}" redis-server --port $P_REDIS --bind 127.0.0.1 --protected-mode no --save '' \
        --appendonly no --daemonize no --maxclients 12000 --dir "$dir" \
        --logfile "$dir/redis.log" &
    REDIS_PID=$!
    STARTED+=("$REDIS_PID")
    wait_port $P_REDIS "$REDIS_PID" || { cat "$dir/redis.log" >&2; die "redis did not start"; }
}

# run_wrk NAME PID CONNS URL [LUA [LUA-ARGS...]]: one measured wrk run; records NAME.rps,
# NAME.cpu_us (server CPU per request), NAME.p99_us, NAME.errors.
run_wrk() {
    local name=$1 pid=$2 conns=$3 url=$4 lua=${5:-}
    local args=(-t1 "-c$conns" "-d${DUR}s" --latency)
    [ -n "$lua" ] && args+=(-s "$lua" "$url" -- "${@:6}") || args+=("$url")
    local t0 t1 out
    t0=$(ticks "$pid")
    out=$("${PIN_L[@]}" timeout $((DUR + 30)) wrk "${args[@]}" 2>&1)
    t1=$(ticks "$pid")
    raw "[$name] wrk ${args[*]}"; raw "$out"
    local reqs rps p99 errors
    reqs=$(awk '/requests in/ {print $1; exit}' <<<"$out")
    rps=$(awk '/^Requests\/sec/ {print $2; exit}' <<<"$out")
    p99=$(awk '$1 == "99%" { v = $2; u = v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v);
          m = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1e6 : 1; print v * m; exit }' <<<"$out")
    errors=$(awk '/Non-2xx/ {s += $NF} /Socket errors/ { gsub(/,/, ""); s += $4 + $6 + $8 + $10 } END {print s + 0}' <<<"$out")
    if [ -z "$reqs" ] || [ "$reqs" = 0 ]; then
        log "  $name: wrk failed: $(tail -3 <<<"$out")"
        return 1
    fi
    record "$name.rps" "$rps"
    record "$name.cpu_us" "$(calc "($t1 - $t0) / $CLK * 1e6 / $reqs" %.3f)"
    record "$name.p99_us" "${p99:-nan}"
    record "$name.errors" "$errors"
    raw "[$name] server ticks $t0 -> $t1, requests $reqs, errors $errors"
}

# run_rb NAME PID N COMMAND...: one redis-benchmark run (50 connections, no pipelining).
run_rb() {
    local name=$1 pid=$2 n=$3; shift 3
    local t0 t1 out rps
    t0=$(ticks "$pid")
    out=$("${PIN_L[@]}" timeout $((DUR * 6 + 30)) redis-benchmark -h 127.0.0.1 -p $P_REDIS \
        -c 50 -P 1 -n "$n" -q "$@" 2>&1 | tr '\r' '\n' | grep 'requests per second' | tail -1)
    t1=$(ticks "$pid")
    raw "[$name] redis-benchmark -c 50 -P 1 -n $n $*: $out"
    rps=$(grep -o '[0-9.]* requests per second' <<<"$out" | awk '{print $1}')
    [ -n "$rps" ] || { log "  $name: redis-benchmark failed"; return 1; }
    record "$name.rps" "$rps"
    record "$name.cpu_us" "$(calc "($t1 - $t0) / $CLK * 1e6 / $n" %.3f)"
}

# redis_n COMMAND...: how many requests make a run of about DUR seconds (from a 1 s probe).
redis_n() {
    local out rps
    out=$("${PIN_L[@]}" timeout 60 redis-benchmark -h 127.0.0.1 -p $P_REDIS -c 50 -P 1 -n 50000 -q "$@" 2>&1 \
        | tr '\r' '\n' | grep 'requests per second' | tail -1)
    rps=$(grep -o '[0-9.]* requests per second' <<<"$out" | awk '{print $1}')
    calc "${rps:-50000} * $DUR" %.0f
}

# The share of both cores busy with other work over one second (this script runs nothing then).
foreign_busy() {
    local a b
    a=$(head -1 /proc/stat); sleep 1; b=$(head -1 /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { n = split(a, x, " "); split(b, y, " "); t = 0
        for (i = 2; i <= n; i++) t += y[i] - x[i]
        idle = (y[5] - x[5]) + (y[6] - x[6]); printf "%.0f\n", (t > 0) ? 100 * (t - idle) / t : 0 }'
}
# Before each scenario: wait (at most 15 seconds) until other processes use under 15% of the
# machine; the figures of a scenario that started on a busy machine are marked.
BUSY_NOTE=""
settle_machine() {
    local busy i
    for i in $(seq 1 10); do
        busy=$(foreign_busy)
        [ "$busy" -lt 15 ] && break
        [ "$i" = 1 ] && log "  waiting for other processes to calm down (machine ${busy}% busy)"
        sleep 0.5
    done
    BUSY_NOTE=""
    [ "$busy" -ge 15 ] && BUSY_NOTE=" [machine ${busy}% busy with other work at start]"
    raw "[settle] foreign busy ${busy}%"
}

OUT_LINES=()
line() {  # one result line: printed now and repeated in the summary at the end
    OUT_LINES+=("$*$BUSY_NOTE")
    printf '%s\n' "$*$BUSY_NOTE"
}

# ---------------------------------------------------------------------------------------------
# Scenarios.

s1() {
    log "S1: GET of a small value, 50 keep-alive connections"
    start_icepeak "$WORK/s1"
    mkdir -p "$WORK/www"
    [ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary "$SMALL" "http://127.0.0.1:$P_ICE/small")" = 202 ] \
        || die "S1: PUT /small failed"
    curl -s "http://127.0.0.1:$P_ICE/small" >"$WORK/www/small.json"
    start_nginx
    cmp -s <(curl -s "http://127.0.0.1:$P_NGINX/return") "$WORK/www/small.json" || die "S1: nginx return body differs"
    cmp -s <(curl -s "http://127.0.0.1:$P_NGINX/small.json") "$WORK/www/small.json" || die "S1: nginx file body differs"
    start_redis
    redis-cli -p $P_REDIS set small "$(cat "$WORK/www/small.json")" >/dev/null
    local n
    n=$(redis_n GET small)
    local rep
    for rep in $(seq 1 "$REPS"); do
        run_wrk S1.ice "$ICE_PID" 50 "http://127.0.0.1:$P_ICE/small"
        run_wrk S1.ngret "$NGINX_PID" 50 "http://127.0.0.1:$P_NGINX/return"
        run_wrk S1.ngfile "$NGINX_PID" 50 "http://127.0.0.1:$P_NGINX/small.json"
        run_rb S1.redis "$REDIS_PID" "$n" GET small
    done
    stop_pid "$ICE_PID"; stop_pid "$NGINX_PID"; stop_pid "$REDIS_PID"
    local c_ice c_ret c_file c_red r
    c_ice=$(med S1.ice.cpu_us); c_ret=$(med S1.ngret.cpu_us); c_file=$(med S1.ngfile.cpu_us); c_red=$(med S1.redis.cpu_us)
    r=$(ratio "$c_ice" "$c_ret")
    line "S1   GET small ($(wc -c <"$WORK/www/small.json") B), 50 conns | icepeak $(si "$(med S1.ice.rps)") req/s, ${c_ice} us CPU/req, p99 $(med S1.ice.p99_us) us, errors $(sumof S1.ice.errors) | nginx return $(si "$(med S1.ngret.rps)")/s ${c_ret} us | nginx file $(si "$(med S1.ngfile.rps)")/s ${c_file} us | redis GET $(si "$(med S1.redis.rps)")/s ${c_red} us | CPU/req vs nginx-return x$r (target <= 0.8: $(verdict "$r" '<=' 0.8)), vs nginx-file x$(ratio "$c_ice" "$c_file"), vs redis x$(ratio "$c_ice" "$c_red"); req/s vs nginx-return x$(ratio "$(med S1.ice.rps)" "$(med S1.ngret.rps)")"
}

s2() {
    log "S2: PUT of small values to random paths among 1,000 (write-ahead log on)"
    start_icepeak "$WORK/s2"
    start_redis
    local n rep
    n=$(redis_n -r 1000 SET 'key:__rand_int__' "$SMALL")
    for rep in $(seq 1 "$REPS"); do
        run_wrk S2.ice "$ICE_PID" 50 "http://127.0.0.1:$P_ICE/" "$BENCH/wrk/put_random.lua"
        run_rb S2.redis "$REDIS_PID" "$n" -r 1000 SET 'key:__rand_int__' "$SMALL"
    done
    local got
    got=$(curl -s "http://127.0.0.1:$P_ICE/bench/k1")
    [ "$got" = "$SMALL" ] || log "  S2: GET /bench/k1 answered '$got' (expected $SMALL)"
    stop_pid "$ICE_PID"; stop_pid "$REDIS_PID"
    local c_ice c_red r
    c_ice=$(med S2.ice.cpu_us); c_red=$(med S2.redis.cpu_us)
    r=$(ratio "$c_ice" "$c_red")
    line "S2   PUT small, 1,000 paths, 50 conns, log on | icepeak $(si "$(med S2.ice.rps)") req/s, ${c_ice} us CPU/req, p99 $(med S2.ice.p99_us) us, errors $(sumof S2.ice.errors) | redis SET $(si "$(med S2.redis.rps)")/s ${c_red} us | CPU/req vs redis x$r (target <= 1.0: $(verdict "$r" '<=' 1.0)); req/s vs redis x$(ratio "$(med S2.ice.rps)" "$(med S2.redis.rps)")"
}

# metric NAME: a value from the server's metrics port (empty without one).
metric() { curl -s -m 5 "http://127.0.0.1:$P_METRICS/metrics" 2>/dev/null | awk -v n="$1" '$1 == n {print $2; exit}'; }

s2d() {
    log "S2d: durable PUTs (?durable), 50 writers"
    local mflags=()
    "$ICEPEAK" --help 2>/dev/null | grep -q -- '--metrics' && mflags=(--metrics "127.0.0.1:$P_METRICS")
    start_icepeak "$WORK/s2d" "${mflags[@]}"
    local rep out c0 s0 c1 s1
    for rep in $(seq 1 "$REPS"); do
        c0=$(metric icepeak_wal_fsync_duration_seconds_count); s0=$(metric icepeak_wal_fsync_duration_seconds_sum)
        run_wrk S2d.ice "$ICE_PID" 50 "http://127.0.0.1:$P_ICE/" "$BENCH/wrk/put_random.lua" durable
        c1=$(metric icepeak_wal_fsync_duration_seconds_count); s1=$(metric icepeak_wal_fsync_duration_seconds_sum)
        if [ -n "$c0" ] && [ -n "$c1" ]; then
            record S2d.ice.fsyncs "$(calc "$c1 - $c0" %.0f)"
            record S2d.ice.fsync_ms "$(calc "($s1 - $s0) * 1000 / ($c1 - $c0)" %.3f)"
            raw "[S2d.ice] fsyncs during the run: $(calc "$c1 - $c0" %.0f), mean $(calc "($s1 - $s0) * 1000 / ($c1 - $c0)" %.3f) ms"
        fi
        out=$("${PIN_S[@]}" timeout $((DUR + 30)) "$LG" fsync --dir "$WORK/s2d" --seconds "$DUR")
        raw "[S2d.fsync] $out"
        record S2d.fsync.per_s "$(kv per_s "$out")"
        record S2d.fsync.ms "$(kv avg_ms "$out")"
    done
    stop_pid "$ICE_PID"
    local r batch=""
    r=$(ratio "$(med S2d.ice.rps)" "$(med S2d.fsync.per_s)")
    if [ -s "$RES/S2d.ice.fsyncs" ]; then
        batch=", $(calc "$(med S2d.ice.rps) * $DUR / $(med S2d.ice.fsyncs)" %.1f) writes per fsync, its fsyncs took $(med S2d.ice.fsync_ms) ms"
    fi
    line "S2d  durable PUT, 50 writers | icepeak $(si "$(med S2d.ice.rps)") req/s, $(med S2d.ice.cpu_us) us CPU/req, p99 $(med S2d.ice.p99_us) us, errors $(sumof S2d.ice.errors)$batch | one write+fdatasync per write: $(med S2d.fsync.per_s)/s ($(med S2d.fsync.ms) ms each) | durable PUTs/s vs fsync-per-write x$r (target >= 20: $(verdict "$r" '>=' 20))"
}

s3() {
    log "S3: GET of a 1 MB document"
    start_icepeak "$WORK/s3"
    "$LG" gen --out "$WORK/big-src.json" --bytes 1000000 >/dev/null || die "S3: gen failed"
    [ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$WORK/big-src.json" "http://127.0.0.1:$P_ICE/big")" = 202 ] \
        || die "S3: PUT /big failed"
    mkdir -p "$WORK/www"
    [ -f "$WORK/www/small.json" ] || printf '%s' "$SMALL" >"$WORK/www/small.json"
    curl -s "http://127.0.0.1:$P_ICE/big" >"$WORK/www/big.json"
    local size
    size=$(wc -c <"$WORK/www/big.json")
    start_nginx
    cmp -s <(curl -s "http://127.0.0.1:$P_NGINX/big.json") "$WORK/www/big.json" || die "S3: nginx body differs"
    local rep
    for rep in $(seq 1 "$REPS"); do
        run_wrk S3.ice "$ICE_PID" 10 "http://127.0.0.1:$P_ICE/big"
        run_wrk S3.nginx "$NGINX_PID" 10 "http://127.0.0.1:$P_NGINX/big.json"
    done
    stop_pid "$ICE_PID"; stop_pid "$NGINX_PID"
    local b_ice b_ng r
    b_ice=$(calc "$(med S3.ice.rps) * $size" %.0f); b_ng=$(calc "$(med S3.nginx.rps) * $size" %.0f)
    r=$(ratio "$b_ice" "$b_ng")
    line "S3   GET 1 MB ($size B), 10 conns | icepeak $(calc "$b_ice / 1e6" %.0f) MB/s ($(med S3.ice.rps) req/s), $(med S3.ice.cpu_us) us CPU/GET, errors $(sumof S3.ice.errors) | nginx file (sendfile) $(calc "$b_ng / 1e6" %.0f) MB/s, $(med S3.nginx.cpu_us) us CPU/GET | bytes/s vs nginx x$r (target >= 0.7: $(verdict "$r" '>=' 0.7)); CPU/GET vs nginx x$(ratio "$(med S3.ice.cpu_us)" "$(med S3.nginx.cpu_us)")"
}

s4() {
    local k rate n floor_n rounds rep out name
    for k in $S4_KS; do
        if [ $((k + S4_OTHERS + 200)) -gt "$NOFILE" ]; then
            line "S4   K=$k skipped: the open-file limit is $NOFILE"
            continue
        fi
        rate=$(calc "$S4_NOTIF_RATE / $k" %.4g)
        settle_machine
        log "S4: fan-out, K=$k subscribers + $S4_OTHERS elsewhere, $rate PUTs/s for ${S4_DUR}s"
        start_icepeak "$WORK/s4-$k"
        start_redis
        for rep in $(seq 1 "$REPS"); do
            for name in ice redis; do
                local pid=$ICE_PID port=$P_ICE proto=ws
                [ $name = redis ] && { pid=$REDIS_PID; port=$P_REDIS; proto=redis; }
                out=$("${PIN_L[@]}" timeout $((S4_DUR + 120)) "$LG" fanout --proto $proto --port $port \
                    --k "$k" --others $S4_OTHERS --rate "$rate" --duration "$S4_DUR" --settle 3 --pid "$pid" 2>"$WORK/fanout.err")
                raw "[S4.$k.$name] $out"; raw "$(cat "$WORK/fanout.err")"
                if [ -z "$out" ]; then
                    log "  S4 K=$k $name failed: $(tail -3 "$WORK/fanout.err")"
                    continue
                fi
                [ -s "$WORK/fanout.err" ] && log "  S4 K=$k $name: $(head -c 400 "$WORK/fanout.err")"
                local key
                for key in notif_per_s lat_p50_us lat_p99_us fan_p50_us cpu_per_notif_us loadgen_cpu_pct \
                    server_cpu_pct lost skipped_puts not_final disorder spurious conn_errors put_errors \
                    receivers_mismatch server_rss_kb; do
                    record "S4.$k.$name.$key" "$(kv $key "$out")"
                done
                sleep 1
            done
        done
        stop_pid "$ICE_PID"; stop_pid "$REDIS_PID"
        floor_n=$((k < 4000 ? k : 4000))
        rounds=$((200000 / floor_n)); [ $rounds -gt 200 ] && rounds=200
        for rep in $(seq 1 "$REPS"); do
            out=$("${PIN_S[@]}" timeout 120 "$LG" floor --k $floor_n --rounds $rounds --scale-to "$k")
            raw "[S4.$k.floor] $out"
            record "S4.$k.floor.us" "$(kv cpu_per_write_us "$out")"
            record "S4.$k.floor.k_ms" "$(kv k_writes_ms "$out")"
        done
        local p99r cpur
        p99r=$(ratio "$(med S4.$k.ice.lat_p99_us)" "$(med S4.$k.redis.lat_p99_us)")
        cpur=$(ratio "$(med S4.$k.ice.cpu_per_notif_us)" "$(med S4.$k.redis.cpu_per_notif_us)")
        local lostv target=""
        lostv=$(calc "$(sumof S4.$k.ice.lost) + $(sumof S4.$k.ice.not_final)" %.0f)
        if [ "$k" = 10000 ]; then
            target=" (targets: lost = 0 $( [ "$lostv" = 0 ] && echo MET || echo MISSED); p99 <= 0.6x redis $(verdict "$p99r" '<=' 0.6); CPU <= 0.8x redis $(verdict "$cpur" '<=' 0.8))"
        else
            target=" (target: lost = 0 $( [ "$lostv" = 0 ] && echo MET || echo MISSED))"
        fi
        line "S4   K=$k +$S4_OTHERS, $rate PUT/s | icepeak $(si "$(med S4.$k.ice.notif_per_s)") notif/s, lost $lostv, merged PUTs $(sumof S4.$k.ice.skipped_puts), spurious $(sumof S4.$k.ice.spurious), errors $(calc "$(sumof S4.$k.ice.conn_errors) + $(sumof S4.$k.ice.put_errors)" %.0f), p50 $(calc "$(med S4.$k.ice.lat_p50_us) / 1000" %.2f) ms, p99 $(calc "$(med S4.$k.ice.lat_p99_us) / 1000" %.2f) ms, last-delivery p50 $(calc "$(med S4.$k.ice.fan_p50_us) / 1000" %.2f) ms, $(med S4.$k.ice.cpu_per_notif_us) us CPU/notif, loadgen CPU $(med S4.$k.ice.loadgen_cpu_pct)% | redis PUBLISH $(si "$(med S4.$k.redis.notif_per_s)")/s, lost $(calc "$(sumof S4.$k.redis.lost) + $(sumof S4.$k.redis.not_final)" %.0f), p50 $(calc "$(med S4.$k.redis.lat_p50_us) / 1000" %.2f) ms, p99 $(calc "$(med S4.$k.redis.lat_p99_us) / 1000" %.2f) ms, $(med S4.$k.redis.cpu_per_notif_us) us CPU/notif, loadgen CPU $(med S4.$k.redis.loadgen_cpu_pct)% | write floor $(med S4.$k.floor.us) us CPU/write, $(med S4.$k.floor.k_ms) ms per $k writes | p99 vs redis x$p99r, CPU/notif vs redis x$cpur, vs floor x$(ratio "$(med S4.$k.ice.cpu_per_notif_us)" "$(med S4.$k.floor.us)")$target"
    done
}

s5() {
    log "S5: resident memory idle and with $S5_N idle WebSockets"
    if [ $((S5_N + 200)) -gt "$NOFILE" ]; then
        line "S5   skipped: the open-file limit is $NOFILE"
        return
    fi
    local rep out
    for rep in $(seq 1 "$REPS"); do
        start_icepeak "$WORK/s5-$rep"
        sleep 1
        record S5.ice.idle_kb "$(rss_kb "$ICE_PID")"
        out=$("${PIN_L[@]}" timeout 300 "$LG" idle --proto ws --port $P_ICE --n "$S5_N" --pid "$ICE_PID")
        raw "[S5.ice] $out"
        record S5.ice.per_conn "$(kv bytes_per_conn "$out")"
        record S5.ice.after_kb "$(kv rss_after_kb "$out")"
        stop_pid "$ICE_PID"
        start_redis
        sleep 1
        record S5.redis.idle_kb "$(rss_kb "$REDIS_PID")"
        out=$("${PIN_L[@]}" timeout 300 "$LG" idle --proto redis --port $P_REDIS --n "$S5_N" --pid "$REDIS_PID")
        raw "[S5.redis] $out"
        record S5.redis.per_conn "$(kv bytes_per_conn "$out")"
        record S5.redis.after_kb "$(kv rss_after_kb "$out")"
        stop_pid "$REDIS_PID"
    done
    local idle r
    idle=$(med S5.ice.idle_kb)
    r=$(ratio "$(med S5.ice.per_conn)" "$(med S5.redis.per_conn)")
    line "S5   RSS | icepeak idle $(calc "$idle / 1024" %.1f) MB (target < 5 MB: $(verdict "$(calc "$idle / 1024")" '<' 5)), with $S5_N idle WebSockets $(calc "$(med S5.ice.after_kb) / 1024" %.1f) MB = $(med S5.ice.per_conn) B each | redis idle $(calc "$(med S5.redis.idle_kb) / 1024" %.1f) MB, with $S5_N clients $(calc "$(med S5.redis.after_kb) / 1024" %.1f) MB = $(med S5.redis.per_conn) B each | per connection vs redis x$r (target <= 0.4: $(verdict "$r" '<=' 0.4))"
}

s6() {
    log "S6: start-up with the MDN document and a generated ${BIG_MB} MB file; loop stall during snapshots"
    zcat "$ROOT/../shared/data/mdn-browser-compat-data.json.gz" >"$WORK/mdn.json" 2>/dev/null \
        || zcat /work/shared/data/mdn-browser-compat-data.json.gz >"$WORK/mdn.json" \
        || die "S6: cannot unpack the MDN document"
    "$LG" gen --out "$WORK/big.json" --bytes $((BIG_MB * 1000000)) >/dev/null || die "S6: gen failed"
    local rep doc out dir
    for rep in $(seq 1 "$REPS"); do
        for doc in mdn big; do
            dir="$WORK/s6-$doc-$rep"
            mkdir -p "$dir"
            cp "$WORK/$doc.json" "$dir/icepeak.json"
            port_free $P_ICE || die "port $P_ICE is in use"
            out=$("${PIN_L[@]}" timeout 300 "$LG" startup --port $P_ICE --data "$dir/icepeak.json" \
                --log "$dir/server.log" --timeout 120 -- "${PIN_S[@]}" "$ICEPEAK" \
                --data-file "$dir/icepeak.json" --host 127.0.0.1 --port $P_ICE)
            raw "[S6.$doc.ice] $out"
            [ -n "$out" ] || { log "  S6 $doc start-up failed: $(tail -3 "$dir/server.log")"; continue; }
            record "S6.$doc.ice.ms" "$(kv ready_ms "$out")"
            record "S6.$doc.ice.rss_kb" "$(kv rss_kb "$out")"
            record "S6.$doc.ice.hwm_kb" "$(kv hwm_kb "$out")"
            out=$("${PIN_S[@]}" timeout 300 "$LG" naive-load --file "$dir/icepeak.json")
            raw "[S6.$doc.naive] $out"
            record "S6.$doc.naive.ms" "$(kv load_ms "$out")"
            record "S6.$doc.naive.hwm_kb" "$(kv hwm_kb "$out")"
            rm -rf "$dir"
        done
    done
    # Loop stall: snapshots every 500 ms while small PUTs keep the document dirty; a separate
    # connection GETs a small value in a loop. The control run never snapshots. The MDN
    # document is the target; the 100 MB file (full runs, one repetition) shows how it scales.
    local mode interval sdoc reps
    for sdoc in mdn big; do
        reps=$REPS
        if [ $sdoc = big ]; then [ $QUICK = 1 ] && continue; reps=1; fi
        for rep in $(seq 1 "$reps"); do
            for mode in snap control; do
                interval=500ms; [ $mode = control ] && interval=60m
                dir="$WORK/s6-stall-$sdoc-$mode-$rep"
                mkdir -p "$dir"
                cp "$WORK/$sdoc.json" "$dir/icepeak.json"
                start_icepeak "$dir" --sync-interval $interval --sync-log
                out=$("${PIN_L[@]}" timeout $((STALL_DUR + 60)) "$LG" stall --port $P_ICE --duration "$STALL_DUR" --put-rate 200)
                raw "[S6.stall.$sdoc.$mode] $out"
                record "S6.stall.$sdoc.$mode.max_us" "$(kv get_max_us "$out")"
                record "S6.stall.$sdoc.$mode.p99_us" "$(kv get_p99_us "$out")"
                record "S6.stall.$sdoc.$mode.errors" "$(calc "$(kv get_errors "$out") + $(kv put_errors "$out")" %.0f)"
                record "S6.stall.$sdoc.$mode.snapshots" "$(grep -c 'It took' "$dir/server.log")"
                raw "$(grep 'It took' "$dir/server.log" | tr '\n' ' ')"
                stop_pid "$ICE_PID"
                rm -rf "$dir"
            done
        done
    done
    local doc_name r_big
    for doc in mdn big; do
        doc_name="MDN 20 MB"; [ $doc = big ] && doc_name="generated ${BIG_MB} MB"
        local t_ice t_naive
        t_ice=$(med S6.$doc.ice.ms); t_naive=$(med S6.$doc.naive.ms)
        r_big=$(ratio "$t_ice" "$t_naive")
        local target
        if [ $doc = big ]; then
            target="(target <= 0.75 with less memory: $(verdict "$r_big" '<=' 0.75) / memory $(verdict "$(ratio "$(med S6.$doc.ice.hwm_kb)" "$(med S6.$doc.naive.hwm_kb)")" '<' 1))"
        else
            target="(target < 300 ms: $(verdict "$t_ice" '<' 300))"
        fi
        line "S6   start-up, $doc_name | icepeak ready (first correct GET) in $t_ice ms, RSS $(calc "$(med S6.$doc.ice.rss_kb) / 1024" %.0f) MB (peak $(calc "$(med S6.$doc.ice.hwm_kb) / 1024" %.0f) MB) | naive serde_json::Value load $t_naive ms, peak $(calc "$(med S6.$doc.naive.hwm_kb) / 1024" %.0f) MB | time vs naive x$r_big, peak memory vs naive x$(ratio "$(med S6.$doc.ice.hwm_kb)" "$(med S6.$doc.naive.hwm_kb)") $target"
    done
    local stall
    for sdoc in mdn big; do
        [ -s "$RES/S6.stall.$sdoc.snap.max_us" ] || continue
        doc_name="MDN 20 MB document"; reps=$REPS
        [ $sdoc = big ] && { doc_name="generated ${BIG_MB} MB file (for scale, no target)"; reps=1; }
        stall=$(calc "$(maxof S6.stall.$sdoc.snap.max_us) / 1000" %.1f)
        line "S6   loop stall, $doc_name, snapshot every 500 ms, 200 PUT/s | longest GET $stall ms over $reps x ${STALL_DUR}s ($(sumof S6.stall.$sdoc.snap.snapshots) snapshots), GET p99 $(calc "$(med S6.stall.$sdoc.snap.p99_us) / 1000" %.2f) ms, errors $(sumof S6.stall.$sdoc.snap.errors) | control (no snapshot) longest $(calc "$(maxof S6.stall.$sdoc.control.max_us) / 1000" %.1f) ms, p99 $(calc "$(med S6.stall.$sdoc.control.p99_us) / 1000" %.2f) ms$([ $sdoc = mdn ] && echo " | (target < 50 ms: $(verdict "$stall" '<' 50))")"
    done
}

# ---------------------------------------------------------------------------------------------

header="icepeak-rs benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo '+changes'), $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $PINNING, reps $REPS$([ $QUICK = 1 ] && echo ' (quick)'), open files $NOFILE, load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n' "$header"
raw "$header"
START=$(date +%s)
wanted S1 && { settle_machine; s1; }
wanted S2 && { settle_machine; s2; }
wanted S2d && { settle_machine; s2d; }
wanted S3 && { settle_machine; s3; }
wanted S4 && s4
wanted S5 && { settle_machine; s5; }
wanted S6 && { settle_machine; s6; }
footer="done in $(( $(date +%s) - START )) s; load average at end $(cut -d' ' -f1-3 /proc/loadavg); raw output: $RAW"
printf '%s\n' "$footer"
{ printf '%s\n' "$header"; printf '%s\n' "${OUT_LINES[@]}"; printf '%s\n' "$footer"; } >"$SUMMARY"
cp "$SUMMARY" "$BENCH/results/latest.txt"
