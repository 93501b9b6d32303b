#!/usr/bin/env bash
# Soak test: hours of churn against one release server, watching for leaks and lost media.
#
#   usage: scripts/soak.sh MINUTES [OUT_DIR]        (OUT_DIR defaults to docs/)
#
# The server (target/release/livego, cores: 2, rtmp_noauth) runs for MINUTES while:
# - rounds of target/release/livego-bench follow one another: 20 publishers (soak-0..19, a
#   ~400 kbit/s H.264+AAC clip in real time) and 1,000 players (500 RTMP, 500 HTTP-FLV, 20 of
#   them slow, reading at half the bit rate) joining over 10 s; each round lasts a random 30 to
#   90 s, then every player leaves and every publisher disconnects, and the next round
#   reconnects them all;
# - a pull relay (soak-0 -> relay-N) is started and stopped every 5 to 15 s;
# - the HLS playlist of soak-0 and its newest segment are fetched every 2 s.
# Every 10 s the server's RSS, heap in use (`livego_heap_bytes`), open fds, CPU (% of one core
# over the interval), players (from /metrics) and WARN/ERROR log lines so far are appended to
# OUT_DIR/soak.csv; each round's verdict (non-slow players that failed, were disconnected or
# saw a frame hole) goes to OUT_DIR/soak-rounds.csv. At the end OUT_DIR/soak.png plots the
# samples, and the script exits non-zero if a non-slow player lost media, or if the peaks of
# RSS or fds in the last quarter exceed those of the second quarter (after warm-up) by more
# than 20 % (+16 MB) or 50 fds.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:?usage: scripts/soak.sh MINUTES [OUT_DIR]}
out=$(realpath -m "${2:-docs}")
mkdir -p "$out"
cargo build --release --workspace --bins -q
livego=$PWD/target/release/livego
bench=$PWD/target/release/livego-bench
work=$(mktemp -d)
server_pid=
cleanup() {
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null
    kill $(jobs -p) 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

clip=$work/clip.flv
ffmpeg -hide_banner -v error -y -f lavfi -i testsrc2=size=640x360:rate=30 \
    -f lavfi -i sine=frequency=440:sample_rate=44100 -t 20 \
    -c:v libx264 -preset veryfast -b:v 340k -maxrate 340k -bufsize 340k \
    -g 60 -keyint_min 60 -sc_threshold 0 -c:a aac -b:a 64k -f flv "$clip"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rtmp_port=$(free_port) flv_port=$(free_port) hls_port=$(free_port) api_port=$(free_port)
cat > "$work/livego.yaml" <<EOF
level: warn
rtmp_noauth: true
cores: 2
rtmp_addr: "127.0.0.1:$rtmp_port"
httpflv_addr: "127.0.0.1:$flv_port"
hls_addr: "127.0.0.1:$hls_port"
api_addr: "127.0.0.1:$api_port"
key_store: "$work/keys.json"
max_connections: 100000
EOF
ulimit -n "$(ulimit -Hn)"
"$livego" --config "$work/livego.yaml" > "$work/livego.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$rtmp_port") 2>/dev/null && break
    sleep 0.05
done

end=$((SECONDS + minutes * 60))
api=http://127.0.0.1:$api_port

# Rounds of publishers and players.
echo "round,seconds,players,failed,disconnected,frame_holes,lagging,slow_lagging" > "$out/soak-rounds.csv"
rounds() {
    local round=0
    while ((SECONDS + 30 < end)); do
        local secs=$((30 + RANDOM % 61))
        ((SECONDS + secs + 15 > end)) && secs=$((end - SECONDS - 15))
        ((secs < 10)) && break
        "$bench" --url "rtmp://127.0.0.1:$rtmp_port/live/soak" --flv "$clip" --publishers 20 \
            --players 500 --http-flv "http://127.0.0.1:$flv_port/live/soak.flv" \
            --http-players 500 --join-over 10 --slow-players 20 --slow-rate 0.5 \
            --probe-players 0 --tick-ms 5 --warmup 2 --duration "$secs" \
            > "$work/round.json" 2> "$work/round.err" || true
        python3 - "$work/round.json" "$round" "$secs" >> "$out/soak-rounds.csv" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"{sys.argv[2]},{sys.argv[3]},0,-1,-1,-1,-1,-1")
    sys.exit()
slow = r.get("slow") or {}
print(",".join(str(x) for x in [sys.argv[2], sys.argv[3], r["players"], r["failed"],
      r["disconnected"], r["frame_holes"], r["lagging_players"], slow.get("lagging_players", 0)]))
PY
        round=$((round + 1))
    done
}

# Pull relays started and stopped.
relays() {
    local n=0
    while ((SECONDS < end)); do
        local q="app=live&name=relay-$n&url=rtmp://127.0.0.1:$rtmp_port/live/soak-0"
        curl -s -o /dev/null "$api/control/pull?oper=start&$q" || true
        sleep $((5 + RANDOM % 11))
        curl -s -o /dev/null "$api/control/pull?oper=stop&$q" || true
        n=$(((n + 1) % 4))
    done
}

# HLS polled: the playlist and its newest segment.
hls() {
    while ((SECONDS < end)); do
        local list seg
        list=$(curl -s "http://127.0.0.1:$hls_port/live/soak-0.m3u8" || true)
        seg=$(grep -v '^#' <<<"$list" | tail -1 || true)
        [[ -n $seg ]] && curl -s -o /dev/null "http://127.0.0.1:$hls_port/live/soak-0/${seg##*/}"
        sleep 2
    done
}

rounds &
loads=($!)
relays &
loads+=($!)
hls &
loads+=($!)

echo "seconds,rss_kb,heap_kb,fds,cpu_percent,players,log_warnings" > "$out/soak.csv"
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
start=$SECONDS
last_ticks=$(ticks) last_time=$start
while ((SECONDS < end)); do
    sleep 10
    kill -0 "$server_pid" 2>/dev/null || { echo "the server died" >&2; exit 1; }
    now_ticks=$(ticks) now=$SECONDS
    cpu=$(awk -v t=$((now_ticks - last_ticks)) -v s=$((now - last_time)) -v hz="$hz" \
        'BEGIN { printf "%.1f", (s > 0 ? 100 * t / hz / s : 0) }')
    last_ticks=$now_ticks last_time=$now
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status")
    fds=$(ls "/proc/$server_pid/fd" | wc -l)
    metrics=$(curl -s "$api/metrics" || true)
    players=$(awk '/^livego_players\{/ {s += $2} END {print s + 0}' <<<"$metrics")
    heap=$(awk '/^livego_heap_bytes / {printf "%d", $2 / 1024}' <<<"$metrics")
    warnings=$(grep -c -E ' (WARN|ERROR) ' "$work/livego.log" || true)
    echo "$((now - start)),$rss,${heap:-0},$fds,$cpu,$players,$warnings" >> "$out/soak.csv"
done
wait "${loads[@]}"
grep -E ' (WARN|ERROR) ' "$work/livego.log" | sed -E 's/^\[[^]]*\] *//; s/[0-9.]+:[0-9]+/ADDR/g' |
    sort | uniq -c | sort -rn | head -20 > "$out/soak-warnings.txt" || true

# The plot needs matplotlib: the system's Python has it from python3-matplotlib.
py=python3
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null && py=/usr/bin/python3
"$py" - "$out" "$minutes" <<'PY'
import csv, sys
out, minutes = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(f"{out}/soak.csv")))
rounds = list(csv.DictReader(open(f"{out}/soak-rounds.csv")))
t = [int(r["seconds"]) / 60 for r in rows]
col = lambda k: [float(r[k]) for r in rows]
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(5, 1, figsize=(9, 12), sharex=True)
    for a, (key, label) in zip(ax, [("rss_kb", "RSS (KB)"), ("heap_kb", "heap in use (KB)"),
                                   ("fds", "open fds"),
                                   ("cpu_percent", "CPU (% of a core)"), ("players", "players")]):
        a.plot(t, col(key))
        a.set_ylabel(label)
        a.grid(alpha=.3)
    ax[-1].set_xlabel("minutes")
    fig.suptitle(f"scripts/soak.sh {minutes}: {len(rounds)} rounds of 20 publishers + 1000 players")
    fig.tight_layout()
    fig.savefig(f"{out}/soak.png", dpi=80)
except ImportError:
    print("matplotlib missing: no plot (apt-get install python3-matplotlib)", file=sys.stderr)
# Peaks (rounds come and go) of the second quarter (after warm-up) and of the last quarter.
q = max(1, len(rows) // 4)
second, last = rows[q:2 * q] or rows, rows[-q:] or rows
peak = lambda rs, k: max(float(r[k]) for r in rs)
base_rss, end_rss = peak(second, "rss_kb"), peak(last, "rss_kb")
base_fds, end_fds = peak(second, "fds"), peak(last, "fds")
# The heap's floor (between rounds) is where a leak shows: the lowest sample of each quarter.
floor = lambda rs: min(float(r["heap_kb"]) for r in rs)
base_heap, end_heap = floor(second), floor(last)
lost = [r for r in rounds if any(int(r[k]) != 0 for k in ("failed", "disconnected", "frame_holes"))]
print(f"samples {len(rows)}, rounds {len(rounds)}, rounds with lost media {len(lost)}")
print(f"peak RSS after warm-up {base_rss:.0f} KB, in the last quarter {end_rss:.0f} KB; "
      f"peak fds after warm-up {base_fds:.0f}, in the last quarter {end_fds:.0f}; "
      f"lowest heap in use after warm-up {base_heap:.0f} KB, in the last quarter {end_heap:.0f} KB")
ok = not lost and end_rss <= base_rss * 1.2 + 16384 and end_fds <= base_fds + 50
print("verdict:", "ok" if ok else "FAILED")
sys.exit(0 if ok else 1)
PY
