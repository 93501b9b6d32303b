//! HTTP-FLV playback: `GET /{app}/{room}.flv` streams the FLV header, metadata, sequence
//! headers, the GOP cache from a keyframe, then live tags, through the same per-core fan-out
//! and bounded queue as RTMP players. The FLV tag bytes are the frames' shared `flv` form; per
//! player there is only the 13-byte file header and, on HTTP/1.1, the chunk framing of each
//! write batch. The response ends when the publisher leaves.

use std::rc::Rc;

use bytes::BytesMut;
use futures_lite::future;

use super::conn::{PLAYER_READ, Transport};
use super::core::CoreContext;
use super::error::ConnError;
use super::http::{send, unix_now};
use super::writer::{self, Framing};
use crate::flv;
use crate::http::{self, LAST_CHUNK, Method, Request, Response};
use crate::stream::queue::{Delivery, Outbox};
use crate::stream::stats::{Protocol, Role};
use crate::stream::{FrameKind, StreamKey};

/// Serve a request on the HTTP-FLV listener; Ok(()) when the response (and connection) ended.
pub async fn serve(
    conn: &Rc<Transport>,
    ctx: &Rc<CoreContext>,
    request: &Request,
) -> Result<(), ConnError> {
    let head_only = request.method == Method::Head;
    let key = match stream_of(ctx, &request.path) {
        Ok(key) => key,
        Err(response) => {
            return send(conn, &response, request.keep_alive(), head_only).await;
        }
    };
    let chunked = request.version_minor >= 1;
    let mut head = BytesMut::new();
    Response::new(200)
        .header("Content-Type", "video/x-flv")
        .header("Cache-Control", "no-cache")
        .encode_stream_head(unix_now(), chunked && !head_only, &mut head);
    conn.write_all(&head).await.map_err(ConnError::Write)?;
    if head_only {
        return Ok(());
    }
    let outbox = Rc::new(Outbox::new(ctx.shared.config.player_queue_ms as u32));
    let Ok(_subscription) = ctx.hub.subscribe(key.clone(), outbox.clone()) else {
        let response = http::error_response(503, "too many players of this stream");
        return send(conn, &response, false, false).await;
    };
    let ends = (conn.peer(), conn.local());
    let stats = ctx
        .shared
        .stats
        .register(Role::Player, Protocol::HttpFlv, key.clone(), ends);
    outbox.set_stats(stats.stats.clone());
    log::info!("http-flv {}: playing {key}", conn.peer());
    let framing = FlvFraming {
        chunked,
        header_sent: false,
    };
    let write = writer::spawn(conn.clone(), outbox, ctx.clone(), framing);
    future::or(write, watch_disconnect(conn)).await
}

/// The stream a path names, or the response saying why there is none.
fn stream_of(ctx: &CoreContext, path: &str) -> Result<StreamKey, Response> {
    let not_found = |why: String| Err(http::error_response(404, &why));
    let Some((app, room)) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix(".flv"))
        .and_then(|p| p.split_once('/'))
    else {
        return not_found(format!("{path} is not /APP/ROOM.flv"));
    };
    if room.is_empty() || room.contains('/') {
        return not_found(format!("{path} is not /APP/ROOM.flv"));
    }
    if !ctx.shared.config.app(app).is_some_and(|a| a.flv) {
        return not_found(format!("no HTTP-FLV application {app:?}"));
    }
    let key = StreamKey::new(app, room);
    if ctx.hub.registry().owner(&key).is_none() {
        return not_found(format!("no live stream {key}"));
    }
    Ok(key)
}

/// Resolves when the client closes its side (or sends garbage we do not read anyway).
async fn watch_disconnect(conn: &Transport) -> Result<(), ConnError> {
    let mut buf = BytesMut::new();
    loop {
        buf.clear();
        match conn.read(&mut buf, PLAYER_READ).await {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(ConnError::Read(e)),
        }
    }
}

/// FLV tags as they are; on HTTP/1.1 each batch is one chunk. The FLV file header goes out
/// with the first batch of the stream (its start marker and bootstrap frames), flagging the
/// tracks that batch holds, so that players do not wait for a track that never comes.
struct FlvFraming {
    chunked: bool,
    header_sent: bool,
}

impl Framing for FlvFraming {
    fn encode(&mut self, batch: &mut Vec<Delivery>, buf: &mut Vec<u8>) -> bool {
        // Nothing after the end of the stream belongs to this response.
        let end = batch.iter().position(|d| matches!(d, Delivery::StreamEnd));
        let ended = end.is_some();
        batch.truncate(end.unwrap_or(batch.len()));
        let header = self.file_header(batch);
        let len: usize = header.len() + batch.iter().map(|d| bytes_of(d).len()).sum::<usize>();
        if self.chunked && len > 0 {
            buf.extend_from_slice(format!("{len:x}\r\n").as_bytes());
        }
        buf.extend_from_slice(&header);
        for item in batch.drain(..) {
            buf.extend_from_slice(bytes_of(&item));
        }
        if self.chunked && len > 0 {
            buf.extend_from_slice(b"\r\n");
        }
        if ended && self.chunked {
            buf.extend_from_slice(LAST_CHUNK);
        }
        !ended
    }
}

impl FlvFraming {
    /// The file header, if `batch` starts the stream for this player.
    fn file_header(&mut self, batch: &[Delivery]) -> Vec<u8> {
        if self.header_sent || !matches!(batch.first(), Some(Delivery::StreamStart)) {
            return Vec::new();
        }
        self.header_sent = true;
        let has = |kind| {
            let frame_of = |d: &Delivery| matches!(d, Delivery::Frame(f) if f.kind == kind);
            batch.iter().any(frame_of)
        };
        flv::header::file_header(has(FrameKind::Audio), has(FrameKind::Video)).to_vec()
    }
}

fn bytes_of(item: &Delivery) -> &[u8] {
    match item {
        Delivery::Frame(frame) => &frame.flv,
        Delivery::Raw(bytes) => bytes,
        Delivery::StreamStart | Delivery::StreamEnd => &[],
    }
}
