//! Program-specific information (ISO/IEC 13818-1 §2.4.4): the program association section
//! (PAT, §2.4.4.3) naming the one program's PMT PID, and the TS program map section (PMT,
//! §2.4.4.8) listing its elementary streams and PCR PID. Both end with a CRC-32/MPEG-2.

use super::crc::crc32;

pub const TABLE_PAT: u8 = 0x00;
pub const TABLE_PMT: u8 = 0x02;

/// A long-form section: table header, `body`, CRC. `id` is the transport_stream_id (PAT) or the
/// program_number (PMT); version 0, current, a single section.
fn section(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
    let length = 5 + body.len() + 4; // header fields after section_length, body, CRC
    let mut s = Vec::with_capacity(3 + length);
    s.extend_from_slice(&[
        table_id,
        0xb0 | (length >> 8) as u8, // section_syntax_indicator, '0', reserved
        length as u8,
    ]);
    s.extend_from_slice(&id.to_be_bytes());
    s.extend_from_slice(&[0xc1, 0, 0]); // reserved, version 0, current_next; section 0 of 0
    s.extend_from_slice(body);
    s.extend_from_slice(&crc32(&s).to_be_bytes());
    s
}

/// The PAT of transport stream 1 with one program `program` whose PMT is on `pmt_pid`.
pub fn pat(program: u16, pmt_pid: u16) -> Vec<u8> {
    let mut body = program.to_be_bytes().to_vec();
    body.extend_from_slice(&(0xe000 | pmt_pid).to_be_bytes());
    section(TABLE_PAT, 1, &body)
}

/// The PMT of `program`: PCR on `pcr_pid`, no descriptors, `streams` as (stream_type, PID).
pub fn pmt(program: u16, pcr_pid: u16, streams: &[(u8, u16)]) -> Vec<u8> {
    let mut body = Vec::with_capacity(4 + 5 * streams.len());
    body.extend_from_slice(&(0xe000 | pcr_pid).to_be_bytes());
    body.extend_from_slice(&[0xf0, 0]); // program_info_length 0
    for &(stream_type, pid) in streams {
        body.push(stream_type);
        body.extend_from_slice(&(0xe000 | pid).to_be_bytes());
        body.extend_from_slice(&[0xf0, 0]); // ES_info_length 0
    }
    section(TABLE_PMT, program, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pat_vector() {
        let expected = [
            0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xf0, 0x00, 0x2a, 0xb1,
            0x04, 0xb2,
        ];
        assert_eq!(pat(1, 0x1000), expected);
    }

    #[test]
    fn pmt_vector() {
        // H.264 on 0x100 (also the PCR PID) and AAC ADTS on 0x101: the PMT ffmpeg writes for
        // such a stream, whose CRC was checked with an independent CRC-32/MPEG-2.
        let expected = [
            0x02, 0xb0, 0x17, 0x00, 0x01, 0xc1, 0x00, 0x00, 0xe1, 0x00, 0xf0, 0x00, 0x1b, 0xe1,
            0x00, 0xf0, 0x00, 0x0f, 0xe1, 0x01, 0xf0, 0x00, 0x2f, 0x44, 0xb9, 0x9b,
        ];
        assert_eq!(pmt(1, 0x100, &[(0x1b, 0x100), (0x0f, 0x101)]), expected);
    }
}
