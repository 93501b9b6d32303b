#!/usr/bin/env python3
"""Regenerates the fuzz seed corpora in fuzz/seeds/<target>/ from real traffic and fixtures.

Real traffic: the livego server (target/release/livego, or $LIVEGO_BIN; built if missing) runs
with a temporary config on free loopback ports (rtmp_noauth); a recording TCP proxy sits in
front of its RTMP and HTTP ports while ffmpeg publishes tests/fixtures/h264_aac_2s.flv,
rtmpdump plays it and curl sends a few requests. The recorded bytes become handshake, chunk,
AMF and session seeds; small FLV files made with ffmpeg (lavfi) become FLV, codec and HLS
seeds. Every seed starts with the target's mode bytes (see the target's header comment) and is
kept to a few KB.

Usage: python3 fuzz/seeds/make_seeds.py   (from anywhere; needs ffmpeg, rtmpdump, curl)
"""

import base64
import hashlib
import hmac
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")
MAX_SEED = 4096  # bytes per seed, roughly


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """A loopback TCP proxy that records each connection's bytes in both directions."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.port = free_port()
        self.label = "conn"
        self.conns = []  # (label, c2s bytearray, s2c bytearray)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            rec = (self.label, bytearray(), bytearray())
            self.conns.append(rec)
            threading.Thread(target=self.pipe, args=(client, server, rec[1]), daemon=True).start()
            threading.Thread(target=self.pipe, args=(server, client, rec[2]), daemon=True).start()

    @staticmethod
    def pipe(src, dst, log):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                log.extend(data)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def get(self, label):
        return [(c2s, s2c) for (l, c2s, s2c) in self.conns if l == label]


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"server did not listen on {port}")


def capture(tmp):
    """Runs the server, ffmpeg, rtmpdump and curl through recorders; returns the recorders."""
    binary = os.environ.get("LIVEGO_BIN", os.path.join(ROOT, "target", "release", "livego"))
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    ports = {k: free_port() for k in ("rtmp", "flv", "hls", "api")}
    cfg = os.path.join(tmp, "livego.yaml")
    with open(cfg, "w") as f:
        f.write(
            f"level: warn\nrtmp_noauth: true\nrtmp_addr: \"127.0.0.1:{ports['rtmp']}\"\n"
            f"httpflv_addr: \"127.0.0.1:{ports['flv']}\"\nhls_addr: \"127.0.0.1:{ports['hls']}\"\n"
            f"api_addr: \"127.0.0.1:{ports['api']}\"\nkey_store: {tmp}/keys.json\nflv_dir: {tmp}\n"
            "hls_fragment: 0.5\n"
        )
    server = subprocess.Popen([binary, "--config", cfg], cwd=tmp)
    try:
        for p in ports.values():
            wait_port(p)
        rtmp, http = Recorder(ports["rtmp"]), Recorder(ports["api"])
        flv, hls = Recorder(ports["flv"]), Recorder(ports["hls"])
        url = f"rtmp://127.0.0.1:{rtmp.port}/live/seed"
        rtmp.label = "publish"
        pub = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i",
             os.path.join(ROOT, "tests", "fixtures", "h264_aac_2s.flv"), "-c", "copy", "-f", "flv", url])
        time.sleep(0.8)
        rtmp.label = "play"
        subprocess.run(["timeout", "3", "rtmpdump", "-q", "-v", "-r", url, "-o", os.devnull, "-B", "1"])
        for rec, path in ((flv, "/live/seed.flv"), (hls, "/live/seed.m3u8")):
            rec.label = "curl"
            subprocess.run(["curl", "-s", "-m", "1", "-o", os.devnull,
                            f"http://127.0.0.1:{rec.port}{path}"])
        http.label = "curl"
        subprocess.run(["curl", "-s", "-m", "2", "-o", os.devnull,
                        f"http://127.0.0.1:{http.port}/control/get?room=seed"])
        subprocess.run(["curl", "-s", "-m", "2", "-o", os.devnull, "-d", "room=seed&x=a+b%21",
                        f"http://127.0.0.1:{http.port}/control/reset"])
        pub.wait(timeout=30)
        time.sleep(0.3)
        return rtmp, [c for r in (flv, hls, http) for c in r.get("curl")]
    finally:
        server.terminate()
        server.wait()


def chunk_messages(data):
    """Parses an RTMP chunk stream (after the handshake) into (type, stream id, ts, payload)."""
    pos, size, streams, out = 0, 128, {}, []
    while pos < len(data):
        b0 = data[pos]
        fmt, csid = b0 >> 6, b0 & 0x3F
        p = pos + 1
        if csid == 0:
            csid = 64 + data[p]
            p += 1
        elif csid == 1:
            csid = 64 + data[p] + 256 * data[p + 1]
            p += 2
        s = streams.setdefault(csid, {"ts": 0, "delta": 0, "len": 0, "type": 0, "sid": 0, "buf": None, "ext": False})
        if fmt < 3:
            field = int.from_bytes(data[p:p + 3], "big")
            if fmt < 2:
                s["len"] = int.from_bytes(data[p + 3:p + 6], "big")
                s["type"] = data[p + 6]
            if fmt == 0:
                s["sid"] = int.from_bytes(data[p + 7:p + 11], "little")
            p += [11, 7, 3][fmt]
            s["ext"] = field == 0xFFFFFF
            if s["ext"]:
                field = int.from_bytes(data[p:p + 4], "big")
                p += 4
            s["delta"] = field
        elif s["ext"]:
            p += 4
        if s["buf"] is None:
            s["ts"] = s["delta"] if fmt == 0 else (s["ts"] + s["delta"]) & 0xFFFFFFFF
            s["buf"] = bytearray()
        n = min(size, s["len"] - len(s["buf"]))
        if p + n > len(data):
            break
        s["buf"] += data[p:p + n]
        pos = p + n
        if len(s["buf"]) == s["len"]:
            msg = (s["type"], s["sid"], s["ts"], bytes(s["buf"]))
            s["buf"] = None
            if msg[0] == 1:
                size = int.from_bytes(msg[3][:4], "big")
            out.append(msg)
    return out


SESSION_TYPES = [20, 17, 18, 15, 8, 9, 5, 4, 1, 2, 3, 6, 22, 19, 16]


def session_input(msgs, accept=True):
    """The rtmp_session target's format: [k][len][payload] per message (k & 0x40: accept)."""
    out = bytearray()
    for type_id, sid, _, payload in msgs:
        k = SESSION_TYPES.index(type_id) if type_id in SESSION_TYPES else 15
        k |= 0x10 if sid else 0
        k |= (0x40 if accept else 0) | 0x80
        long = len(payload) > 255
        k |= 0x20 if long else 0
        out.append(k)
        if k & 0x0F == 15:
            out.append(type_id)
        out += struct.pack(">H", len(payload)) if long else bytes([len(payload)])
        out += payload
    return bytes(out)


def flv_tags(data):
    """(type, timestamp, body) of every tag in an FLV file."""
    pos, tags = int.from_bytes(data[5:9], "big") + 4, []
    while pos + 11 <= len(data):
        t, size = data[pos], int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | data[pos + 7] << 24
        body = data[pos + 11:pos + 11 + size]
        if len(body) < size:
            break
        tags.append((t, ts, body))
        pos += 11 + size + 4
    return tags


def segmenter_input(tags, limit):
    """The hls_segmenter target's format: [k][u32 ts][len][body] (k picks absolute time)."""
    out = bytearray()
    for t, ts, body in tags:
        kind = {9: 0, 8: 1}.get(t, 2)
        frame = bytearray([kind | 7 << 2 | (0x20 if len(body) > 255 else 0)])
        frame += struct.pack(">I", ts)
        frame += struct.pack(">H", len(body)) if len(body) > 255 else bytes([len(body)])
        frame += body
        if len(out) + len(frame) > limit:
            break
        out += frame
    return bytes(out)


def small_flv(tmp, name, audio, seconds="1"):
    path = os.path.join(tmp, name)
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc=size=32x32:rate=10", "-f", "lavfi", "-i", "sine=sample_rate=8000",
         "-t", seconds, "-c:v", "libx264", "-g", "4", "-b:v", "20k", "-pix_fmt", "yuv420p",
         *audio, "-f", "flv", path], check=True)
    with open(path, "rb") as f:
        return f.read()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims, secret):
    head = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(claims.encode())
    return head + "." + b64(hmac.new(secret, head.encode(), hashlib.sha256).digest())


def main():
    seeds = {}

    def put(target, name, data):
        seeds.setdefault(target, {})[name] = bytes(data[:MAX_SEED + 64])

    tmp = tempfile.mkdtemp(prefix="livego-seeds-")
    try:
        rtmp, http_conns = capture(tmp)
        publish = rtmp.get("publish")[0]
        plays = rtmp.get("play")
        hs = 1 + 2 * 1536

        # handshake: [mode][split][time: 4][bytes]
        put("handshake", "server_ffmpeg", b"\x00\x00\x00\x00\x00\x01" + publish[0][:hs + 32])
        put("handshake", "client_livego_reply", b"\x02\x00\x00\x00\x00\x01" + publish[1][:hs])
        put("handshake", "both_digest_split", b"\x03\x0d\x00\x00\x10\x00" + bytes(range(64)))
        with open(os.path.join(ROOT, "tests", "fixtures", "ffmpeg_c0c1.bin"), "rb") as f:
            put("handshake", "server_fixture_c0c1_bytewise", b"\x00\x01\x00\x00\x00\x00" + f.read())
        if plays:
            put("handshake", "server_rtmpdump_digest", b"\x00\x04\x00\x00\x00\x02" + plays[0][0][:hs])
            put("handshake", "client_rtmpdump_reply", b"\x02\x08\x00\x00\x00\x02" + plays[0][1][:hs])

        # chunk_reader: [mode][split][limit][stream]
        pub_chunks = publish[0][hs:]
        put("chunk_reader", "decode_publish", b"\x00\x00\x03" + pub_chunks[:MAX_SEED])
        put("chunk_reader", "decode_publish_split7", b"\x00\x02\x02" + pub_chunks[:MAX_SEED])
        put("chunk_reader", "ingest_publish", b"\x02\x03\x03" + pub_chunks[:MAX_SEED])
        put("chunk_reader", "decode_server_replies", b"\x00\x01\x03" + publish[1][hs:hs + MAX_SEED])
        if plays:
            put("chunk_reader", "decode_play", b"\x00\x05\x03" + plays[0][0][hs:hs + MAX_SEED])
            put("chunk_reader", "decode_play_server", b"\x00\x03\x03" + plays[0][1][hs:hs + MAX_SEED])
        # Round trip ops: chunk size 1, messages on csids 3/64/319, extended timestamps.
        put("chunk_reader", "roundtrip_mixed",
            b"\x01\x00\x00" + b"\x00" + b"\x09\x05\x05hello" + b"\x11\x0b\x03abc" + b"\x29\x1a\x00"
            + b"\x18" + b"\x31\x83\x01\x00" + bytes(range(256)) + b"\xfa\x00\x10\x07\x00")
        put("chunk_reader", "roundtrip_sizes",
            b"\x01\x03\x00" + b"\x10" + b"\x19\x02\x03xyz" + b"\x20" + b"\x19\x0a\x01q" + b"\x28"
            + b"\x39\xc9\x00\x00\x00\x01\x00\x02ab")

        # AMF and session seeds from the publish and play commands.
        msgs = chunk_messages(pub_chunks)
        play_msgs = chunk_messages(plays[0][0][hs:]) if plays else []
        n = 0
        for type_id, _, _, payload in msgs + play_msgs:
            if type_id in (20, 18) and n < 12:
                name = payload[3:3 + payload[2]].decode(errors="replace").strip("@") or "x"
                put("amf0", f"{n:02}_{name}", b"\x00" + payload)
                n += 1
        connect = next(p for t, _, _, p in msgs if t == 20)
        put("amf0", "connect_as_amf3_command", b"\x02\x00" + connect)
        put("amf0", "connect_message_values", b"\x01" + connect)
        # AVM+ switch to AMF3 objects inside AMF0, and references to earlier objects.
        put("amf0", "avmplus_object", b"\x00\x02\x00\x04play\x11\x0a\x0b\x01\x03a\x04\x01\x01")
        obj = b"\x03" + b"\x00\x01a\x06" * 16 + b"\x00\x00\x09"
        put("amf0", "references", b"\x00\x0a\x00\x00\x00\x05" + obj + b"\x07\x00\x00" * 4)
        # A reference bomb in small: 64 references to an object of 512 undefineds.
        bomb = b"\x03" + b"\x00\x01u\x06" * 512 + b"\x00\x00\x09"
        put("amf0", "reference_bomb_small", b"\x00\x0a\x00\x00\x00\x41" + bomb + b"\x07\x00\x00" * 64)

        amf3 = {
            "integer": b"\x04\xff\xff\xff\xff",
            "double_nan": b"\x05\x7f\xf8\x00\x00\x00\x00\x00\x01",
            "string_refs": b"\x09\x07\x01\x06\x07abc\x06\x00\x06\x00",
            "dynamic_object": b"\x0a\x0b\x01\x03a\x04\x01\x03b\x06\x05hi\x01",
            "typed_sealed_traits_ref": b"\x09\x05\x01\x0a\x23\x07Cls\x03x\x03y\x04\x01\x04\x02\x0a\x01\x04\x03\x04\x04",
            "assoc_and_dense": b"\x09\x05\x03k\x02\x01\x04\x07\x01",
            "bytearray_date_xml": b"\x09\x07\x01\x0c\x07\x01\x02\x03\x08\x01\x42\x70\x00\x00\x00\x00\x00\x00\x0b\x07<a/>",
            "object_ref": b"\x09\x07\x01\x0a\x0b\x01\x03a\x01\x01\x0a\x02\x0a\x02",
            "reference_bomb_small": b"\x09\x81\x01\x01\x09\x82\x01\x01" + b"\x00" * 256 + b"\x09\x02" * 63,
            "xml_document": b"\x07\x0b<a>b</a>",
        }
        for name, data in amf3.items():
            put("amf3", name, data)

        put("rtmp_session", "ffmpeg_publish", session_input(
            [m for m in msgs if m[0] not in (8, 9)][:12] + [m for m in msgs if m[0] in (8, 9)][:12]))
        if play_msgs:
            put("rtmp_session", "rtmpdump_play", session_input(play_msgs[:12]))
        cmds = [m for m in msgs if m[0] in (20, 18)]
        put("rtmp_session", "publish_refused", session_input(cmds[:6], accept=False))
        put("rtmp_session", "ping_and_window",
            session_input(msgs[:1] + [(4, 0, 0, b"\x00\x06\x00\x00\x00\x07"), (5, 0, 0, b"\x00\x00\x00\x01")]))

        # FLV files: the fixtures' first KBs and small ones made here.
        fixtures = {}
        for name in ("h264_aac_2s.flv", "h264_mp3_2s.flv"):
            with open(os.path.join(ROOT, "tests", "fixtures", name), "rb") as f:
                fixtures[name] = f.read()
        aac = small_flv(tmp, "aac.flv", ["-c:a", "aac", "-b:a", "16k"])
        mp3 = small_flv(tmp, "mp3.flv", ["-c:a", "libmp3lame", "-b:a", "16k", "-ar", "11025"])
        video = small_flv(tmp, "video.flv", ["-an"], "2")
        for name, data in fixtures.items():
            put("flv_reader", name.replace(".flv", "_head"), b"\x00" + data[:MAX_SEED])
            put("flv_reader", name.replace(".flv", "_head_bytewise"), b"\x01" + data[:1024])
            put("flv_reader", name.replace(".flv", "_tags_only"), b"\x83" + data[13:13 + MAX_SEED])
        for name, data in (("lavfi_aac", aac), ("lavfi_mp3", mp3), ("lavfi_video", video)):
            put("flv_reader", name, b"\x04" + data[:MAX_SEED])

        # HLS segmenter: frames of the small files, as the store would receive them.
        for name, data in (("aac", aac), ("mp3", mp3), ("video_only", video)):
            # mode 0x14: segmenter, 100 ms fragments, window of 3
            put("hls_segmenter", f"segment_{name}", b"\x14" + segmenter_input(flv_tags(data), MAX_SEED))
        put("hls_segmenter", "short_fragments_with_restart",
            b"\x05" + segmenter_input(flv_tags(aac), 1800) + b"\x03" + segmenter_input(flv_tags(aac), 1800))
        tags = flv_tags(aac)
        avc_seq = next(b for t, _, b in tags if t == 9 and b[1] == 0)[5:]
        key = next(b for t, _, b in tags if t == 9 and b[0] >> 4 == 1 and b[1] == 1)[5:]
        asc = next(b for t, _, b in tags if t == 8 and b[1] == 0)[2:]
        raw_aac = next(b for t, _, b in tags if t == 8 and b[1] == 1)[2:]
        mux = bytearray([1, len(avc_seq)]) + avc_seq + b"\x01" + asc[:2]
        mux += b"\x04" + struct.pack(">IH", 90000, min(len(key), 1500)) + key[:1500]
        mux += b"\x01" + struct.pack(">IH", 90100, len(raw_aac)) + raw_aac + b"\x02\x00\x00\x00\x00\x00\x00"
        put("hls_segmenter", "muxer_direct", mux)

        # Codec parsers.
        put("codec_config", "avc_record_keyframe", b"\x04" + struct.pack(">H", len(avc_seq)) + avc_seq + key[:2000])
        put("codec_config", "avc_record_two_byte_nalus", b"\x10" + struct.pack(">H", len(avc_seq)) + avc_seq + b"\x00\x02\x09\xf0")
        put("codec_config", "aac_asc", b"\x01\x01\x00" + asc)
        put("codec_config", "aac_asc_explicit_rate", b"\x01\x00\x10\x17\x80\x00\x3e\x80\x10")
        mp3_frames = b"".join(b[1:] for t, _, b in flv_tags(mp3) if t == 8)[:MAX_SEED]
        put("codec_config", "mp3_frames", b"\x02" + mp3_frames)
        put("codec_config", "mp3_fixture_frames",
            b"\x02" + b"".join(b[1:] for t, _, b in flv_tags(fixtures["h264_mp3_2s.flv"]) if t == 8)[:MAX_SEED])
        put("codec_config", "video_tag_seq", b"\x07" + next(b for t, _, b in tags if t == 9 and b[1] == 0))
        put("codec_config", "audio_tag_seq", b"\x03" + next(b for t, _, b in tags if t == 8 and b[1] == 0))

        # HTTP: requests curl sent (captured), and hand-written ones.
        for i, (c2s, _) in enumerate(http_conns[:4]):
            put("http_request", f"curl_{i}", b"\x00" + c2s)
        hand = {
            "pipelined": b"GET /live/a.flv HTTP/1.1\r\nHost: x\r\n\r\nGET /live/a.m3u8?t=1&u=%41 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "post_form": b"POST /control/get HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 16\r\n\r\nroom=a%20b&x=y+z",
            "expect_continue": b"POST /control/reset HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nab=c",
            "options_star_http10": b"OPTIONS * HTTP/1.0\r\n\r\n",
            "absolute_form": b"GET http://h:7001/live/x.flv?a=1 HTTP/1.1\r\nHost: h\r\n\r\n",
            "bad_te": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        }
        for j, (name, req) in enumerate(hand.items()):
            put("http_request", name, bytes([2 * j]) + req)
        put("http_request", "url_text", b"\x01/live/%E2%82%ACx?a=b&&c=%2B+d&e")
        put("http_request", "url_pairs", b"\x03k\x01v w\x01%\x01\xe2\x82\xac")

        # JWT: tokens under another secret (mode 0 must refuse them), claims to sign (1, 2).
        put("jwt", "token_other_secret", b"\x00" + jwt('{"exp":1900000000,"sub":"x"}', b"other").encode())
        put("jwt", "token_alg_none", b"\x00" + (b64(b'{"alg":"none"}') + "." + b64(b"{}") + ".").encode())
        put("jwt", "claims_exp_nbf", b"\x01\x00\x05a" + b'{"exp":1900000000,"nbf":1600000000}')
        put("jwt", "claims_expired", b"\x01\x00\x00a" + b'{"exp":1.5e9}')
        put("jwt", "claims_bad_exp", b"\x01\x00\x00a" + b'{"exp":"soon"}')
        put("jwt", "claims_changed", b"\x02\x00\x2aZ" + b'{"room":"x","exp":2000000000}')
        put("jwt", "claims_not_object", b"\x02\x00\x10_" + b'[1,2,3]')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    for target, files in seeds.items():
        d = os.path.join(SEEDS, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"{target}: {len(files)} seeds, {sum(map(len, files.values()))} bytes")


if __name__ == "__main__":
    main()
