//! Raw-socket helpers for the hostile-client tests: deterministic junk to send, and waiting
//! for the server to hang up.

use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant};

/// Deterministic filler bytes (xorshift32).
pub fn noise(len: usize, mut seed: u32) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        })
        .collect()
}

/// Reads (and drops) whatever the server sends until it closes (EOF or a reset); `Err` if it
/// is still open `limit` from now. The stream's reads must time out (a socket read timeout,
/// or a `DeadlineStream`): a timed-out read only means "check the time".
pub fn wait_closed(stream: &mut impl Read, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return Ok(()), // reset
        }
        if Instant::now() >= deadline {
            return Err(format!("still open {limit:?} after the last byte"));
        }
    }
}
