#!/usr/bin/env bash
# Browser test: headless Debian Chromium plays livego's HLS with hls.js.
#
# Starts livego (LIVEGO_BIN, else target/release/livego if built, else target/debug/livego) on
# free loopback ports with HLS on, publishes a test clip to live/browser with ffmpeg over RTMP,
# waits for the playlist, serves page.html + hls.min.js from a Python static server on another
# loopback port (so the stream is fetched cross-origin: livego's CORS header is needed), and has
# play.mjs (playwright-core driving /usr/bin/chromium) judge 5 s of playback. Exits 0 or 1,
# printing PASS/FAIL last.
#
#     tests/browser/run.sh             # against livego
#     tests/browser/run.sh --selftest  # against ffmpeg's own HLS muxer (proves the script)
#
# Needs: node + `npm ci` in tests/browser, chromium, ffmpeg, python3, curl.
# Env: LIVEGO_BIN, CHROMIUM (default /usr/bin/chromium), CLIP (an FLV H.264+AAC clip; else one is
# made), KEEP=1 keeps the work dir.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
mode="livego"
case "${1:-}" in
    "") ;;
    --selftest) mode="selftest" ;;
    *) echo "usage: $0 [--selftest]" >&2; exit 2 ;;
esac

fail() {
    echo "FAIL: $*"
    exit 1
}

export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
for tool in node ffmpeg python3 curl; do
    command -v "$tool" >/dev/null || fail "$tool not found (CI installs it: see .ci/run)"
done
[[ -x "$CHROMIUM" ]] || fail "no Chromium at $CHROMIUM (Debian package chromium)"
[[ -f "$here/node_modules/hls.js/dist/hls.min.js" && -d "$here/node_modules/playwright-core" ]] ||
    fail "node modules missing: run 'npm ci --prefix tests/browser'"

work="$(mktemp -d /tmp/livego-browser.XXXXXX)"
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "${KEEP:-}" ]]; then
        echo "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

show_logs() {
    local log
    for log in "$work"/*.log; do
        [[ -s "$log" ]] || continue
        echo "----- $(basename "$log") (last 30 lines) -----"
        tail -n 30 "$log"
    done
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts serve.py on DIR with a free port; sets $served_port.
serve() {
    local dir="$1" name="$2" i
    python3 "$here/serve.py" "$dir" >"$work/$name.port" 2>"$work/$name.log" &
    pids+=($!)
    for i in $(seq 100); do
        served_port="$(head -n 1 "$work/$name.port" 2>/dev/null || true)"
        [[ -n "$served_port" ]] && return 0
        sleep 0.05
    done
    show_logs
    fail "serve.py for $dir printed no port within 5 s"
}

# Waits (up to $2 s) until TCP port $1 on 127.0.0.1 accepts.
wait_port() {
    local i
    for i in $(seq $(($2 * 10))); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

clip="${CLIP:-}"
if [[ -z "$clip" ]]; then
    clip="$work/clip.flv"
    timeout 60 ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=320x240:rate=30 \
        -f lavfi -i sine=frequency=440:sample_rate=44100 -map 0:v -map 1:a \
        -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -bf 3 -g 60 \
        -keyint_min 60 -sc_threshold 0 -c:a aac -ar 44100 -ac 2 -t 20 -f flv -y "$clip" ||
        fail "could not make the test clip"
fi

if [[ "$mode" == "livego" ]]; then
    bin="${LIVEGO_BIN:-}"
    if [[ -z "$bin" ]]; then
        target="${CARGO_TARGET_DIR:-$repo/target}"
        if [[ -x "$target/release/livego" ]]; then
            bin="$target/release/livego"
        else
            bin="$target/debug/livego"
        fi
    fi
    [[ -x "$bin" ]] || fail "no livego binary at $bin (cargo build, or set LIVEGO_BIN)"
    rtmp_port="$(free_port)"
    hls_port="$(free_port)"
    cat >"$work/livego.yaml" <<EOF
rtmp_addr: "127.0.0.1:$rtmp_port"
httpflv_addr: "127.0.0.1:$(free_port)"
hls_addr: "127.0.0.1:$hls_port"
api_addr: "127.0.0.1:$(free_port)"
rtmp_noauth: true
key_store: "$work/keys.json"
flv_dir: "$work/flv"
cores: 1
hls_fragment: 2
hls_window: 5
EOF
    (cd "$work" && exec "$bin" --config "$work/livego.yaml") >"$work/livego.log" 2>&1 &
    pids+=($!)
    wait_port "$rtmp_port" 10 || { show_logs; fail "livego not accepting RTMP on $rtmp_port"; }
    wait_port "$hls_port" 10 || { show_logs; fail "livego not accepting HLS on $hls_port"; }
    ffmpeg -hide_banner -nostdin -loglevel error -re -stream_loop -1 -i "$clip" -c copy \
        -f flv "rtmp://127.0.0.1:$rtmp_port/live/browser" >"$work/publisher.log" 2>&1 &
    pids+=($!)
    stream="http://127.0.0.1:$hls_port/live/browser.m3u8"
else
    mkdir -p "$work/hls/live/browser"
    ffmpeg -hide_banner -nostdin -loglevel error -re -stream_loop -1 -i "$clip" -c copy \
        -f hls -hls_time 2 -hls_list_size 5 -hls_flags delete_segments -hls_base_url browser/ \
        -hls_segment_filename "$work/hls/live/browser/%d.ts" "$work/hls/live/browser.m3u8" \
        >"$work/muxer.log" 2>&1 &
    pids+=($!)
    serve "$work/hls" stream
    stream="http://127.0.0.1:$served_port/live/browser.m3u8"
fi

# the playlist lists two segments within 30 s
segments=0
for i in $(seq 100); do
    segments="$(curl -s --max-time 2 "$stream" | grep -c '^#EXTINF' || true)"
    ((segments >= 2)) && break
    sleep 0.3
done
((segments >= 2)) || { show_logs; fail "$stream has $segments segment(s) after 30 s"; }

mkdir -p "$work/page"
cp "$here/page.html" "$work/page/index.html"
cp "$here/node_modules/hls.js/dist/hls.min.js" "$work/page/"
serve "$work/page" page
page="http://127.0.0.1:$served_port/index.html?src=$stream"
echo "page $page"

if timeout 90 node "$here/play.mjs" "$page"; then
    exit 0
fi
show_logs
exit 1
