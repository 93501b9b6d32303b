//! TLS over a [`Conn`] with rustls: the HLS listener (`use_hls_https`), the RTMPS listener
//! (`enable_rtmps`) and rtmps:// relay targets. rustls is sans-IO; [`TlsConn`] drives a
//! server or client session: encrypted bytes from the socket into the session, plaintext out
//! of it, and whatever the session wants to send (handshake, records, alerts) to the socket.
//!
//! A connection's reader and writer halves may both make the session send (the reader during
//! the handshake and for key updates, the writer for data); socket writes are serialised by a
//! one-permit semaphore so that records never interleave. Nothing here panics on what a peer
//! sends: a bad record or certificate is an `io::Error` for the caller to log.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use glommio::sync::Semaphore;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use super::conn::Conn;

/// Load a certificate chain and key (PEM); errors name the config keys (`cert_key`,
/// `key_key`) and the files.
pub fn server_config(
    (cert_key, cert_path): (&str, &str),
    (key_key, key_path): (&str, &str),
) -> Result<Arc<ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .and_then(|certs| certs.collect())
        .map_err(|e| format!("config key `{cert_key}`: {cert_path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "config key `{cert_key}`: {cert_path}: no certificate in the file"
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| format!("config key `{key_key}`: {key_path}: {e}"))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!("config keys `{cert_key}`/`{key_key}`: {cert_path}, {key_path}: {e}")
        })?;
    Ok(Arc::new(config))
}

/// The client configuration of rtmps:// relays: with `verify`, certificates must chain to the
/// platform's CA certificates (found by `rustls-native-certs`: the system bundle, or
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`) and match the host; without, any certificate is accepted (the handshake
/// signatures are still checked, so the peer holds the certificate's key).
pub fn client_config(verify: bool) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let config = if verify {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = match found.errors.first() {
                Some(e) => format!(": {e}"),
                None => String::new(),
            };
            return Err(format!("no usable system CA certificate{why}"));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        let verifier = AnyCertificate(provider().signature_verification_algorithms);
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// `enable_tls_verify: false`: any certificate chain and name, but a valid handshake
/// signature by the certificate's key.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// What [`TlsConn::take_plaintext`] stopped at.
enum Plaintext {
    /// The buffer reached its limit.
    Full,
    /// The session has no more plaintext for now.
    Drained,
    /// The peer closed the TLS stream (close_notify).
    Ended,
}

pub struct TlsConn {
    pub conn: Conn,
    session: RefCell<rustls::Connection>,
    /// Encrypted bytes read from the socket that the session has not taken yet: it takes them
    /// only as its plaintext is drained.
    received: RefCell<BytesMut>,
    /// One permit: held while encrypted bytes taken from the session go to the socket.
    sending: Semaphore,
}

impl TlsConn {
    /// The server side of an accepted connection.
    pub fn server(conn: Conn, config: Arc<ServerConfig>) -> io::Result<Self> {
        let session = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(Self::new(conn, session.into()))
    }

    /// The client side of a connection to `host` (the SNI name, and the name the certificate
    /// must match when verified).
    pub fn client(conn: Conn, config: Arc<ClientConfig>, host: &str) -> io::Result<Self> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::other(format!("TLS server name {host:?}: {e}")))?;
        let session = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
        Ok(Self::new(conn, session.into()))
    }

    fn new(conn: Conn, mut session: rustls::Connection) -> Self {
        // Writers hand over a whole batch at once (bounded by the writer's batch size) and
        // flush it before the next one.
        session.set_buffer_limit(None);
        TlsConn {
            conn,
            session: RefCell::new(session),
            received: RefCell::new(BytesMut::new()),
            sending: Semaphore::new(1),
        }
    }

    /// Append up to `max` bytes of plaintext to `buf`; Ok(0) at end of stream.
    ///
    /// Decryption keeps pace with the caller: encrypted bytes go into the session only once the
    /// plaintext it holds is drained, so a peer sending faster than the caller reads waits in
    /// `received` and the socket (TCP backpressure) instead of overflowing the session's
    /// plaintext buffer.
    pub async fn read(&self, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        let start = buf.len();
        loop {
            match self.take_plaintext(buf, start + max)? {
                Plaintext::Ended if buf.len() == start => return Ok(0),
                Plaintext::Ended | Plaintext::Full => return Ok(buf.len() - start),
                Plaintext::Drained => {}
            }
            if self.feed_received()? {
                continue;
            }
            if buf.len() > start {
                return Ok(buf.len() - start);
            }
            self.flush().await?;
            // Empty here (all fed): read into a buffer of our own, not across a borrow.
            let mut received = self.received.take();
            let n = self.conn.read(&mut received, max).await;
            *self.received.borrow_mut() = received;
            if n? == 0 {
                return Ok(0);
            }
        }
    }

    /// Moves the session's plaintext into `buf` until it holds `limit` bytes.
    fn take_plaintext(&self, buf: &mut BytesMut, limit: usize) -> io::Result<Plaintext> {
        let mut session = self.session.borrow_mut();
        while buf.len() < limit {
            let at = buf.len();
            buf.resize(limit, 0);
            let result = session.reader().read(&mut buf[at..]);
            match result {
                Ok(0) => {
                    buf.truncate(at);
                    return Ok(Plaintext::Ended);
                }
                Ok(n) => buf.truncate(at + n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    buf.truncate(at);
                    return Ok(Plaintext::Drained);
                }
                Err(e) => {
                    buf.truncate(at);
                    return Err(e);
                }
            }
        }
        Ok(Plaintext::Full)
    }

    /// Gives the session the encrypted bytes it will take now and decrypts them; false if none
    /// were waiting.
    fn feed_received(&self) -> io::Result<bool> {
        let mut received = self.received.borrow_mut();
        if received.is_empty() {
            return Ok(false);
        }
        let mut rest = &received[..];
        let before = rest.len();
        let taken = self.session.borrow_mut().read_tls(&mut rest);
        let consumed = before - rest.len();
        received.advance(consumed);
        drop(received);
        taken?;
        self.process()?;
        Ok(true)
    }

    /// Decrypts what the session has taken. A TLS error is `InvalidData`, its message naming
    /// what failed ("certificate ..." for a rejected certificate).
    fn process(&self) -> io::Result<()> {
        self.session
            .borrow_mut()
            .process_new_packets()
            .map(drop)
            .map_err(|e| {
                let why = match e {
                    rustls::Error::InvalidCertificate(_) => {
                        format!("certificate not accepted: {e}")
                    }
                    e => format!("TLS: {e}"),
                };
                io::Error::new(io::ErrorKind::InvalidData, why)
            })
    }

    /// Encrypt all of `data` into the session without waiting, and send what the socket
    /// takes now (unless another send is under way); [`TlsConn::flush`] sends the rest.
    pub fn send_now(&self, data: &[u8]) -> io::Result<()> {
        let mut session = self.session.borrow_mut();
        session.writer().write_all(data)?;
        if self.sending.try_acquire(1).unwrap_or(false) {
            let sent = session.write_tls(&mut NonBlocking(&self.conn));
            self.sending.signal(1);
            match sent {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether the session holds encrypted bytes not sent yet.
    pub fn wants_write(&self) -> bool {
        self.session.borrow().wants_write()
    }

    /// Encrypt and send `data` (in 64 KiB pieces, so a large body is never all buffered
    /// encrypted), then everything else the session has to send.
    pub async fn write_all(&self, data: &[u8]) -> io::Result<()> {
        for piece in data.chunks(64 * 1024) {
            self.session.borrow_mut().writer().write_all(piece)?;
            self.flush().await?;
        }
        self.flush().await
    }

    /// Send everything the session has to send.
    pub async fn flush(&self) -> io::Result<()> {
        let _permit = self
            .sending
            .acquire_permit(1)
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
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

impl Drop for TlsConn {
    /// Ends the session with a `close_notify` alert, so the peer can tell the end of the
    /// connection from a truncation (RFC 8446 §6.1). Best effort: sent only if the socket
    /// takes it now.
    fn drop(&mut self) {
        let session = self.session.get_mut();
        session.send_close_notify();
        let _ = session.write_tls(&mut NonBlocking(&self.conn));
    }
}

/// The socket as an `io::Write` that never waits: `WouldBlock` when its buffer is full.
struct NonBlocking<'a>(&'a Conn);

impl Write for NonBlocking<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.0.try_send(data)? {
            0 if !data.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
