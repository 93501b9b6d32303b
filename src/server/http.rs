//! Drives one HTTP/1.1 connection (HTTP-FLV, the control API and, later, HLS): requests are
//! parsed by the sans-IO `http` module and answered in order (keep-alive, pipelining); an
//! HTTP-FLV request turns the connection into an endless response.
//!
//! Slowloris protection: a request must arrive in full within `read_timeout` of the moment the
//! server started waiting for it, and an idle keep-alive connection is closed after the same
//! time.

use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use futures_lite::future;

use super::conn::{Conn, SMALL_READ};
use super::core::{CoreContext, Service};
use super::httpflv;
use crate::api::routes;
use crate::http::{self, Limits, Method, Request, Response};

/// Serve one accepted connection until it ends; logs once why it ended.
pub async fn serve(conn: Conn, ctx: Rc<CoreContext>, service: Service) {
    let conn = Rc::new(conn);
    match request_loop(&conn, &ctx, service).await {
        Ok(()) => log::debug!("{service} {}: closed", conn.peer),
        Err(e) => log::info!("{service} {}: {e}: closing", conn.peer),
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
    conn: &Rc<Conn>,
    ctx: &Rc<CoreContext>,
    service: Service,
) -> Result<(), String> {
    let limits = Limits::default();
    let read_timeout = ctx.config.read_timeout();
    let mut buf = BytesMut::new();
    loop {
        let timeout = async {
            glommio::timer::sleep(read_timeout).await;
            Err(format!(
                "no complete request within {} s",
                ctx.config.read_timeout
            ))
        };
        let next = future::or(next_request(conn, &mut buf, &limits), timeout).await;
        let request = match next {
            Ok(Next::Request(request)) => request,
            Ok(Next::Closed) => return Ok(()),
            Err(e) => return Err(e),
        };
        let keep_alive = request.keep_alive();
        let head_only = request.method == Method::Head;
        let response = match (&request.method, service) {
            (Method::Options, _) => http::preflight_response(),
            (Method::Get | Method::Head, Service::HttpFlv) => {
                return httpflv::serve(conn, ctx, &request).await;
            }
            (Method::Get | Method::Head | Method::Post, Service::Api) => {
                routes::handle(&ctx.api, &request, unix_now())
            }
            (Method::Get | Method::Head, Service::Rtmp) => http::error_response(404, "not found"),
            _ => http::error_response(405, "only GET, HEAD and OPTIONS are served")
                .header("Allow", "GET, HEAD, OPTIONS"),
        };
        send(conn, &response, keep_alive, head_only).await?;
        if !keep_alive {
            return Ok(());
        }
    }
}

/// Read until a whole request is buffered. A malformed request is answered with its error
/// status and ends the connection.
async fn next_request(conn: &Conn, buf: &mut BytesMut, limits: &Limits) -> Result<Next, String> {
    loop {
        match http::parse_request(buf, limits) {
            Ok(Some(request)) => return Ok(Next::Request(request)),
            Ok(None) => {}
            Err(e) => {
                let response = http::error_response(e.status(), &e.to_string());
                let _ = send(conn, &response, false, false).await;
                return Err(format!("bad request: {e}"));
            }
        }
        match conn.read(buf, SMALL_READ).await {
            Ok(0) if buf.is_empty() => return Ok(Next::Closed),
            Ok(0) => return Err("disconnected in the middle of a request".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("read error: {e}")),
        }
    }
}

pub async fn send(
    conn: &Conn,
    response: &Response,
    keep_alive: bool,
    head_only: bool,
) -> Result<(), String> {
    let mut out = BytesMut::new();
    response.encode(unix_now(), keep_alive, head_only, &mut out);
    conn.write_all(&out)
        .await
        .map_err(|e| format!("write error: {e}"))
}
