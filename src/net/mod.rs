//! The per-core socket layer on glommio: one edge-triggered epoll set per core telling
//! connections when their sockets have data ([`readiness`]), the connection that reads and
//! sends without blocking on it ([`conn`]), and the read timer kept across reads
//! ([`read_timer`]). The server's connections are built on it, and so is the load generator
//! (benches/livego-bench), which is why it is public.

pub mod conn;
pub mod read_timer;
pub mod readiness;
