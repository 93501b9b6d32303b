//! `GET /metrics` (README "Control API", an extension of livego): the server's state and
//! counters in Prometheus' text exposition format 0.0.4, rendered from a [`Snapshot`] that the
//! server gathers (sans-IO). Every family is written even when zero, so a dashboard never sees
//! a series appear and disappear.

use std::fmt::Write as _;

use crate::stream::stats::Totals;

/// The `Content-Type` of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What `/metrics` reports, gathered at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub uptime_seconds: f64,
    /// Bytes allocated and not yet freed (the allocator's count); None when it cannot tell.
    pub heap_bytes: Option<u64>,
    /// Open client connections (all protocols, all cores).
    pub connections: usize,
    /// Per protocol: its name, publishers and players.
    pub protocols: Vec<(&'static str, usize, usize)>,
    /// Per relay kind and state (names): how many relays.
    pub relays: Vec<(&'static str, &'static str, usize)>,
    pub totals: Totals,
    /// Per core, in core order.
    pub cores: Vec<CoreLoad>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoreLoad {
    /// Live streams whose publisher this core owns.
    pub streams: usize,
    /// CPU time its executor thread used; None when it cannot be read.
    pub cpu_seconds: Option<f64>,
}

/// The exposition text of `snapshot`.
pub fn render(snapshot: &Snapshot) -> String {
    let mut out = Exposition::default();
    out.family(
        "livego_build_info",
        "gauge",
        "The running livego's version.",
    );
    out.sample(
        "livego_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );
    out.family(
        "livego_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
    );
    out.sample("livego_uptime_seconds", &[], snapshot.uptime_seconds);
    if let Some(bytes) = snapshot.heap_bytes {
        out.family(
            "livego_heap_bytes",
            "gauge",
            "Bytes allocated and not yet freed, as the allocator counts them: unlike RSS, it falls back when memory is freed, so a leak shows as a rising floor.",
        );
        out.sample("livego_heap_bytes", &[], bytes);
    }
    out.family(
        "livego_connections",
        "gauge",
        "Open client connections, all protocols.",
    );
    out.sample("livego_connections", &[], snapshot.connections);
    let streams: usize = snapshot.cores.iter().map(|c| c.streams).sum();
    out.family(
        "livego_streams",
        "gauge",
        "Live streams (with a publisher).",
    );
    out.sample("livego_streams", &[], streams);

    let name = "livego_publishers";
    let help = "Publishing connections by protocol (pull relays included).";
    out.family(name, "gauge", help);
    for &(protocol, publishers, _) in &snapshot.protocols {
        out.sample(name, &[("protocol", protocol)], publishers);
    }
    let name = "livego_players";
    out.family(name, "gauge", "Playing connections by protocol.");
    for &(protocol, _, players) in &snapshot.protocols {
        out.sample(name, &[("protocol", protocol)], players);
    }
    out.family("livego_relays", "gauge", "Relays by kind and state.");
    for &(kind, state, count) in &snapshot.relays {
        out.sample("livego_relays", &[("kind", kind), ("state", state)], count);
    }

    let totals = &snapshot.totals;
    let traffic = [
        (
            "livego_received_bytes_total",
            "Media payload bytes received from publishers.",
            totals.received,
        ),
        (
            "livego_sent_bytes_total",
            "Media payload bytes sent to players and push relays (HLS not included).",
            totals.sent,
        ),
    ];
    for (name, help, traffic) in traffic {
        out.family(name, "counter", help);
        out.sample(name, &[("kind", "video")], traffic.video);
        out.sample(name, &[("kind", "audio")], traffic.audio);
    }
    let name = "livego_dropped_frames_total";
    out.family(
        name,
        "counter",
        "Frames not delivered: to players that fell too far behind (slow_player), or to a \
         core whose backlog was full (core_backlog).",
    );
    out.sample(
        name,
        &[("reason", "slow_player")],
        totals.slow_player_dropped_frames,
    );
    out.sample(
        name,
        &[("reason", "core_backlog")],
        totals.core_backlog_dropped_frames,
    );
    let name = "livego_hls_requests_total";
    out.family(name, "counter", "HLS playlists and segments served.");
    out.sample(name, &[("file", "playlist")], totals.hls_playlists);
    out.sample(name, &[("file", "segment")], totals.hls_segments);

    let name = "livego_core_cpu_seconds_total";
    out.family(
        name,
        "counter",
        "CPU time (user + system) used by each core's executor thread.",
    );
    for (core, load) in snapshot.cores.iter().enumerate() {
        if let Some(seconds) = load.cpu_seconds {
            out.sample(name, &[("core", &core.to_string())], seconds);
        }
    }
    let name = "livego_core_streams";
    out.family(name, "gauge", "Live streams owned by each core.");
    for (core, load) in snapshot.cores.iter().enumerate() {
        out.sample(name, &[("core", &core.to_string())], load.streams);
    }
    out.text
}

/// Exposition text being written.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.text.push_str(name);
        for (i, (label, value)) in labels.iter().enumerate() {
            let open = if i == 0 { '{' } else { ',' };
            let _ = write!(self.text, "{open}{label}=\"{}\"", escape_label(value));
        }
        if !labels.is_empty() {
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// A label value as the format requires: backslash, double quote and line feed escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::stats::Traffic;

    fn snapshot() -> Snapshot {
        Snapshot {
            uptime_seconds: 12.5,
            heap_bytes: Some(4096),
            connections: 7,
            protocols: vec![("rtmp", 1, 3), ("rtmps", 0, 1), ("http-flv", 0, 2)],
            relays: vec![("push", "live", 1), ("pull", "retrying", 0)],
            totals: Totals {
                received: Traffic {
                    video: 1000,
                    audio: 200,
                },
                sent: Traffic {
                    video: 5000,
                    audio: 900,
                },
                slow_player_dropped_frames: 4,
                core_backlog_dropped_frames: 0,
                hls_playlists: 10,
                hls_segments: 3,
            },
            cores: vec![
                CoreLoad {
                    streams: 1,
                    cpu_seconds: Some(1.25),
                },
                CoreLoad {
                    streams: 2,
                    cpu_seconds: None,
                },
            ],
        }
    }

    #[test]
    fn renders_every_family_with_help_type_and_labels() {
        let text = render(&snapshot());
        let version = env!("CARGO_PKG_VERSION");
        let expected = format!(
            "# HELP livego_build_info The running livego's version.
# TYPE livego_build_info gauge
livego_build_info{{version=\"{version}\"}} 1
# HELP livego_uptime_seconds Seconds since the server started.
# TYPE livego_uptime_seconds gauge
livego_uptime_seconds 12.5
# HELP livego_heap_bytes Bytes allocated and not yet freed, as the allocator counts them: unlike RSS, it falls back when memory is freed, so a leak shows as a rising floor.
# TYPE livego_heap_bytes gauge
livego_heap_bytes 4096
# HELP livego_connections Open client connections, all protocols.
# TYPE livego_connections gauge
livego_connections 7
# HELP livego_streams Live streams (with a publisher).
# TYPE livego_streams gauge
livego_streams 3
# HELP livego_publishers Publishing connections by protocol (pull relays included).
# TYPE livego_publishers gauge
livego_publishers{{protocol=\"rtmp\"}} 1
livego_publishers{{protocol=\"rtmps\"}} 0
livego_publishers{{protocol=\"http-flv\"}} 0
# HELP livego_players Playing connections by protocol.
# TYPE livego_players gauge
livego_players{{protocol=\"rtmp\"}} 3
livego_players{{protocol=\"rtmps\"}} 1
livego_players{{protocol=\"http-flv\"}} 2
# HELP livego_relays Relays by kind and state.
# TYPE livego_relays gauge
livego_relays{{kind=\"push\",state=\"live\"}} 1
livego_relays{{kind=\"pull\",state=\"retrying\"}} 0
# HELP livego_received_bytes_total Media payload bytes received from publishers.
# TYPE livego_received_bytes_total counter
livego_received_bytes_total{{kind=\"video\"}} 1000
livego_received_bytes_total{{kind=\"audio\"}} 200
# HELP livego_sent_bytes_total Media payload bytes sent to players and push relays (HLS not included).
# TYPE livego_sent_bytes_total counter
livego_sent_bytes_total{{kind=\"video\"}} 5000
livego_sent_bytes_total{{kind=\"audio\"}} 900
# HELP livego_dropped_frames_total Frames not delivered: to players that fell too far behind (slow_player), or to a core whose backlog was full (core_backlog).
# TYPE livego_dropped_frames_total counter
livego_dropped_frames_total{{reason=\"slow_player\"}} 4
livego_dropped_frames_total{{reason=\"core_backlog\"}} 0
# HELP livego_hls_requests_total HLS playlists and segments served.
# TYPE livego_hls_requests_total counter
livego_hls_requests_total{{file=\"playlist\"}} 10
livego_hls_requests_total{{file=\"segment\"}} 3
# HELP livego_core_cpu_seconds_total CPU time (user + system) used by each core's executor thread.
# TYPE livego_core_cpu_seconds_total counter
livego_core_cpu_seconds_total{{core=\"0\"}} 1.25
# HELP livego_core_streams Live streams owned by each core.
# TYPE livego_core_streams gauge
livego_core_streams{{core=\"0\"}} 1
livego_core_streams{{core=\"1\"}} 2
"
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = Exposition::default();
        out.sample("m", &[("a", "x\"y\\z\nw"), ("b", "plain")], 1);
        assert_eq!(out.text, "m{a=\"x\\\"y\\\\z\\nw\",b=\"plain\"} 1\n");
    }
}
