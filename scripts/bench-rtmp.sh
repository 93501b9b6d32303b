#!/usr/bin/env bash
# RTMP fan-out under livego-bench: the server (release, cores: 1) pinned to CPU 1, the load
# generator pinned to CPU 0. Prints the generator's JSON summary and the server's CPU over the
# generator's run (utime+stime from /proc/PID/stat). The figure is only valid while the
# generator's own cpu_percent stays below ~85 % of its core.
#   usage: scripts/bench-rtmp.sh CLIP.flv [PLAYERS] [SECONDS] [extra livego-bench flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
clip=$1; players=${2:-500}; seconds=${3:-30}; shift $(( $# < 3 ? $# : 3 ))
target=${CARGO_TARGET_DIR:-target}
[[ -x $target/release/livego && -x $target/release/livego-bench ]] || cargo build --release
work=$(mktemp -d)
server=
trap '[[ -n $server ]] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); http=$(free_port)
printf 'rtmp_addr: "127.0.0.1:%s"\nhttpflv_addr: "127.0.0.1:%s"\napi_addr: "127.0.0.1:%s"\nhls_addr: "127.0.0.1:%s"\nrtmp_noauth: true\ncores: 1\nlevel: error\nkey_store: %s/keys.json\n' \
    "$port" "$http" "$(free_port)" "$(free_port)" "$work" > "$work/livego.yaml"
taskset -c 1 "$target/release/livego" --config "$work/livego.yaml" & server=$!
sleep 0.5
cpu() { awk '{print $14 + $15}' "/proc/$server/stat"; }
c0=$(cpu); t0=$(date +%s.%N)
taskset -c 0 "$target/release/livego-bench" --url "rtmp://127.0.0.1:$port/live/bench" --flv "$clip" \
    --players "$players" --duration "$seconds" "$@" > "$work/out.json"
c1=$(cpu); t1=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
python3 - "$work/out.json" "$c0" "$c1" "$t0" "$t1" "$(getconf CLK_TCK)" "$rss" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c0, c1, t0, t1, tck, rss = map(float, sys.argv[2:])
cpu, wall = (c1 - c0) / tck, t1 - t0
print(json.dumps(d))
gbit = d["delivered_mbit_s"] / 1000
print(f"players={d['players']} connected={d['connected']} failed={d['failed']} "
      f"delivered={d['delivered_mbit_s']:.0f} Mbit/s latency p50/p99/max="
      f"{d['latency_ms']['p50']}/{d['latency_ms']['p99']}/{d['latency_ms']['max']} ms "
      f"first_frame p50/p95={d['first_frame_ms']['p50']}/{d['first_frame_ms']['p95']} ms "
      f"holes={d['frame_holes']} lagging={d['lagging_players']}")
print(f"generator cpu={d['cpu_percent']:.1f}% of CPU 0  server cpu={cpu / wall * 100:.1f}% of CPU 1 "
      f"({cpu:.2f} s over {wall:.1f} s, incl. warm-up)  server rss={rss / 1024:.0f} MiB")
if d["cpu_percent"] > 85:
    print("INVALID: the generator was over 85 % of its core")
PY
