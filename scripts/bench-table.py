#!/usr/bin/env python3
"""Print scripts/bench.sh's results (one JSON object per step) as a side-by-side table.

    usage: scripts/bench-table.py target/bench/results.jsonl
"""
import json
import sys


def path(obj, dotted):
    """obj["a"]["b"] for "a.b"; None when any part is missing."""
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def fmt(value, digits=2):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


# (scenario, what is shown, how to get it from a result, digits)
METRICS = {
    "S1": [
        ("core*s per Gbit/s", lambda r: r.get("cpu_per_gbit"), 3),
        ("delivered Gbit/s", lambda r: r.get("gbit_s"), 3),
        ("server CPU (cores)", lambda r: r.get("server_cpu"), 3),
        ("players connected", lambda r: path(r, "gen.connected"), 0),
    ],
    "S2": [
        ("latency p50 ms", lambda r: path(r, "gen.latency_ms.p50"), 1),
        ("latency p99 ms", lambda r: path(r, "gen.latency_ms.p99"), 1),
        ("latency max ms", lambda r: path(r, "gen.latency_ms.max"), 1),
        ("audio p50 ms", lambda r: path(r, "gen.audio_latency_ms.p50"), 1),
        ("audio p99 ms", lambda r: path(r, "gen.audio_latency_ms.p99"), 1),
        ("core*s per Gbit/s", lambda r: r.get("cpu_per_gbit"), 3),
    ],
    "S3": [
        ("first frame p50 ms", lambda r: path(r, "gen.first_frame_ms.p50"), 1),
        ("first frame p95 ms", lambda r: path(r, "gen.first_frame_ms.p95"), 1),
        ("first frame max ms", lambda r: path(r, "gen.first_frame_ms.max"), 1),
    ],
    "S4": [
        ("RSS MiB", lambda r: r["rss_kb"] / 1024 if r.get("rss_kb") else None, 1),
        ("KB per player", lambda r: r.get("kb_per_player"), 1),
    ],
    "S5": [
        ("server CPU (cores)", lambda r: r.get("server_cpu"), 3),
        ("publishers per core", lambda r: r.get("publishers_per_core"), 0),
        ("publishers publishing", lambda r: path(r, "gen.publishers.publishing"), 0),
    ],
    "S6": [
        ("requests/s", lambda r: path(r, "gen.requests_per_s"), 0),
        ("server CPU (cores)", lambda r: r.get("server_cpu"), 3),
        ("non-2xx", lambda r: path(r, "gen.non_2xx"), 0),
        ("in playlist p50 ms", lambda r: path(r, "gen.hls_segment_ms.p50"), 1),
        ("in playlist max ms", lambda r: path(r, "gen.hls_segment_ms.max"), 1),
    ],
    "S7": [
        ("normal p99 ms", lambda r: path(r, "gen.latency_ms.p99"), 1),
        ("lagging players", lambda r: path(r, "gen.lagging_players"), 0),
        ("RSS MiB", lambda r: r["rss_kb"] / 1024 if r.get("rss_kb") else None, 1),
    ],
    "S8": [
        ("core*s per Gbit/s", lambda r: r.get("cpu_per_gbit"), 3),
        ("latency p50 ms", lambda r: path(r, "gen.latency_ms.p50"), 1),
        ("latency p99 ms", lambda r: path(r, "gen.latency_ms.p99"), 1),
        ("audio p99 ms", lambda r: path(r, "gen.audio_latency_ms.p99"), 1),
    ],
    "S9": [
        ("core*s per Gbit/s", lambda r: r.get("cpu_per_gbit"), 3),
        ("delivered Gbit/s", lambda r: r.get("gbit_s"), 3),
        ("server CPU (cores)", lambda r: r.get("server_cpu"), 3),
        ("players connected", lambda r: path(r, "gen.connected"), 0),
        ("latency p99 ms", lambda r: path(r, "gen.latency_ms.p99"), 1),
        ("audio p99 ms", lambda r: path(r, "gen.audio_latency_ms.p99"), 1),
    ],
}


def derive(results):
    """Figures that need more than one step: KB per player (S4), publishers per core (S5)."""
    base = {r["server"]: r["rss_kb"] for r in results if r["scenario"] == "S4" and r["step"] == "0 players"}
    for r in results:
        if r["scenario"] == "S4" and r["server"] in base:
            players = int(r["step"].split()[0])
            if players:
                r["kb_per_player"] = (r["rss_kb"] - base[r["server"]]) / players
        if r["scenario"] == "S5" and r.get("server_cpu"):
            publishers = int(r["step"].split()[0])
            r["publishers_per_core"] = publishers / r["server_cpu"]


def main():
    results = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    derive(results)
    servers = ["livego", "nginx"]
    steps = []
    for r in results:
        if (r["scenario"], r["step"]) not in steps:
            steps.append((r["scenario"], r["step"]))
    by = {(r["scenario"], r["step"], r["server"]): r for r in results}
    print(f"{'scenario':<4} {'step':<30} {'metric':<22} {'livego':>10} {'nginx':>10} {'ratio':>7}")
    for scenario, step in steps:
        for s in servers:
            note = path(by.get((scenario, step, s)) or {}, "note")
            if note:
                print(f"{scenario:<4} {step:<30} note ({s}): {note}")
        for name, get, digits in METRICS.get(scenario, []):
            values = [by.get((scenario, step, s)) for s in servers]
            shown = [get(r) if r else None for r in values]
            if all(v is None for v in shown) and any(values):
                continue  # a metric this step does not measure (S6: wrk vs playlist timing)
            ratio = (
                shown[0] / shown[1]
                if all(isinstance(v, (int, float)) for v in shown) and shown[1]
                else None
            )
            flags = "".join(
                f"  INVALID({s}: client core {r['client_cpu'] * 100:.0f} %)"
                for s, r in zip(servers, values)
                if r and not r.get("valid", True)
            )
            print(
                f"{scenario:<4} {step:<30} {name:<22} {fmt(shown[0], digits):>10} "
                f"{fmt(shown[1], digits):>10} {fmt(ratio, 2):>7}{flags}"
            )


if __name__ == "__main__":
    main()
