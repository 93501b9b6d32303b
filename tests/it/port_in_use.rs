//! A listening address that something else holds stops startup (exit code 2, the message naming
//! the config key and the address), also when the holder shares its port with SO_REUSEPORT as
//! a second livego would (the kernel would otherwise split the connections between the two
//! servers). The server already running keeps serving.

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::common::Server;

#[track_caller]
fn assert_refused(key: &str, addr: &str) {
    let ran = Server::run_to_exit(&format!("{key}: \"{addr}\""), Duration::from_secs(10));
    let status = ran.status.unwrap_or_else(|| {
        panic!(
            "livego still running with {key} {addr} in use; stderr: {}",
            ran.stderr
        )
    });
    assert_eq!(status.code(), Some(2), "stderr: {}", ran.stderr);
    assert!(
        ran.stderr.contains(key) && ran.stderr.contains(addr),
        "stderr must name {key} and {addr}: {:?}",
        ran.stderr
    );
}

#[test]
fn a_second_server_on_the_same_port_is_refused() {
    let first = Server::start("");
    assert_refused("rtmp_addr", &first.rtmp_addr().to_string());
    assert!(first.is_alive());
    TcpStream::connect_timeout(&first.rtmp_addr(), Duration::from_secs(2))
        .expect("the first server still accepts");
}

#[test]
fn a_port_held_by_another_program_is_refused() {
    let holder = TcpListener::bind("127.0.0.1:0").expect("listen");
    let addr = holder.local_addr().expect("address").to_string();
    assert_refused("hls_addr", &addr);
}
