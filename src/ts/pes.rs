//! PES packet headers (ISO/IEC 13818-1 §2.4.3.6-§2.4.3.7): packet_start_code_prefix, stream_id,
//! PES_packet_length and the optional header with PTS and, when it differs, DTS (33-bit,
//! 90 kHz). The payload itself is never copied here.

pub const STREAM_ID_AUDIO: u8 = 0xc0;
pub const STREAM_ID_VIDEO: u8 = 0xe0;

const MAX_LEN: usize = 19;

/// A PES header, built on the stack.
#[derive(Debug, Clone, Copy)]
pub struct PesHeader {
    bytes: [u8; MAX_LEN],
    len: usize,
}

impl PesHeader {
    /// The header of a PES packet carrying `payload_len` bytes. PES_packet_length is 0
    /// (unbounded, allowed for video in a TS) when the packet would not fit 16 bits.
    pub fn new(stream_id: u8, pts: u64, dts: u64, payload_len: usize) -> Self {
        let with_dts = dts != pts;
        let optional_len: u8 = if with_dts { 10 } else { 5 };
        let packet_len = u16::try_from(3 + usize::from(optional_len) + payload_len).unwrap_or(0);
        let mut bytes = [0; MAX_LEN];
        bytes[..4].copy_from_slice(&[0, 0, 1, stream_id]);
        bytes[4..6].copy_from_slice(&packet_len.to_be_bytes());
        // '10', not scrambled, no priority/alignment/copyright/original; PTS_DTS_flags.
        bytes[6..9].copy_from_slice(&[0x80, if with_dts { 0xc0 } else { 0x80 }, optional_len]);
        if with_dts {
            bytes[9..14].copy_from_slice(&timestamp(0b0011, pts));
            bytes[14..19].copy_from_slice(&timestamp(0b0001, dts));
        } else {
            bytes[9..14].copy_from_slice(&timestamp(0b0010, pts));
        }
        Self {
            bytes,
            len: 9 + usize::from(optional_len),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// A 33-bit timestamp in 5 bytes: 4-bit prefix, bits 32..30, 29..15, 14..0, each followed by a
/// marker bit.
fn timestamp(prefix: u8, ts: u64) -> [u8; 5] {
    [
        prefix << 4 | (ts >> 29 & 0x0e) as u8 | 1,
        (ts >> 22) as u8,
        (ts >> 14 & 0xfe) as u8 | 1,
        (ts >> 7) as u8,
        (ts << 1 & 0xfe) as u8 | 1,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pts_and_dts() {
        // PTS 66000 = 2 << 15 | 0x1d0: bits 29..15 = 2, bits 14..0 = 0x1d0 = 3 << 7 | 0x50.
        // DTS 63000 = 1 << 15 | 0x7618: bits 14..0 = 0xec << 7 | 0x18.
        let header = PesHeader::new(STREAM_ID_VIDEO, 66_000, 63_000, 100);
        let expected = [
            0x00, 0x00, 0x01, 0xe0, 0x00, 0x71, 0x80, 0xc0, 0x0a, // 3 + 10 + 100 = 0x71
            0x31, 0x00, 0x05, 0x03, 0xa1, // '0011' PTS
            0x11, 0x00, 0x03, 0xec, 0x31, // '0001' DTS
        ];
        assert_eq!(header.as_bytes(), expected);
    }

    #[test]
    fn pts_only_and_wide_values() {
        let header = PesHeader::new(STREAM_ID_AUDIO, (1 << 33) - 1, (1 << 33) - 1, 65_528);
        let expected = [
            0x00, 0x00, 0x01, 0xc0, 0x00, 0x00, 0x80, 0x80, 0x05, // 8 + 65528 > 0xffff
            0x2f, 0xff, 0xff, 0xff, 0xff,
        ];
        assert_eq!(header.as_bytes(), expected);
        let header = PesHeader::new(STREAM_ID_AUDIO, 90_000, 90_000, 65_527);
        assert_eq!(header.as_bytes()[4..6], [0xff, 0xff]);
        // 90000 = 0x15f90: bits 29..15 = 2, bits 14..0 = 0x5f90 = 0xbf << 7 | 0x10.
        assert_eq!(header.as_bytes()[9..], [0x21, 0x00, 0x05, 0xbf, 0x21]);
    }
}
