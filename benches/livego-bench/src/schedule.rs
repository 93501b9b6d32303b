//! What the publisher sends and when: an FLV file split into its header messages (metadata,
//! sequence headers: sent once, first) and its media tags, replayed in a loop with continuous
//! timestamps (each loop shifted by the file's length plus one video frame). Sans-IO.

use bytes::{BufMut, Bytes, BytesMut};
use livego::flv::reader::FlvReader;
use livego::flv::tag::{TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO};

/// One message to publish: FLV tag type (= RTMP message type), timestamp, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub tag_type: u8,
    pub ts_ms: u64,
    pub body: Bytes,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    /// Metadata (with its `@setDataFrame` prefix) and sequence headers, timestamp 0.
    pub headers: Vec<Item>,
    /// Media tags with timestamps from 0.
    media: Vec<Item>,
    /// Timestamp shift from one loop to the next.
    pub loop_ms: u64,
    /// Media bytes per loop.
    pub loop_bytes: u64,
    next: usize,
    loops: u64,
}

fn is_sequence_header(tag_type: u8, body: &[u8]) -> bool {
    match (tag_type, body) {
        (TAG_VIDEO, [b0, 0, ..]) => b0 & 0x0f == 7,
        (TAG_AUDIO, [b0, 0, ..]) => b0 >> 4 == 10,
        _ => false,
    }
}

impl Schedule {
    /// Splits a whole FLV file; errors if it is malformed or has no media.
    pub fn from_flv(file: &[u8]) -> Result<Schedule, String> {
        let mut reader = FlvReader::new();
        reader.push(file);
        let (mut headers, mut media) = (Vec::new(), Vec::new());
        while let Some(tag) = reader.next_tag().map_err(|e| e.to_string())? {
            let mut item = Item {
                tag_type: tag.tag_type,
                ts_ms: u64::from(tag.timestamp),
                body: tag.body,
            };
            if tag.tag_type == TAG_SCRIPT {
                let mut body = BytesMut::new();
                body.put_slice(b"\x02\x00\x0d@setDataFrame");
                body.put_slice(&item.body);
                item.body = body.freeze();
            }
            if tag.tag_type == TAG_SCRIPT || is_sequence_header(tag.tag_type, &item.body) {
                if !headers.iter().any(|h: &Item| h.tag_type == item.tag_type) {
                    item.ts_ms = 0;
                    headers.push(item);
                }
            } else {
                media.push(item);
            }
        }
        let (Some(first), Some(last)) = (media.first(), media.last()) else {
            return Err("the FLV file has no audio or video tags".into());
        };
        let start = media.iter().map(|m| m.ts_ms).min().unwrap_or(first.ts_ms);
        let end = last.ts_ms.max(start);
        let video: Vec<u64> = media
            .iter()
            .filter(|m| m.tag_type == TAG_VIDEO)
            .map(|m| m.ts_ms)
            .collect();
        let frame = video
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0]))
            .filter(|&d| d > 0)
            .min()
            .unwrap_or(33);
        for m in &mut media {
            m.ts_ms -= start;
        }
        let loop_bytes = media.iter().map(|m| m.body.len() as u64).sum();
        Ok(Schedule {
            headers,
            media,
            loop_ms: end - start + frame,
            loop_bytes,
            next: 0,
            loops: 0,
        })
    }

    /// Media bit rate of the file (bits per second).
    pub fn bitrate(&self) -> f64 {
        self.loop_bytes as f64 * 8000.0 / self.loop_ms as f64
    }

    /// The timestamp of the next media message (when it is due, counted from the start).
    pub fn peek_ts(&self) -> u64 {
        self.media[self.next].ts_ms + self.loops * self.loop_ms
    }

    /// The next media message, looping forever.
    pub fn next_item(&mut self) -> Item {
        let mut item = self.media[self.next].clone();
        item.ts_ms += self.loops * self.loop_ms;
        self.next += 1;
        if self.next == self.media.len() {
            self.next = 0;
            self.loops += 1;
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use livego::flv::header::file_header;
    use livego::flv::tag::encode_tag;

    #[test]
    fn headers_once_media_looped_continuously() {
        let mut file = file_header(true, true).to_vec();
        let tags: [(u8, u32, &[u8]); 6] = [
            (TAG_SCRIPT, 0, b"\x02\x00\x0aonMetaData\x05"),
            (TAG_VIDEO, 0, &[0x17, 0, 0, 0, 0, 1]),
            (TAG_AUDIO, 0, &[0xaf, 0, 0x12, 0x10]),
            (TAG_VIDEO, 100, &[0x17, 1, 0, 0, 0, 2]),
            (TAG_AUDIO, 110, &[0xaf, 1, 3]),
            (TAG_VIDEO, 133, &[0x27, 1, 0, 0, 0, 4]),
        ];
        for (ty, ts, body) in tags {
            file.extend_from_slice(&encode_tag(ty, ts, body));
        }
        let mut s = Schedule::from_flv(&file).unwrap();
        assert_eq!(s.headers.len(), 3);
        assert!(
            s.headers[0]
                .body
                .starts_with(b"\x02\x00\x0d@setDataFrame\x02\x00\x0aonMetaData")
        );
        assert_eq!(s.loop_ms, 33 + 33);
        assert_eq!(s.loop_bytes, 6 + 3 + 6);
        let ts: Vec<u64> = (0..7).map(|_| s.next_item().ts_ms).collect();
        assert_eq!(ts, [0, 10, 33, 66, 76, 99, 132]);
        assert_eq!(s.peek_ts(), 142);
        assert!(Schedule::from_flv(&file[..13]).is_err());
    }
}
