//! CRC-32/MPEG-2 (ISO/IEC 13818-1 Annex A), the checksum that ends every PSI section: polynomial
//! 0x04C11DB7, initial value 0xFFFFFFFF, MSB first, no final XOR. Table-driven, the table built
//! at compile time.

const POLY: u32 = 0x04c1_1db7;

const TABLE: [u32; 256] = {
    let mut table = [0; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 {
                crc << 1 ^ POLY
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

pub fn crc32(data: &[u8]) -> u32 {
    data.iter().fold(!0, |crc, &b| {
        crc << 8 ^ TABLE[usize::from((crc >> 24) as u8 ^ b)]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        // The catalogue check value of CRC-32/MPEG-2.
        assert_eq!(crc32(b"123456789"), 0x0376_e6e7);
        assert_eq!(crc32(&[]), 0xffff_ffff);
    }

    #[test]
    fn standard_pat() {
        // The usual PAT: transport_stream_id 1, program 1 -> PMT PID 0x1000.
        let pat = [
            0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xf0, 0x00,
        ];
        assert_eq!(crc32(&pat), 0x2ab1_04b2);
        // A section followed by its CRC checksums to zero.
        assert_eq!(crc32(&[&pat[..], &[0x2a, 0xb1, 0x04, 0xb2]].concat()), 0);
    }
}
