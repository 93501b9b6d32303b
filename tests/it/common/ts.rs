//! An MPEG-TS checker for HLS segments (ISO/IEC 13818-1 §2.4.3 packets, §2.4.4 PAT/PMT,
//! §2.4.3.7 PES headers): whole 188-byte packets with a sync byte at every 188, no transport
//! errors, continuity counters that count, PAT and PMT before the first PES packet, every PES
//! stream declared in the PMT, and the first video access unit (the first PES of the H.264
//! PID, Annex B) carrying SPS, PPS and an IDR slice. No I/O: bytes in, a report out.

use std::collections::HashMap;
use std::fmt::Write as _;

pub const PACKET_LEN: usize = 188;
pub const SYNC: u8 = 0x47;
const PAT_PID: u16 = 0;
const NULL_PID: u16 = 0x1fff;

/// Stream types of the PMT (ISO/IEC 13818-1 table 2-34) this server may write.
pub const STREAM_H264: u8 = 0x1b;
pub const STREAM_AAC_ADTS: u8 = 0x0f;
pub const STREAM_MPEG1_AUDIO: u8 = 0x03;
pub const STREAM_MPEG2_AUDIO: u8 = 0x04;

/// What one elementary stream of a segment looks like.
#[derive(Clone, Debug, Default)]
pub struct EsInfo {
    pub pid: u16,
    pub stream_type: u8,
    pub packets: usize,
    /// PES packets started (payload_unit_start_indicator).
    pub pes_starts: usize,
    /// PTS of the first PES packet, 90 kHz.
    pub first_pts: Option<u64>,
}

impl EsInfo {
    pub fn is_video(&self) -> bool {
        self.stream_type == STREAM_H264
    }
    pub fn is_audio(&self) -> bool {
        matches!(
            self.stream_type,
            STREAM_AAC_ADTS | STREAM_MPEG1_AUDIO | STREAM_MPEG2_AUDIO
        )
    }
    /// `h264`, `aac`, `mp3` (ffprobe's names), or the stream type in hex.
    pub fn codec(&self) -> String {
        match self.stream_type {
            STREAM_H264 => "h264".into(),
            STREAM_AAC_ADTS => "aac".into(),
            STREAM_MPEG1_AUDIO | STREAM_MPEG2_AUDIO => "mp3".into(),
            t => format!("stream_type 0x{t:02x}"),
        }
    }
}

/// What [`check`] found in one segment.
#[derive(Clone, Debug, Default)]
pub struct TsReport {
    pub len: usize,
    pub packets: usize,
    /// PID of the first packet.
    pub first_pid: Option<u16>,
    pub pmt_pid: Option<u16>,
    /// The PMT's elementary streams, in PMT order.
    pub streams: Vec<EsInfo>,
    /// NAL unit types of the first video access unit, in order.
    pub first_video_nals: Vec<u8>,
    /// Everything wrong, in the order found.
    pub problems: Vec<String>,
}

impl TsReport {
    pub fn video(&self) -> Option<&EsInfo> {
        self.streams.iter().find(|s| s.is_video())
    }
    pub fn audio(&self) -> Option<&EsInfo> {
        self.streams.iter().find(|s| s.is_audio())
    }
    /// The problems plus, when the PMT lacks them, a video stream of `video_codec` and an audio
    /// stream of `audio_codec` (`None`: no such stream wanted; one present is not a problem).
    pub fn problems_for(
        &self,
        video_codec: Option<&str>,
        audio_codec: Option<&str>,
    ) -> Vec<String> {
        let mut p = self.problems.clone();
        for (what, want, have) in [
            ("video", video_codec, self.video()),
            ("audio", audio_codec, self.audio()),
        ] {
            if let Some(want) = want {
                match have {
                    None => p.push(format!("no {what} stream in the PMT (want {want})")),
                    Some(es) if es.codec() != want => {
                        p.push(format!("{what} stream is {}, want {want}", es.codec()))
                    }
                    Some(_) => {}
                }
            }
        }
        if video_codec.is_some() && self.video().is_some() {
            for (nal, name) in [(7, "SPS"), (8, "PPS"), (5, "IDR slice")] {
                if !self.first_video_nals.contains(&nal) {
                    p.push(format!(
                        "first video access unit has no {name} (NAL types {:?})",
                        self.first_video_nals
                    ));
                }
            }
        }
        p
    }
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} bytes, {} packets, first PID {:?}, PMT PID {:?}",
            self.len, self.packets, self.first_pid, self.pmt_pid
        );
        for es in &self.streams {
            let _ = write!(
                s,
                "; PID 0x{:x} {} ({} packets, {} PES, first PTS {:?})",
                es.pid,
                es.codec(),
                es.packets,
                es.pes_starts,
                es.first_pts
            );
        }
        let _ = write!(s, "; first video AU NAL types {:?}", self.first_video_nals);
        s
    }
}

/// A packet's header fields and payload.
struct Packet<'a> {
    tei: bool,
    pusi: bool,
    pid: u16,
    /// adaptation_field_control has the payload bit.
    has_payload: bool,
    cc: u8,
    discontinuity: bool,
    payload: &'a [u8],
}

fn parse_packet(p: &[u8]) -> Result<Packet<'_>, String> {
    let tei = p[1] & 0x80 != 0;
    let pusi = p[1] & 0x40 != 0;
    let pid = u16::from(p[1] & 0x1f) << 8 | u16::from(p[2]);
    let afc = (p[3] >> 4) & 3;
    let cc = p[3] & 0x0f;
    if afc == 0 {
        return Err(format!(
            "PID 0x{pid:x}: adaptation_field_control 00 (reserved)"
        ));
    }
    let mut at = 4;
    let mut discontinuity = false;
    if afc & 2 != 0 {
        let len = usize::from(p[4]);
        let max = if afc == 3 { 182 } else { 183 };
        if len > max {
            return Err(format!("PID 0x{pid:x}: adaptation field of {len} bytes"));
        }
        if len > 0 {
            discontinuity = p[5] & 0x80 != 0;
        }
        at = 5 + len;
    }
    let has_payload = afc & 1 != 0;
    Ok(Packet {
        tei,
        pusi,
        pid,
        has_payload,
        cc,
        discontinuity,
        payload: if has_payload { &p[at..] } else { &[] },
    })
}

/// The section of a PSI packet starting a section (pointer_field skipped), or `None`.
fn psi_section<'a>(pkt: &Packet<'a>) -> Option<&'a [u8]> {
    if !pkt.pusi || pkt.payload.is_empty() {
        return None;
    }
    let pointer = usize::from(pkt.payload[0]);
    pkt.payload.get(1 + pointer..)
}

/// `(program_number, PMT PID)` pairs of a PAT section (single-packet sections only).
fn parse_pat(section: &[u8]) -> Result<Vec<(u16, u16)>, String> {
    if section.first() != Some(&0x00) {
        return Err(format!("PAT table_id {:?}, want 0", section.first()));
    }
    let len = section_len(section)?;
    // after the 8-byte header up to the CRC
    let body = &section[8..3 + len - 4];
    Ok(body
        .chunks_exact(4)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u16::from(c[2] & 0x1f) << 8 | u16::from(c[3]),
            )
        })
        .collect())
}

/// `(stream_type, elementary PID)` pairs of a PMT section (single-packet sections only).
fn parse_pmt(section: &[u8]) -> Result<Vec<(u8, u16)>, String> {
    if section.first() != Some(&0x02) {
        return Err(format!("PMT table_id {:?}, want 2", section.first()));
    }
    let len = section_len(section)?;
    let end = 3 + len - 4;
    if end < 12 {
        return Err(format!("PMT section of {len} bytes"));
    }
    let info_len = usize::from(section[10] & 0x0f) << 8 | usize::from(section[11]);
    let mut at = 12 + info_len;
    let mut streams = Vec::new();
    while at + 5 <= end {
        let stream_type = section[at];
        let pid = u16::from(section[at + 1] & 0x1f) << 8 | u16::from(section[at + 2]);
        let es_info = usize::from(section[at + 3] & 0x0f) << 8 | usize::from(section[at + 4]);
        streams.push((stream_type, pid));
        at += 5 + es_info;
    }
    if at != end {
        return Err(format!(
            "PMT stream loop overruns its section ({at} vs {end})"
        ));
    }
    Ok(streams)
}

/// section_length, checked to fit the bytes at hand (sections spanning packets are not used by
/// HLS segmenters) and to hold a header and CRC, and the CRC itself.
fn section_len(section: &[u8]) -> Result<usize, String> {
    if section.len() < 3 {
        return Err("PSI section cut short".into());
    }
    let len = usize::from(section[1] & 0x0f) << 8 | usize::from(section[2]);
    if len < 9 || 3 + len > section.len() {
        return Err(format!(
            "PSI section_length {len} does not fit ({} bytes left in the packet)",
            section.len()
        ));
    }
    if crc32_mpeg2(&section[..3 + len]) != 0 {
        return Err(format!("PSI table 0x{:02x}: CRC32 mismatch", section[0]));
    }
    Ok(len)
}

/// CRC-32/MPEG-2 (poly 0x04C11DB7, init all ones, no reflection); 0 over a section with its CRC.
pub fn crc32_mpeg2(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// PTS of a PES packet header, if it has one.
fn pes_pts(pes: &[u8]) -> Option<u64> {
    if pes.len() < 14 || pes[..3] != [0, 0, 1] || pes[7] & 0x80 == 0 {
        return None;
    }
    let b = &pes[9..14];
    Some(
        (u64::from(b[0] >> 1) & 7) << 30
            | u64::from(b[1]) << 22
            | u64::from(b[2] >> 1) << 15
            | u64::from(b[3]) << 7
            | u64::from(b[4] >> 1),
    )
}

/// NAL unit types of an Annex B byte stream (after a PES header).
fn annexb_nal_types(es: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut i = 0;
    while i + 3 < es.len() {
        if es[i] == 0 && es[i + 1] == 0 && es[i + 2] == 1 {
            types.push(es[i + 3] & 0x1f);
            i += 3;
        } else {
            i += 1;
        }
    }
    types
}

/// Checks one segment (or a whole `.ts` file).
pub fn check(bytes: &[u8]) -> TsReport {
    let mut r = TsReport {
        len: bytes.len(),
        ..TsReport::default()
    };
    if bytes.is_empty() {
        r.problems.push("empty: no TS packets".into());
        return r;
    }
    if !bytes.len().is_multiple_of(PACKET_LEN) {
        r.problems.push(format!(
            "{} bytes is not a whole number of {PACKET_LEN}-byte packets ({} left over)",
            bytes.len(),
            bytes.len() % PACKET_LEN
        ));
    }
    let bad_sync: Vec<usize> = (0..bytes.len() / PACKET_LEN)
        .map(|i| i * PACKET_LEN)
        .filter(|&at| bytes[at] != SYNC)
        .collect();
    if let Some(first) = bad_sync.first() {
        r.problems.push(format!(
            "{} packet(s) without the 0x47 sync byte, first at offset {first}",
            bad_sync.len()
        ));
        return r;
    }
    let mut last_cc: HashMap<u16, u8> = HashMap::new();
    let mut cc_errors: Vec<String> = Vec::new();
    let mut pat_seen = false;
    let mut pmt_seen = false;
    let mut undeclared: Vec<u16> = Vec::new();
    let mut first_video_pes: Option<Vec<u8>> = None;
    let mut first_video_done = false;
    for (i, raw) in bytes.chunks_exact(PACKET_LEN).enumerate() {
        r.packets += 1;
        let pkt = match parse_packet(raw) {
            Ok(p) => p,
            Err(e) => {
                r.problems.push(format!("packet {i}: {e}"));
                continue;
            }
        };
        r.first_pid.get_or_insert(pkt.pid);
        if pkt.tei {
            r.problems
                .push(format!("packet {i}: transport_error_indicator set"));
        }
        if pkt.pid == NULL_PID {
            continue;
        }
        // continuity_counter (§2.4.3.3): +1 per packet with payload, unchanged without
        if let Some(&prev) = last_cc.get(&pkt.pid) {
            let want = if pkt.has_payload {
                (prev + 1) & 0x0f
            } else {
                prev
            };
            if pkt.cc != want && !pkt.discontinuity {
                cc_errors.push(format!(
                    "packet {i} PID 0x{:x}: continuity_counter {} after {prev}",
                    pkt.pid, pkt.cc
                ));
            }
        }
        last_cc.insert(pkt.pid, pkt.cc);
        if pkt.pid == PAT_PID {
            if let Some(section) = psi_section(&pkt) {
                match parse_pat(section) {
                    Ok(programs) => {
                        pat_seen = true;
                        let pmt = programs.iter().find(|(n, _)| *n != 0).map(|(_, p)| *p);
                        if pmt.is_none() {
                            r.problems.push("PAT lists no program".into());
                        }
                        if r.pmt_pid.is_none() {
                            r.pmt_pid = pmt;
                        }
                    }
                    Err(e) => r.problems.push(format!("packet {i}: {e}")),
                }
            }
            continue;
        }
        if Some(pkt.pid) == r.pmt_pid {
            if let Some(section) = psi_section(&pkt) {
                match parse_pmt(section) {
                    Ok(streams) if !pmt_seen => {
                        pmt_seen = true;
                        r.streams = streams
                            .into_iter()
                            .map(|(stream_type, pid)| EsInfo {
                                pid,
                                stream_type,
                                ..EsInfo::default()
                            })
                            .collect();
                    }
                    Ok(_) => {}
                    Err(e) => r.problems.push(format!("packet {i}: {e}")),
                }
            }
            continue;
        }
        let Some(es) = r.streams.iter_mut().find(|s| s.pid == pkt.pid) else {
            // SDT/other SI (PIDs 0x10-0x1f) may come first; a PES PID before the PMT may not
            if pkt.pid > 0x1f && !undeclared.contains(&pkt.pid) {
                undeclared.push(pkt.pid);
                r.problems.push(format!(
                    "packet {i}: PID 0x{:x} {} (PAT seen: {pat_seen}, PMT seen: {pmt_seen})",
                    pkt.pid,
                    if pmt_seen {
                        "is not in the PMT"
                    } else {
                        "comes before the PMT"
                    }
                ));
            }
            continue;
        };
        es.packets += 1;
        if es.packets == 1 && !pkt.pusi {
            r.problems.push(format!(
                "packet {i}: the segment's first packet of PID 0x{:x} continues a PES begun \
                 elsewhere (no payload_unit_start_indicator)",
                pkt.pid
            ));
        }
        if pkt.pusi {
            es.pes_starts += 1;
            if es.pes_starts == 1 {
                es.first_pts = pes_pts(pkt.payload);
                if es.first_pts.is_none() {
                    r.problems.push(format!(
                        "packet {i}: first PES of PID 0x{:x} has no PTS",
                        pkt.pid
                    ));
                }
            }
        }
        if es.is_video() && !first_video_done {
            match (&mut first_video_pes, pkt.pusi) {
                (None, true) => first_video_pes = Some(pkt.payload.to_vec()),
                (None, false) => {} // continuation of a PES begun before the segment
                (Some(_), true) => first_video_done = true,
                (Some(buf), false) => buf.extend_from_slice(pkt.payload),
            }
        }
    }
    if !pat_seen {
        r.problems.push("no PAT".into());
    }
    if r.pmt_pid.is_some() && !pmt_seen {
        r.problems.push("no PMT".into());
    }
    if let Some(first) = cc_errors.first() {
        r.problems.push(format!(
            "{} continuity_counter error(s) (lost or repeated packets), first: {first}",
            cc_errors.len()
        ));
    }
    for es in &r.streams {
        if es.packets == 0 {
            r.problems.push(format!(
                "PMT lists PID 0x{:x} ({}) but the segment has no packet of it",
                es.pid,
                es.codec()
            ));
        }
    }
    if let Some(pes) = first_video_pes {
        // PES header: 9 bytes + PES_header_data_length
        if pes.len() >= 9 && pes[..3] == [0, 0, 1] {
            let start = 9 + usize::from(pes[8]);
            r.first_video_nals = annexb_nal_types(pes.get(start..).unwrap_or(&[]));
        } else {
            r.problems
                .push("first video PES does not start with a PES header".into());
        }
    }
    r
}
