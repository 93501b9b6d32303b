//! Transport stream packets (ISO/IEC 13818-1 §2.4.3.2-§2.4.3.5): the 188-byte packet with its
//! 4-byte header, the adaptation field (random_access_indicator, PCR, stuffing) and per-PID
//! continuity counters. A payload unit (a PES packet or a PSI section) is spread over as many
//! packets as it needs; the last one is padded with adaptation-field stuffing (PES) or 0xFF
//! bytes after the section (PSI, §2.4.4.2).

pub const PACKET_LEN: usize = 188;
const SYNC_BYTE: u8 = 0x47;
const HEADER_LEN: usize = 4;
const PAYLOAD_LEN: usize = PACKET_LEN - HEADER_LEN;

/// One PID and its 4-bit continuity_counter, incremented for every packet with a payload.
#[derive(Debug, Clone)]
pub struct Pid {
    pub id: u16,
    pub cc: u8,
}

impl Pid {
    pub fn new(id: u16) -> Self {
        Self { id, cc: 0 }
    }

    /// The 4-byte packet header; `adaptation` says whether an adaptation field follows.
    fn header(&mut self, unit_start: bool, adaptation: bool) -> [u8; HEADER_LEN] {
        let cc = self.cc;
        self.cc = (cc + 1) & 0x0f;
        [
            SYNC_BYTE,
            u8::from(unit_start) << 6 | (self.id >> 8) as u8 & 0x1f,
            self.id as u8,
            if adaptation { 0x30 } else { 0x10 } | cc, // not scrambled
        ]
    }
}

/// What the first packet of a payload unit signals in its adaptation field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Adaptation {
    pub random_access: bool,
    /// program_clock_reference_base in 90 kHz units (taken modulo 2^33); the extension is 0.
    pub pcr: Option<u64>,
}

impl Adaptation {
    /// Adaptation-field bytes needed: length byte + flags + 6 PCR bytes, or none at all.
    fn len(&self) -> usize {
        match (self.random_access, self.pcr) {
            (false, None) => 0,
            (_, None) => 2,
            (_, Some(_)) => 8,
        }
    }
}

/// Writes the payload unit `head` followed by `body` (a PES header and the pieces of its payload)
/// as packets on `pid`; the first packet has payload_unit_start_indicator set and carries
/// `adaptation`. Each byte is copied once.
pub fn write_unit(
    out: &mut Vec<u8>,
    pid: &mut Pid,
    mut adaptation: Adaptation,
    head: &[u8],
    body: &[&[u8]],
) {
    let mut remaining = head.len() + body.iter().map(|p| p.len()).sum::<usize>();
    let mut source = Gather {
        pieces: body,
        current: head,
    };
    let mut unit_start = true;
    while remaining > 0 {
        let needed = adaptation.len();
        let n = remaining.min(PAYLOAD_LEN - needed);
        let field_len = needed.max(PAYLOAD_LEN - n);
        out.extend_from_slice(&pid.header(unit_start, field_len > 0));
        if field_len > 0 {
            out.push((field_len - 1) as u8);
        }
        if field_len > 1 {
            let flags =
                u8::from(adaptation.random_access) << 6 | u8::from(adaptation.pcr.is_some()) << 4;
            out.push(flags);
            if let Some(pcr) = adaptation.pcr {
                out.extend_from_slice(&pcr_bytes(pcr));
            }
            out.resize(out.len() + field_len - needed.max(2), 0xff);
        }
        source.copy_to(out, n);
        remaining -= n;
        adaptation = Adaptation::default();
        unit_start = false;
    }
}

/// Writes one PSI section (at most 183 bytes) as a single packet: pointer_field 0, the section,
/// then 0xFF stuffing.
pub fn write_section(out: &mut Vec<u8>, pid: &mut Pid, section: &[u8]) {
    debug_assert!(section.len() < PAYLOAD_LEN);
    let end = out.len() + PACKET_LEN;
    out.extend_from_slice(&pid.header(true, false));
    out.push(0); // pointer_field: the section starts right away
    out.extend_from_slice(section);
    out.resize(end, 0xff);
}

/// PCR (§2.4.3.5): 33-bit base, 6 reserved bits, 9-bit extension (0).
fn pcr_bytes(base: u64) -> [u8; 6] {
    let base = base & ((1 << 33) - 1);
    [
        (base >> 25) as u8,
        (base >> 17) as u8,
        (base >> 9) as u8,
        (base >> 1) as u8,
        (base as u8 & 1) << 7 | 0x7e,
        0,
    ]
}

/// Reads `current`, then the concatenation of `pieces`, front to back.
struct Gather<'a> {
    pieces: &'a [&'a [u8]],
    current: &'a [u8],
}

impl Gather<'_> {
    /// Appends the next `n` bytes (which must exist) to `out`.
    fn copy_to(&mut self, out: &mut Vec<u8>, mut n: usize) {
        while n > 0 {
            while self.current.is_empty() {
                (self.current, self.pieces) = self.pieces.split_first().expect("n <= remaining");
            }
            let (now, rest) = self.current.split_at(n.min(self.current.len()));
            out.extend_from_slice(now);
            self.current = rest;
            n -= now.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(adaptation: Adaptation, pieces: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        write_unit(&mut out, &mut Pid::new(0x100), adaptation, &[], pieces);
        out
    }

    #[test]
    fn pcr_and_stuffing() {
        // PCR base 0x1_2345_6789 (33 bits): 0x1_2345_6789 >> 25 = 0x91, >> 17 = 0xa2,
        // >> 9 = 0xb3, >> 1 = 0xc4 (low byte), bit 0 = 1 -> 0x80 | 0x7e = 0xfe, extension 0.
        let adaptation = Adaptation {
            random_access: true,
            pcr: Some(0x1_2345_6789),
        };
        let out = unit(adaptation, &[&[1, 2], &[], &[3]]);
        assert_eq!(out.len(), PACKET_LEN);
        // 3 payload bytes: adaptation field of 184 - 3 = 181 bytes, length byte 180.
        let head = [
            0x47, 0x41, 0x00, 0x30, 180, 0x50, 0x91, 0xa2, 0xb3, 0xc4, 0xfe, 0x00,
        ];
        assert_eq!(out[..12], head);
        assert!(out[12..185].iter().all(|&b| b == 0xff));
        assert_eq!(out[185..], [1, 2, 3]);
    }

    #[test]
    fn one_and_two_byte_stuffing() {
        // 183 bytes leave one byte: an adaptation field of length 0.
        let out = unit(Adaptation::default(), &[&[7; 183]]);
        assert_eq!(out[..5], [0x47, 0x41, 0x00, 0x30, 0]);
        // 182 bytes: length 1 and an empty flags byte.
        let out = unit(Adaptation::default(), &[&[7; 182]]);
        assert_eq!(out[..6], [0x47, 0x41, 0x00, 0x30, 1, 0]);
        // 184 bytes fill the packet without an adaptation field.
        let out = unit(Adaptation::default(), &[&[7; 184]]);
        assert_eq!(out[..4], [0x47, 0x41, 0x00, 0x10]);
        assert_eq!(out.len(), PACKET_LEN);
    }

    #[test]
    fn spans_packets_with_counters() {
        let payload: Vec<u8> = (0..=255).cycle().take(1000).collect();
        let mut pid = Pid::new(0x101);
        pid.cc = 14;
        let mut out = Vec::new();
        let adaptation = Adaptation {
            random_access: true,
            pcr: None,
        };
        write_unit(
            &mut out,
            &mut pid,
            adaptation,
            &payload[..5],
            &[&payload[5..10], &payload[10..]],
        );
        // 182 + 184 * 4 = 918 bytes in the first five packets, 82 in the last.
        assert_eq!(out.len(), 6 * PACKET_LEN);
        let packets: Vec<&[u8]> = out.chunks(PACKET_LEN).collect();
        assert_eq!(packets[0][..6], [0x47, 0x41, 0x01, 0x3e, 1, 0x40]);
        assert_eq!(packets[1][..4], [0x47, 0x01, 0x01, 0x1f]);
        assert_eq!(packets[2][3], 0x10);
        assert_eq!(packets[5][..5], [0x47, 0x01, 0x01, 0x33, 101]);
        assert_eq!(pid.cc, 4);
        let mut data = packets[0][6..].to_vec();
        packets[1..5]
            .iter()
            .for_each(|p| data.extend_from_slice(&p[4..]));
        data.extend_from_slice(&packets[5][PACKET_LEN - 82..]);
        assert_eq!(data, payload);
    }

    #[test]
    fn section_packet() {
        let mut out = Vec::new();
        let mut pid = Pid::new(0);
        write_section(&mut out, &mut pid, &[1, 2, 3]);
        assert_eq!(out.len(), PACKET_LEN);
        assert_eq!(out[..8], [0x47, 0x40, 0x00, 0x10, 0, 1, 2, 3]);
        assert!(out[8..].iter().all(|&b| b == 0xff));
        assert_eq!(pid.cc, 1);
    }
}
