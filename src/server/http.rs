//! Drives one HTTP/1.1 connection (HTTP-FLV, HLS, the control API), plain or TLS: requests
//! are parsed by the sans-IO `http` module and answered in order (keep-alive, pipelining); an
//! HTTP-FLV request turns the connection into an endless response.
//!
//! Slowloris protection: a request must arrive in full within `read_timeout` of the moment the
//! server started waiting for it, and an idle keep-alive connection is closed after the same
//! time.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use futures_lite::future;

use super::conn::{Conn, SMALL_READ, Transport};
use super::core::{CoreContext, Service};
use super::error::ConnError;
use super::tls::TlsConn;
use super::{hls, httpflv, relay};
use crate::api::metrics;
use crate::api::routes::{self, Answer, ApiServer, RelayCommand, RelayOutcome};
use crate::http::{self, Limits, Method, Request, Response};

/// Serve one accepted connection until it ends; logs once why it ended.
pub async fn serve(conn: Conn, ctx: Rc<CoreContext>, service: Service) {
    let conn = match (&ctx.shared.hls_tls, service) {
        (Some(config), Service::Hls) => match TlsConn::server(conn, Arc::clone(config)) {
            Ok(tls) => Transport::Tls(Box::new(tls)),
            Err(e) => return log::warn!("{service}: TLS session: {e}"),
        },
        _ => Transport::Plain(Rc::new(conn)),
    };
    let conn = Rc::new(conn);
    match request_loop(&conn, &ctx, service).await {
        Ok(()) => log::debug!("{service} {}: closed", conn.peer()),
        Err(e) => log::info!("{service} {}: {}: closing", conn.peer(), e),
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

enum Next {
    Request(Request),
    /// The client closed the connection between requests.
    Closed,
}

async fn request_loop(
    conn: &Rc<Transport>,
    ctx: &Rc<CoreContext>,
    service: Service,
) -> Result<(), ConnError> {
    let limits = Limits::default();
    let read_timeout = ctx.shared.config.read_timeout();
    let mut buf = BytesMut::new();
    loop {
        let timeout = async {
            glommio::timer::sleep(read_timeout).await;
            Err(ConnError::RequestTimeout(ctx.shared.config.read_timeout))
        };
        let next = future::or(next_request(conn, &mut buf, &limits), timeout).await;
        let request = match next {
            Ok(Next::Request(request)) => request,
            Ok(Next::Closed) => return Ok(()),
            Err(e) => return Err(e),
        };
        let keep_alive = request.keep_alive();
        let head_only = request.method == Method::Head;
        let get = matches!(request.method, Method::Get | Method::Head);
        let response = match service {
            _ if request.method == Method::Options => http::preflight_response(),
            Service::HttpFlv if get => {
                drop(buf); // the response is endless: nothing more is read as requests
                return httpflv::serve(conn, ctx, &request).await;
            }
            Service::Hls if get => hls::respond(ctx, &request.path),
            Service::Api if get || request.method == Method::Post => {
                api_response(ctx, &request).await
            }
            _ => http::error_response(405, "method not allowed")
                .header("Allow", "GET, HEAD, OPTIONS"),
        };
        let response = match service {
            // Channel keys and relays: for tools and same-site pages, not for any web origin.
            Service::Api if request.path.starts_with("/control/") => response.same_origin_only(),
            _ => response,
        };
        send(conn, &response, keep_alive, head_only).await?;
        if !keep_alive {
            return Ok(());
        }
    }
}

/// The control API ([`routes::handle`], with this core as its [`ApiServer`]). Channel-key
/// changes write and fsync the key store, which can take long on a busy disk: they run on the
/// executor's blocking thread, and the answer goes out once the change is durable.
async fn api_response(ctx: &Rc<CoreContext>, request: &Request) -> Response {
    match routes::handle(&ctx.shared.api, &CoreApi(ctx), request, unix_now()) {
        Answer::Now(response) => response,
        Answer::Blocking(work) => glommio::executor().spawn_blocking(work).await,
    }
}

/// What the API asks of this core.
struct CoreApi<'a>(&'a Rc<CoreContext>);

impl ApiServer for CoreApi<'_> {
    fn metrics(&self) -> metrics::Snapshot {
        super::metrics::snapshot(self.0)
    }

    fn is_live_app(&self, app: &str) -> bool {
        self.0.shared.config.app(app).is_some_and(|a| a.live)
    }

    fn relay(&self, command: RelayCommand) -> RelayOutcome {
        relay::command(self.0, command)
    }
}

/// Read until a whole request is buffered. A malformed request is answered with its error
/// status and ends the connection. A client waiting for `100 Continue` gets it once its head is
/// in and acceptable.
async fn next_request(
    conn: &Transport,
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Next, ConnError> {
    let mut continued = false;
    loop {
        match http::parse_request(buf, limits) {
            Ok(Some(request)) => return Ok(Next::Request(request)),
            Ok(None) if !continued && http::awaits_continue(buf, limits) => {
                continued = true;
                conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                    .await
                    .map_err(ConnError::Write)?;
            }
            Ok(None) => {}
            Err(e) => {
                let response = http::error_response(e.status(), &e.to_string());
                let _ = send(conn, &response, false, false).await;
                return Err(ConnError::Protocol(format!("bad request: {e}")));
            }
        }
        match conn.read(buf, SMALL_READ).await {
            Ok(0) if buf.is_empty() => return Ok(Next::Closed),
            Ok(0) => return Err(ConnError::Disconnected("in the middle of a request")),
            Ok(_) => {}
            Err(e) => return Err(ConnError::Read(e)),
        }
    }
}

/// Send `response`: its head, then (unless `head_only`) its body straight from the shared
/// bytes, so a segment is never copied per request; both in one system call when they fit.
pub async fn send(
    conn: &Transport,
    response: &Response,
    keep_alive: bool,
    head_only: bool,
) -> Result<(), ConnError> {
    let mut head = BytesMut::new();
    response.encode(unix_now(), keep_alive, true, &mut head);
    let body = if head_only {
        &[][..]
    } else {
        response.body_bytes()
    };
    conn.write_all_parts(&head, body)
        .await
        .map_err(ConnError::Write)
}
