//! TLS for the HLS listener (`use_hls_https`): a rustls server session over a [`Conn`].
//! rustls is sans-IO; this drives it: encrypted bytes from the socket into the session,
//! plaintext out of it, and whatever the session wants to send (handshake, records) back to
//! the socket.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::sync::Arc;

use bytes::BytesMut;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::conn::{Conn, SMALL_READ};

/// Load the certificate chain and key (PEM); errors name the file and the config key.
pub fn server_config(cert_path: &str, key_path: &str) -> Result<Arc<ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .and_then(|certs| certs.collect())
        .map_err(|e| format!("hls_server_crt {cert_path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "hls_server_crt {cert_path}: no certificate in the file"
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| format!("hls_server_key {key_path}: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("hls_server_crt/hls_server_key {cert_path}, {key_path}: {e}"))?;
    Ok(Arc::new(config))
}

pub struct TlsConn {
    pub conn: Conn,
    session: RefCell<rustls::ServerConnection>,
}

impl TlsConn {
    pub fn new(conn: Conn, config: Arc<ServerConfig>) -> io::Result<Self> {
        let session = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(TlsConn {
            conn,
            session: RefCell::new(session),
        })
    }

    /// Append up to `max` bytes of plaintext to `buf`; Ok(0) at end of stream.
    pub async fn read(&self, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        loop {
            let start = buf.len();
            buf.resize(start + max, 0);
            let result = self.session.borrow_mut().reader().read(&mut buf[start..]);
            match result {
                Ok(n) => {
                    buf.truncate(start + n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => buf.truncate(start),
                Err(e) => {
                    buf.truncate(start);
                    return Err(e);
                }
            }
            self.flush().await?;
            let mut raw = BytesMut::new();
            if self.conn.read(&mut raw, SMALL_READ).await? == 0 {
                return Ok(0);
            }
            self.receive(&raw)?;
        }
    }

    /// Feed encrypted bytes into the session.
    fn receive(&self, mut raw: &[u8]) -> io::Result<()> {
        let mut session = self.session.borrow_mut();
        while !raw.is_empty() {
            session.read_tls(&mut raw)?;
            session.process_new_packets().map_err(io::Error::other)?;
        }
        Ok(())
    }

    /// Encrypt and send `data`, in pieces as the session's buffer (64 KiB) allows.
    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let taken = self.session.borrow_mut().writer().write(data)?;
            data = &data[taken..];
            self.flush().await?;
        }
        Ok(())
    }

    /// Send everything the session has to send.
    async fn flush(&self) -> io::Result<()> {
        loop {
            let mut out = Vec::new();
            {
                let mut session = self.session.borrow_mut();
                if !session.wants_write() {
                    return Ok(());
                }
                session.write_tls(&mut out)?;
            }
            self.conn.write_all(&out).await?;
        }
    }
}
