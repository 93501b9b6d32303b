//! The HLS probe (benchmark S6): polls a live playlist over one keep-alive HTTP/1.1 connection
//! and measures how long after the publisher sent the keyframe that closes a segment that
//! segment shows up in the playlist. (A segment cannot be finished before the keyframe that
//! starts the next one arrives, so that keyframe's send instant is where the clock starts; the
//! figure includes up to one poll interval.)

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::hist::Histogram;
use crate::http::{HttpUrl, parse_head};
use crate::net::{connect, resolve};
use livego::net::conn::Conn;
use livego::net::readiness::Readiness;

/// Pause between two playlist requests.
pub const POLL_INTERVAL: Duration = Duration::from_millis(2);
/// A playlist response larger than this is refused.
const MAX_RESPONSE: usize = 256 * 1024;

/// The URI of the newest segment in a media playlist (its last non-comment line).
pub fn newest_segment(playlist: &str) -> Option<&str> {
    playlist
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with('#'))
}

/// One GET (`request`) on `sock`; Ok(None) for a non-200 answer.
async fn get(sock: &Conn, request: &[u8], buf: &mut BytesMut) -> Result<Option<String>, String> {
    sock.write_all(request)
        .await
        .map_err(|e| format!("write: {e}"))?;
    loop {
        if let Some(head) = parse_head(buf)? {
            let length = head
                .content_length
                .ok_or("playlist response without Content-Length")?;
            let (status, head) = (head.status, head.len);
            if head + length > MAX_RESPONSE {
                return Err(format!("playlist response of {} bytes", head + length));
            }
            if buf.len() >= head + length {
                let response = buf.split_to(head + length);
                let body = String::from_utf8_lossy(&response[head..]).into_owned();
                return Ok((status == 200).then_some(body));
            }
        }
        let n = sock
            .read(buf, 16 * 1024)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("server closed the connection".into());
        }
    }
}

/// Polls `url` until an error; records one sample per new segment into `samples`, timed from
/// `last_keyframe` (the publisher's newest keyframe send instant).
pub async fn run(
    url: String,
    last_keyframe: Rc<Cell<Option<Instant>>>,
    samples: Rc<RefCell<Histogram>>,
    ready: Rc<Readiness>,
) -> Result<(), String> {
    let url = HttpUrl::parse(&url)?;
    let request = url.get("1.1");
    let sock = connect(resolve(&url.host, url.port)?, &ready)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut buf = BytesMut::new();
    let mut newest: Option<String> = None;
    loop {
        if let Some(playlist) = get(&sock, &request, &mut buf).await? {
            let now = Instant::now();
            let segment = newest_segment(&playlist).map(str::to_string);
            if newest.is_some()
                && segment != newest
                && let Some(sent) = last_keyframe.get()
            {
                samples
                    .borrow_mut()
                    .record(now.saturating_duration_since(sent).as_micros() as u64);
            }
            if segment.is_some() {
                newest = segment;
            }
        }
        glommio::timer::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_segment_is_the_last_uri() {
        let playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\nx/7.ts\n\
                        #EXTINF:2.000,\nx/8.ts\n\n";
        assert_eq!(newest_segment(playlist), Some("x/8.ts"));
        assert_eq!(newest_segment("#EXTM3U\n#EXT-X-ENDLIST\n"), None);
    }
}
