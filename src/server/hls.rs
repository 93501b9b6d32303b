//! HLS serving on `hls_addr`: playlists and segments straight from this core's copy of the
//! in-memory HLS snapshots (no lock shared by cores, none held while sending), and livego's `/crossdomain.xml`.
//!
//! URLs: `/{app}/{room}.m3u8` (no-cache) and `/{app}/{room}/{seq}.ts` (cacheable for a few
//! target durations: a segment never changes once listed).

use super::core::CoreContext;
use crate::http::{self, Response};
use crate::stream::StreamKey;
use crate::stream::stats::HlsFile;

const CROSSDOMAIN_XML: &str = "<?xml version=\"1.0\" ?>\n<cross-domain-policy>\n\t<allow-access-from domain=\"*\" />\n\t<allow-http-request-headers-from domain=\"*\" headers=\"*\"/>\n</cross-domain-policy>\n";

/// The response to `GET path`; bodies are shared snapshot bytes, not copies.
pub fn respond(ctx: &CoreContext, path: &str) -> Response {
    if path == "/crossdomain.xml" {
        return Response::new(200).body("text/xml", CROSSDOMAIN_XML);
    }
    lookup(ctx, path).unwrap_or_else(|why| http::error_response(404, &why))
}

fn lookup(ctx: &CoreContext, path: &str) -> Result<Response, String> {
    let rest = path.strip_prefix('/').ok_or("not found")?;
    let (app, rest) = rest
        .split_once('/')
        .ok_or_else(|| format!("no HLS at {path}"))?;
    if !ctx.shared.config.app(app).is_some_and(|a| a.hls) {
        return Err(format!("no HLS application {app:?}"));
    }
    if let Some(room) = rest.strip_suffix(".m3u8").filter(|r| !r.contains('/')) {
        let key = StreamKey::new(app, room);
        let snapshot = ctx
            .hub
            .hls_snapshot(&key)
            .ok_or_else(|| format!("no live stream {key}"))?;
        let playlist = snapshot.playlist.clone();
        ctx.shared.stats.count_hls(HlsFile::Playlist);
        let response = Response::new(200)
            .body("application/vnd.apple.mpegurl", playlist)
            .header("Cache-Control", "no-cache");
        return Ok(response);
    }
    let (room, segment) = rest
        .split_once('/')
        .ok_or_else(|| format!("no HLS at {path}"))?;
    let sequence: u64 = segment
        .strip_suffix(".ts")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HLS at {path}"))?;
    let key = StreamKey::new(app, room);
    let snapshot = ctx
        .hub
        .hls_snapshot(&key)
        .ok_or_else(|| format!("no live stream {key}"))?;
    let data = snapshot
        .segment(sequence)
        .ok_or_else(|| format!("no segment {sequence} of {key}"))?;
    ctx.shared.stats.count_hls(HlsFile::Segment);
    let max_age = 3 * snapshot.target_duration_s.max(1);
    let response = Response::new(200)
        .body("video/mp2t", data.clone())
        .header("Cache-Control", format!("max-age={max_age}"));
    Ok(response)
}
