//! The live media playlist (RFC 8216 §4.3, §6.2.1-§6.2.2) for a sliding window of segments:
//! version 3 (decimal EXTINF), TARGETDURATION as the ceiling of the longest segment listed so no
//! EXTINF exceeds it, MEDIA-SEQUENCE and DISCONTINUITY-SEQUENCE of the first segment,
//! DISCONTINUITY before the first segment after a publisher reconnect, ENDLIST once ended.

use super::segmenter::Segment;
use std::fmt::Write;

/// What the playlist needs to know about one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    pub sequence: u64,
    pub duration_ms: u32,
    pub discontinuity: bool,
    /// Discontinuity tags from the start of the stream up to and including this segment's.
    pub discontinuity_sequence: u64,
}

impl From<&Segment> for SegmentInfo {
    fn from(s: &Segment) -> Self {
        Self {
            sequence: s.sequence,
            duration_ms: s.duration_ms,
            discontinuity: s.discontinuity,
            discontinuity_sequence: s.discontinuity_sequence,
        }
    }
}

/// The media playlist for `segments` (oldest first, the window to list); each URI is
/// `{uri_prefix}{sequence}.ts`. `ended` adds #EXT-X-ENDLIST.
pub fn render(segments: &[SegmentInfo], uri_prefix: &str, ended: bool) -> String {
    let target = segments.iter().map(|s| s.duration_ms.div_ceil(1000)).max();
    let mut m3u8 = String::with_capacity(128 + 48 * segments.len());
    m3u8.push_str("#EXTM3U\n#EXT-X-VERSION:3\n");
    let _ = writeln!(m3u8, "#EXT-X-TARGETDURATION:{}", target.unwrap_or(0).max(1));
    if let Some(first) = segments.first() {
        let _ = writeln!(m3u8, "#EXT-X-MEDIA-SEQUENCE:{}", first.sequence);
        // The tags before the first segment no longer appear: count them (§4.3.3.3).
        let gone = first
            .discontinuity_sequence
            .saturating_sub(u64::from(first.discontinuity));
        if gone > 0 {
            let _ = writeln!(m3u8, "#EXT-X-DISCONTINUITY-SEQUENCE:{gone}");
        }
    } else {
        m3u8.push_str("#EXT-X-MEDIA-SEQUENCE:0\n");
    }
    for s in segments {
        if s.discontinuity {
            m3u8.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let (secs, ms) = (s.duration_ms / 1000, s.duration_ms % 1000);
        let _ = writeln!(
            m3u8,
            "#EXTINF:{secs}.{ms:03},\n{uri_prefix}{}.ts",
            s.sequence
        );
    }
    if ended {
        m3u8.push_str("#EXT-X-ENDLIST\n");
    }
    m3u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(sequence: u64, duration_ms: u32, discontinuity_sequence: u64) -> SegmentInfo {
        SegmentInfo {
            sequence,
            duration_ms,
            discontinuity: false,
            discontinuity_sequence,
        }
    }

    #[test]
    fn live_window() {
        let segments = [info(7, 2002, 0), info(8, 4000, 0), info(9, 1999, 0)];
        let expected = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n\
            #EXT-X-MEDIA-SEQUENCE:7\n\
            #EXTINF:2.002,\nroom/7.ts\n#EXTINF:4.000,\nroom/8.ts\n#EXTINF:1.999,\nroom/9.ts\n";
        assert_eq!(render(&segments, "room/", false), expected);
    }

    #[test]
    fn discontinuities_and_end() {
        let mut segments = [info(3, 4001, 1), info(4, 2000, 2), info(5, 33, 2)];
        segments[1].discontinuity = true;
        let expected = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:5\n\
            #EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n\
            #EXTINF:4.001,\n3.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\n4.ts\n\
            #EXTINF:0.033,\n5.ts\n#EXT-X-ENDLIST\n";
        assert_eq!(render(&segments, "", true), expected);
        // A first segment that carries its own tag still lists it; the count excludes it.
        let text = render(&segments[1..], "", false);
        assert!(
            text.contains("SEQUENCE:4\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n#EXT-X-DISCONTINUITY\n")
        );
        segments[1].discontinuity_sequence = 1;
        let text = render(&segments[1..2], "", false);
        assert!(text.ends_with("SEQUENCE:4\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\n4.ts\n"));
    }

    #[test]
    fn empty() {
        let expected = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n\
            #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-ENDLIST\n";
        assert_eq!(render(&[], "room/", true), expected);
    }
}
