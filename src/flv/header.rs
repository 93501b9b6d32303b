//! The FLV file header (Adobe FLV spec v10.1, E.2) followed by PreviousTagSize0 (E.3): the
//! 13 bytes that open every FLV file and HTTP-FLV response.

/// Header flag: the stream carries audio tags.
pub const FLAG_AUDIO: u8 = 0x04;
/// Header flag: the stream carries video tags.
pub const FLAG_VIDEO: u8 = 0x01;
/// Length of the version-1 header (the DataOffset value).
pub const HEADER_LEN: usize = 9;

/// "FLV", version 1, the audio/video flags, DataOffset 9, then PreviousTagSize0 = 0.
pub fn file_header(has_audio: bool, has_video: bool) -> [u8; 13] {
    let mut flags = 0;
    if has_audio {
        flags |= FLAG_AUDIO;
    }
    if has_video {
        flags |= FLAG_VIDEO;
    }
    [
        b'F',
        b'L',
        b'V',
        1,
        flags,
        0,
        0,
        0,
        HEADER_LEN as u8,
        0,
        0,
        0,
        0,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        let h = file_header(true, true);
        assert_eq!(h, [0x46, 0x4c, 0x56, 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0]);
        assert_eq!(file_header(true, false)[4], 0x04);
        assert_eq!(file_header(false, true)[4], 0x01);
        assert_eq!(file_header(false, false)[4], 0x00);
    }
}
