#!/usr/bin/env bash
# Rough fan-out measurement until the real load generator exists (issue: benchmarks):
# one ffmpeg publisher of a 1.5 Mbit/s H.264+AAC clip, N rtmpdump players, the server pinned
# to CPU 1 and every client on CPU 0. Prints the server's CPU time per delivered Gbit/s
# (delivered bytes from loopback's tx counter) and its RSS.
#   usage: scripts/measure-fanout.sh [PLAYERS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
players=${1:-200}
seconds=${2:-20}
bin=target/release/livego
[[ -x $bin ]] || cargo build --release
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
clip=$work/clip.flv
ffmpeg -hide_banner -v error -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440 \
    -t 60 -c:v libx264 -preset veryfast -b:v 1400k -bf 2 -g 60 -keyint_min 60 -sc_threshold 0 \
    -c:a aac -b:a 128k -f flv "$clip"
printf 'rtmp_addr: "127.0.0.1:%s"\nrtmp_noauth: true\ncores: 1\nlevel: warn\n' "$port" > "$work/livego.yaml"
taskset -c 1 "$bin" --config "$work/livego.yaml" & server=$!
sleep 0.5
url=rtmp://127.0.0.1:$port/live/bench
taskset -c 0 ffmpeg -hide_banner -v error -re -stream_loop -1 -i "$clip" -c copy -f flv "$url" &
sleep 2
for _ in $(seq "$players"); do
    taskset -c 0 rtmpdump -q -r "$url" --live -o /dev/null &
done
sleep 5  # everyone connected and past the GOP burst
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$server/stat"; }
tx() { cat /sys/class/net/lo/statistics/tx_bytes; }
c0=$(cpu); b0=$(tx)
sleep "$seconds"
c1=$(cpu); b1=$(tx)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
python3 - "$c0" "$c1" "$b0" "$b1" "$ticks" "$seconds" "$players" "$rss" <<'PY'
import sys
c0, c1, b0, b1, ticks, secs, players, rss = map(float, sys.argv[1:])
cpu_s = (c1 - c0) / ticks
gbit = (b1 - b0) * 8 / 1e9
print(f"players={players:.0f} seconds={secs:.0f} delivered={gbit / secs * 1000:.0f} Mbit/s "
      f"server_cpu={cpu_s / secs * 100:.1f}% of a core "
      f"cpu_per_gbit={cpu_s / gbit:.3f} core*s/Gbit rss={rss / 1024:.1f} MiB")
PY
