//! A minimal TS reader for the tests: splits packets, checks the invariants every muxer output
//! must hold and reassembles payload units.

use super::PACKET_LEN;
use std::collections::HashMap;

#[derive(Debug)]
pub struct Packet<'a> {
    pub pid: u16,
    pub unit_start: bool,
    /// The adaptation field after its length byte (empty when absent).
    pub adaptation: &'a [u8],
    pub payload: &'a [u8],
}

impl Packet<'_> {
    pub fn random_access(&self) -> bool {
        self.adaptation.first().is_some_and(|f| f & 0x40 != 0)
    }

    /// The PCR base, if present.
    pub fn pcr(&self) -> Option<u64> {
        let a = self.adaptation;
        (a.first()? & 0x10 != 0).then(|| {
            a[1..5].iter().fold(0, |v, &b| v << 8 | u64::from(b)) << 1 | u64::from(a[5] >> 7)
        })
    }
}

/// Splits `ts` into packets, asserting whole 188-byte packets with sync bytes and continuity
/// counters that go up by one per PID (from any start value).
pub fn packets(ts: &[u8]) -> Vec<Packet<'_>> {
    assert_eq!(ts.len() % PACKET_LEN, 0, "size not a multiple of 188");
    let mut counters = HashMap::new();
    ts.chunks(PACKET_LEN)
        .map(|p| {
            assert_eq!(p[0], 0x47, "sync byte");
            let pid = u16::from(p[1] & 0x1f) << 8 | u16::from(p[2]);
            let cc = p[3] & 0x0f;
            if let Some(prev) = counters.insert(pid, cc) {
                assert_eq!(cc, (prev + 1) & 0x0f, "continuity counter of PID {pid:#x}");
            }
            let (adaptation, payload) = match p[3] >> 4 & 3 {
                1 => (&[][..], &p[4..]),
                3 => {
                    let len = usize::from(p[4]);
                    (&p[5..5 + len], &p[5 + len..])
                }
                afc => panic!("adaptation_field_control {afc}"),
            };
            Packet {
                pid,
                unit_start: p[1] & 0x40 != 0,
                adaptation,
                payload,
            }
        })
        .collect()
}

/// The payload units (PES packets) on `pid`, each with its first packet.
pub fn units<'a>(packets: &'a [Packet<'a>], pid: u16) -> Vec<(&'a Packet<'a>, Vec<u8>)> {
    let mut units: Vec<(&Packet, Vec<u8>)> = Vec::new();
    for p in packets.iter().filter(|p| p.pid == pid) {
        if p.unit_start {
            units.push((p, Vec::new()));
        }
        units
            .last_mut()
            .expect("unit start")
            .1
            .extend_from_slice(p.payload);
    }
    units
}

/// The 33-bit timestamp encoded at `at` in a PES header.
pub fn timestamp(pes: &[u8], at: usize) -> u64 {
    let b = &pes[at..at + 5];
    u64::from(b[0] >> 1 & 7) << 30
        | u64::from(b[1]) << 22
        | u64::from(b[2] >> 1) << 15
        | u64::from(b[3]) << 7
        | u64::from(b[4] >> 1)
}
