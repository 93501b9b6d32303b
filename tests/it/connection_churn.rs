//! Connections that end leave nothing behind: the server's memory does not grow with the
//! number of connections it has seen.

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use crate::common::Server;

/// Opens `n` RTMP connections one after the other, each closed by the client with a byte of
/// garbage (the server answers by closing too).
fn churn(server: &Server, n: usize) {
    for _ in 0..n {
        let mut sock = TcpStream::connect(server.rtmp_addr()).expect("connect");
        std::io::Write::write_all(&mut sock, &[0x42]).expect("write");
        sock.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let _ = sock.read(&mut [0u8; 16]);
    }
}

#[test]
fn ended_connections_do_not_accumulate() {
    let server = Server::start("level: off\n");
    churn(&server, 500);
    server.wait_connections_closed();
    let before = server.memory("VmRSS") / 1024;
    churn(&server, 5000);
    server.wait_connections_closed();
    let grown = (server.memory("VmRSS") / 1024).saturating_sub(before);
    // A connection's task is ~3 KB: keeping each would grow RSS by ~15 MB here.
    assert!(
        grown < 2048,
        "RSS grew by {grown} KB over 5000 connections that ended"
    );
}
