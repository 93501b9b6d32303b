#!/usr/bin/env bash
# Side-by-side benchmark of livego and nginx-rtmp (issue: benchmarks; results in docs/BENCHMARKS.md).
#
# Each server runs alone, pinned to CPU 1, logging off, RTMP chunk size 4096; the load generator
# (target/release/livego-bench: one publisher + N players in one process) runs pinned to CPU 0.
# For every step the script samples the server's utime+stime and RSS from /proc, the bytes that
# crossed loopback, and how busy CPU 0 was; a step whose generator core was over 85 % busy is
# marked INVALID (client-bound). livego runs with its defaults unless a step names a setting
# (its extra YAML is recorded as "livego_config"). Scenarios (1 Mbit/s H.264+AAC clip, 2 s GOP):
#   S1 CPU per Gbit/s: 500 and 1000 RTMP players (both servers), the same over HTTP-FLV (livego);
#      livego runs each step twice: with the defaults and as "... audio_wait 0"
#      (`audio_wait_ms: 0`: audio is not held back to go out with video)
#   S2 latency: 10 probe players among 1000 background players, video and audio latency;
#      livego also with `audio_wait_ms: 0` ("... audio_wait 0")
#   S3 first frame: 200 joins spread over 2 GOPs (4 s)
#   S4 memory: RSS at 0 / 500 / 1000 / 2000 players -> KB per player
#   S5 publishers: 500 / 1000 publishers at 600 kbit/s -> CPU per publisher
#   S6 HLS (livego; nginx serves the same segment and playlist from tmpfs): wrk, 64 connections
#   S7 slow consumers: 500 normal + 50 half-rate players; normal players' p99 latency and RSS
#   S8 play_merge_ms curve (livego): S2's load with `play_merge_ms` 0, 50, 100 and 350 -> CPU
#      per Gbit/s, p99 video and audio latency
#   S9 two cores (livego): 250 RTMP players of a 4 Mbit/s clip (fewer, larger messages than S1,
#      so the generator keeps up) with `cores: 1` (CPU 1) and `cores: 2` (CPUs 1 and 2). With
#      fewer than 3 CPUs the two cores are CPUs 0 and 1: the generator shares CPU 0 with one of
#      them (noted in the row; its validity is then judged by the generator's own CPU time)
#
#   usage: scripts/bench.sh [--seconds N] [--only S1,S2,...] [--servers livego,nginx]
#   results: target/bench/results.jsonl (one JSON object per step) and the table on stdout
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=20
only=S1,S2,S3,S4,S5,S6,S7,S8,S9
servers=livego,nginx
while (($#)); do
    case $1 in
        --seconds) seconds=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --servers) servers=$2; shift 2 ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
wants() { [[ ",$only," == *",$1,"* ]]; }
server_wanted() { [[ ",$servers," == *",$1,"* ]]; }
# Scenarios of settings only livego has.
livego_only() { [[ ,S8,S9, == *",$1,"* ]]; }

# --- what the benchmark needs -------------------------------------------------------------
nginx_module=/usr/lib/nginx/modules/ngx_rtmp_module.so
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
[[ -x /usr/sbin/nginx ]] || need+=(nginx)
[[ -f $nginx_module ]] || need+=(libnginx-mod-rtmp)
if ((${#need[@]})); then
    echo "installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --workspace --bins -q
livego=$PWD/target/release/livego
bench=$PWD/target/release/livego-bench
out=$PWD/target/bench
mkdir -p "$out"
results=$out/results.jsonl
: > "$results"
work=$(mktemp -d)
server_pid=
cleanup() {
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null
    kill $(jobs -p) 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# make_clip FILE VIDEO_KBPS AUDIO_KBPS: 60 s of 720p30 H.264 (2 s GOP) + AAC, as FLV.
make_clip() {
    [[ -s $1 ]] && return 0
    echo "making the test clip $1" >&2
    ffmpeg -hide_banner -v error -y -f lavfi -i testsrc2=size=1280x720:rate=30 \
        -f lavfi -i sine=frequency=440:sample_rate=44100 -t 60 \
        -c:v libx264 -preset veryfast -tune zerolatency -b:v "$2k" -maxrate "$2k" -bufsize "$2k" \
        -g 60 -keyint_min 60 -sc_threshold 0 -c:a aac -b:a "$3k" -f flv "$1"
}
clip=$out/clip-1mbit.flv
clip600=$out/clip-600kbit.flv
clip4m=$out/clip-4mbit.flv
make_clip "$clip" 900 96
make_clip "$clip600" 540 64
if wants S9 && server_wanted livego; then make_clip "$clip4m" 3800 128; fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# --- servers ------------------------------------------------------------------------------
rtmp_port=$(free_port)
flv_port=$(free_port)
hls_port=$(free_port)
api_port=$(free_port)
http_port=$(free_port)

# start_livego [EXTRA_YAML [CPUS]]: livego pinned to CPUS (default 1), its config the bench's
# base with EXTRA_YAML's lines (flat `key: value`) added, replacing base lines of the same keys.
livego_extra=
start_livego() {
    livego_extra=${1:-}
    local cpus=${2:-1}
    cat > "$work/livego-base.yaml" <<EOF
level: off
rtmp_noauth: true
cores: 1
rtmp_addr: "127.0.0.1:$rtmp_port"
httpflv_addr: "127.0.0.1:$flv_port"
hls_addr: "127.0.0.1:$hls_port"
api_addr: "127.0.0.1:$api_port"
key_store: "$work/keys.json"
max_connections: 100000
hls_window: 20
EOF
    printf '%s\n' "$livego_extra" > "$work/livego-extra.yaml"
    awk -F: 'NR == FNR { if (NF > 1) extra[$1] = 1; next } !($1 in extra)' \
        "$work/livego-extra.yaml" "$work/livego-base.yaml" > "$work/livego.yaml"
    grep -v '^$' "$work/livego-extra.yaml" >> "$work/livego.yaml" || true
    ulimit -n "$(ulimit -Hn)"
    taskset -c "$cpus" "$livego" --config "$work/livego.yaml" > "$work/livego.log" 2>&1 &
    server_pid=$!
    wait_port "$rtmp_port"
}

# restart_livego [EXTRA_YAML [CPUS]]: a fresh livego for the next step (see start_livego).
restart_livego() {
    stop_server
    start_livego "$@"
}

start_nginx() {
    mkdir -p "$work/nginx" "$work/www/live"
    cat > "$work/nginx/nginx.conf" <<EOF
load_module $nginx_module;
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile $(ulimit -Hn);
pid $work/nginx/nginx.pid;
error_log /dev/null crit;
events { worker_connections 100000; multi_accept on; }
rtmp {
    access_log off;
    server {
        listen 127.0.0.1:$rtmp_port;
        chunk_size 4096;
        application live { live on; record off; }
    }
}
http {
    access_log off;
    client_body_temp_path $work/nginx;
    proxy_temp_path $work/nginx;
    fastcgi_temp_path $work/nginx;
    uwsgi_temp_path $work/nginx;
    scgi_temp_path $work/nginx;
    types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
    server { listen 127.0.0.1:$http_port; root $work/www; }
}
EOF
    ulimit -n "$(ulimit -Hn)"
    taskset -c 1 /usr/sbin/nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" > "$work/nginx.log" 2>&1 &
    server_pid=$!
    wait_port "$rtmp_port"
}

stop_server() {
    [[ -n $server_pid ]] || return 0
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

# --- measurement --------------------------------------------------------------------------
ticks=$(getconf CLK_TCK)
server_cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
server_rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$server_pid/status"; }
lo_tx() { cat /sys/class/net/lo/statistics/tx_bytes; }
cpu0() { awk '/^cpu0 / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; }

# measure SERVER SCENARIO STEP SETTLE -- GENERATOR_ARGS...: the generator publishes for 1 s, then
# players join (200/s unless the args say otherwise); the server is sampled from SETTLE seconds
# after the start for $seconds, then the generator stops. Appends one JSON line. With
# gen_shared set, the server also runs on the generator's CPU 0: the step's validity is judged
# by the generator's own CPU time alone, and gen_shared is the step's note.
gen_shared=
measure() {
    local server=$1 scenario=$2 step=$3 warmup=$4
    shift 5
    local gen_json=$work/gen.json
    taskset -c 0 "$bench" --warmup 1 --duration $((warmup + seconds)) "$@" \
        > "$gen_json" 2> "$work/gen.log" &
    local gen=$!
    sleep "$warmup"
    local c0 b0 busy0 idle0 c1 b1 busy1 idle1 rss
    c0=$(server_cpu_ticks); b0=$(lo_tx); read -r busy0 idle0 < <(cpu0)
    sleep "$seconds"
    c1=$(server_cpu_ticks); b1=$(lo_tx); read -r busy1 idle1 < <(cpu0)
    rss=$(server_rss_kb)
    if ! wait "$gen"; then
        echo "$server $scenario $step: load generator failed:" >&2
        tail -5 "$work/gen.log" >&2
        echo '{}' > "$gen_json"
    fi
    local config=
    [[ $server == livego ]] && config=$livego_extra
    LIVEGO_CONFIG=$config NOTE=$gen_shared \
        python3 - "$server" "$scenario" "$step" "$seconds" "$ticks" "$c0" "$c1" "$b0" "$b1" \
        "$busy0" "$busy1" "$idle0" "$idle1" "$rss" "$gen_json" >> "$results" <<'PY'
import json, os, sys
server, scenario, step, secs, ticks = sys.argv[1:4] + [float(sys.argv[4]), float(sys.argv[5])]
c0, c1, b0, b1, busy0, busy1, idle0, idle1, rss = map(float, sys.argv[6:15])
with open(sys.argv[15]) as f:
    gen = json.load(f)
note = os.environ["NOTE"]
cpu_s = (c1 - c0) / ticks
gbit_s = (b1 - b0) * 8 / 1e9 / secs
client = (gen.get("cpu_percent") or 0) / 100
if not note:  # CPU 0 is the generator's alone: count its softirq time too
    client = max(client, (busy1 - busy0) / max(1.0, (busy1 - busy0) + (idle1 - idle0)))
result = {
    "server": server, "scenario": scenario, "step": step, "seconds": secs,
    "server_cpu": cpu_s / secs, "gbit_s": gbit_s,
    "cpu_per_gbit": cpu_s / secs / gbit_s if gbit_s > 0 else None,
    "rss_kb": rss, "client_cpu": client, "valid": client <= 0.85, "gen": gen,
}
if os.environ["LIVEGO_CONFIG"]:
    result["livego_config"] = os.environ["LIVEGO_CONFIG"]
if note:
    result["note"] = note
print(json.dumps(result))
PY
    tail -1 "$results" >&2
}

publisher_args() { echo --flv "$clip" --url "rtmp://127.0.0.1:$rtmp_port/live/$1"; }

# measure_audio_wait SERVER SCENARIO STEP SETTLE -- GENERATOR_ARGS...: measure STEP and, for
# livego, measure it again as "STEP audio_wait 0" on a server restarted with `audio_wait_ms: 0`;
# livego is then restarted with its defaults for the scenario's next step.
measure_audio_wait() {
    local server=$1 scenario=$2 step=$3
    shift 3
    measure "$server" "$scenario" "$step" "$@"
    [[ $server == livego ]] || return 0
    restart_livego "audio_wait_ms: 0"
    measure "$server" "$scenario" "$step audio_wait 0" "$@"
    restart_livego
}

# One function per scenario; each runs on a freshly started server.
scenario_S1() {
    local server=$1
    for n in 500 1000; do
        measure_audio_wait "$server" S1 "rtmp $n" 8 -- $(publisher_args s1) --players "$n"
    done
    [[ $server == livego ]] || return 0
    for n in 500 1000; do
        measure_audio_wait "$server" S1 "http-flv $n" 8 -- $(publisher_args s1f) \
            --http-flv "http://127.0.0.1:$flv_port/live/s1f.flv" --http-players "$n"
    done
}

scenario_S2() {
    measure_audio_wait "$1" S2 "10 probes + 1000" 8 -- $(publisher_args s2) --players 1010 \
        --probe-players 10
}

# S2's load on a server restarted for each `play_merge_ms`.
scenario_S8() {
    for ms in 0 50 100 350; do
        restart_livego "play_merge_ms: $ms"
        measure livego S8 "play_merge_ms $ms" 8 -- $(publisher_args s8) --players 1010 \
            --probe-players 10
    done
}

# One core, then two, on the same load. The generator stays on CPU 0; with fewer than 3 CPUs the
# server's second core is on CPU 0 as well.
scenario_S9() {
    local cpus=1,2 shared=
    if (($(nproc) < 3)); then
        cpus=0,1
        shared="only $(nproc) CPUs: the generator shares CPU 0 with the server's first core"
    fi
    restart_livego "cores: 1" 1
    measure livego S9 "cores 1: 250 x 4 Mbit/s" 8 -- --flv "$clip4m" \
        --url "rtmp://127.0.0.1:$rtmp_port/live/s9" --players 250 --probe-players 10
    restart_livego "cores: 2" "$cpus"
    gen_shared=$shared
    measure livego S9 "cores 2: 250 x 4 Mbit/s" 8 -- --flv "$clip4m" \
        --url "rtmp://127.0.0.1:$rtmp_port/live/s9" --players 250 --probe-players 10
    gen_shared=
}

# --tick-ms 0: the generator wakes as soon as a socket has data, so first-frame times are not
# rounded up to its 1 ms tick per setup round trip (200 players are light enough for that).
scenario_S3() {
    measure "$1" S3 "200 joins over 4 s" 6 -- $(publisher_args s3) --players 200 --join-over 4 \
        --tick-ms 0
}

scenario_S4() {
    for n in 0 500 1000 2000; do
        measure "$1" S4 "$n players" $((n / 200 + 4)) -- $(publisher_args "s4x$n") --players "$n"
    done
}

scenario_S5() {
    for n in 500 1000; do
        measure "$1" S5 "$n publishers" 8 -- --flv "$clip600" \
            --url "rtmp://127.0.0.1:$rtmp_port/live/s5x$n" --publishers "$n"
    done
}

scenario_S7() {
    measure "$1" S7 "500 + 50 slow" 8 -- $(publisher_args s7) --players 550 \
        --slow-players 50 --slow-rate 0.5
}

# S6: wrk (64 connections) against the playlist and the newest segment; nginx serves copies
# of the same files from tmpfs. livego's publisher also times each new segment's appearance in
# the playlist (livego-bench --hls). hls_window is 20 in the bench config, so the segment
# under test stays listed (and served) for the whole wrk run.
scenario_S6() {
    local server=$1 base
    if [[ $server == livego ]]; then
        base=http://127.0.0.1:$hls_port/live
        taskset -c 0 "$bench" --duration $((seconds * 2 + 15)) $(publisher_args s6) \
            --hls "$base/s6.m3u8" --tick-ms 0 > "$work/s6.json" 2> "$work/s6.log" &
        local pub=$!
        for _ in $(seq 100); do curl -sf "$base/s6.m3u8" | grep -q '\.ts' && break; sleep 0.2; done
        sleep 5
        curl -sf "$base/s6.m3u8" > "$work/s6.m3u8"
    else
        if [[ ! -s $work/s6.ts ]]; then
            echo "S6 for nginx serves livego's files: run it with --servers livego,nginx" >&2
            return 0
        fi
        base=http://127.0.0.1:$http_port/live
        mkdir -p "$(dirname "$work/www/live/$segment")"
        cp "$work/s6.m3u8" "$work/www/live/s6.m3u8"
        cp "$work/s6.ts" "$work/www/live/$segment"
    fi
    for what in playlist segment; do
        local url=$base/s6.m3u8
        if [[ $what == segment ]]; then
            if [[ $server == livego ]]; then
                segment=$(curl -sf "$base/s6.m3u8" | grep -v '^#' | tail -1)
                curl -sf "$base/$segment" > "$work/s6.ts"
            fi
            url=$base/$segment
        fi
        local c0 c1 rss
        c0=$(server_cpu_ticks)
        taskset -c 0 wrk -t1 -c64 -d"${seconds}s" "$url" > "$work/wrk.txt" 2>&1
        c1=$(server_cpu_ticks)
        rss=$(server_rss_kb)
        python3 - "$server" "$what" "$seconds" "$ticks" "$c0" "$c1" "$rss" "$work/wrk.txt" >> "$results" <<'PY'
import json, re, sys
server, what, secs, ticks, c0, c1, rss = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:8])
text = open(sys.argv[8]).read()
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(json.dumps({
    "server": server, "scenario": "S6", "step": f"wrk {what}", "seconds": secs,
    "server_cpu": (c1 - c0) / ticks / secs, "rss_kb": rss, "valid": True,
    "gen": {"requests_per_s": float(rps.group(1)) if rps else None,
            "non_2xx": int(errors.group(1)) if errors else 0},
}))
PY
        tail -1 "$results" >&2
    done
    if [[ $server == livego ]]; then
        wait "$pub" || true
        python3 - "$work/s6.json" >> "$results" <<'PY'
import json, sys
try:
    gen = json.load(open(sys.argv[1]))
except ValueError:
    gen = {}
print(json.dumps({"server": "livego", "scenario": "S6", "step": "segment in playlist",
                  "valid": True, "gen": gen}))
PY
    fi
    return 0
}

for server in livego nginx; do
    server_wanted "$server" || continue
    for scenario in S1 S2 S3 S4 S5 S6 S7 S8 S9; do
        wants "$scenario" || continue
        [[ $server == livego ]] || ! livego_only "$scenario" || continue
        "start_$server"
        "scenario_$scenario" "$server"
        stop_server
    done
done

python3 scripts/bench-table.py "$results"
