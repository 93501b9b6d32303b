#!/usr/bin/env bash
# Rough fan-out measurement until the real load generator exists (issue: benchmarks):
# one ffmpeg publisher of a 1.5 Mbit/s H.264+AAC clip, N rtmpdump players, the server pinned
# to CPU 1 and every client on CPU 0. Prints the server's CPU time per delivered Gbit/s
# (delivered bytes from loopback's tx counter), its RSS, and how busy the clients' core was
# (rtmpdump is not light: past ~85 % the figure is client-bound and marked invalid).
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
cpu0_busy() { awk '/^cpu0 / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; }
c0=$(cpu); b0=$(tx); read -r busy0 idle0 < <(cpu0_busy)
sleep "$seconds"
c1=$(cpu); b1=$(tx); read -r busy1 idle1 < <(cpu0_busy)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
python3 - "$c0" "$c1" "$b0" "$b1" "$ticks" "$seconds" "$players" "$rss" \
    "$busy0" "$busy1" "$idle0" "$idle1" <<'PY'
import sys
c0, c1, b0, b1, ticks, secs, players, rss, busy0, busy1, idle0, idle1 = map(float, sys.argv[1:])
client_load = (busy1 - busy0) / max(1.0, (busy1 - busy0) + (idle1 - idle0))
cpu_s = (c1 - c0) / ticks
gbit = (b1 - b0) * 8 / 1e9
print(f"players={players:.0f} seconds={secs:.0f} delivered={gbit / secs * 1000:.0f} Mbit/s "
      f"server_cpu={cpu_s / secs * 100:.1f}% of a core "
      f"cpu_per_gbit={cpu_s / gbit:.3f} core*s/Gbit rss={rss / 1024:.1f} MiB "
      f"client_cpu0={client_load * 100:.0f}%")
if client_load > 0.85:
    print("INVALID: the clients' core was over 85 % busy (client-bound): use fewer players")
PY
