//! Sans-IO MPEG-2 transport stream muxer (ISO/IEC 13818-1) for HLS segments: 188-byte packets
//! with adaptation fields, PCR and continuity counters ([`packet`], §2.4.3), PAT/PMT with their
//! CRC ([`psi`] and [`crc`], §2.4.4), PES headers with PTS/DTS ([`pes`], §2.4.3.6), and the
//! [`Muxer`] that turns FLV/RTMP frames (H.264 AVCC, raw AAC, MP3) into one program of
//! elementary streams: H.264 in Annex B form, AAC with ADTS headers, MP3 as is.

pub mod crc;
pub mod muxer;
pub mod packet;
pub mod pes;
pub mod psi;

pub use muxer::{AudioCodec, Muxer, PCR_LEAD, Tracks};
pub use packet::PACKET_LEN;
#[cfg(test)]
pub(crate) mod demux;
