//! The HTTP server's connections. actix answers a request it cannot parse (a request line or
//! headers past its buffer: 431; a URL longer than 65,534 characters or another malformed head:
//! 400) before any middleware or handler runs, with an empty body. Each connection is wrapped so
//! that such an answer carries a body instead: the one JSON error shape for `/api/` and the
//! operational endpoints, the HTML error page for the UI's pages.

use std::io;
use std::net::TcpListener;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_http::error::PayloadError;
use actix_http::{BoxedPayloadStream, ConnectionType, HttpService, Payload, Protocol, Request, Response};
use actix_service::{IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt, fn_service, map_config};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{AppConfig, Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, ResponseError};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// How much of a request's start is kept to name it in an error body.
const HEAD_KEPT: usize = 512;
/// The longest URL actix (the `http` crate) accepts.
const MAX_URL_CHARS: usize = 65_534;

/// Serves `factory` (an actix-web `App` factory) on `listener`, as `HttpServer::listen` does,
/// through [`JsonErrors`] connections.
pub fn serve<F, I, S, B>(factory: F, listener: TcpListener, workers: usize, shutdown_timeout: u64) -> io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    // Signals are the application's (`startup::Application::run_until_signalled`), which says what
    // the drain took.
    let mut builder = actix_server::Server::build().disable_signals().shutdown_timeout(shutdown_timeout);
    if workers > 0 {
        builder = builder.workers(workers);
    }
    let server = builder
        .listen(format!("portolan-{addr}"), listener, move || {
            let app = factory().into_factory().map_err(|err| err.into().error_response());
            // The same connection settings `HttpServer` gives (its `AppConfig::new` is private).
            let http = HttpService::build()
                .local_addr(addr)
                .finish(map_config(app, move |_| AppConfig::__priv_test_new(false, addr.to_string(), addr)));
            fn_service(|io: TcpStream| async move {
                let peer = io.peer_addr().ok();
                Ok((JsonErrors::new(io), Protocol::Http1, peer))
            })
            .and_then(http)
        })?
        .run();
    Ok(server)
}

/// A connection whose empty-bodied 400 and 431 answers get an error body (JSON or HTML). It keeps the start of the request being read to name it.
pub struct JsonErrors<IO> {
    io: IO,
    head: Vec<u8>,
    /// A response was written since the last read: the next bytes read start a new request.
    answered: bool,
    pending: Vec<u8>,
}

impl<IO> JsonErrors<IO> {
    pub fn new(io: IO) -> Self {
        Self { io, head: Vec::new(), answered: true, pending: Vec::new() }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for JsonErrors<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.io).poll_read(cx, buf))?;
        let this = &mut *self;
        let read = &buf.filled()[before..];
        if !read.is_empty() {
            if this.answered {
                this.head.clear();
                this.answered = false;
            }
            let room = HEAD_KEPT.saturating_sub(this.head.len()).min(read.len());
            this.head.extend_from_slice(&read[..room]);
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> JsonErrors<IO> {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for JsonErrors<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        this.answered = true;
        match rewrite(buf, &this.head) {
            Some(replacement) => {
                this.pending = replacement;
                // Accepted whole; written by this call or by the next write, flush or shutdown.
                let _ = this.poll_pending(cx)?;
                Poll::Ready(Ok(buf.len()))
            }
            None => Pin::new(&mut this.io).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The answer replacing `written` when it is an empty-bodied 400 or 431 (`head` is the start of
/// that request): the JSON error shape, or the HTML error page for a UI path; `None` otherwise.
fn rewrite(written: &[u8], head: &[u8]) -> Option<Vec<u8>> {
    let status: u16 = match written.get(..13)? {
        b"HTTP/1.1 400 " | b"HTTP/1.0 400 " => 400,
        b"HTTP/1.1 431 " | b"HTTP/1.0 431 " => 431,
        _ => return None,
    };
    let end = written.windows(4).position(|w| w == b"\r\n\r\n")?;
    let response_head = std::str::from_utf8(&written[..end]).ok()?;
    let mut lines = response_head.split("\r\n");
    let status_line = lines.next()?;
    let headers: Vec<&str> = lines.collect();
    let empty = headers.iter().any(|h| h.eq_ignore_ascii_case("content-length: 0"));
    if !empty || headers.iter().any(|h| h.to_ascii_lowercase().starts_with("content-type:")) {
        return None;
    }
    let request = String::from_utf8_lossy(head);
    let mut parts = request.splitn(3, ' ');
    let method = parts.next().unwrap_or_default();
    let url_text = parts.next().unwrap_or_default();
    let url = url_text.split(['\r', '\n']).next().unwrap_or_default();
    let api = url == "/api" || url.starts_with("/api/") || url.starts_with("/api?");
    let cut = head.len() >= HEAD_KEPT && !request.contains(" HTTP/1");
    let hint = if api { "; for a long query, send POST /api/catalog/entities/by-query with a JSON body" } else { "" };
    let message = match status {
        431 => format!("the request line and headers are too large (at most 128 KiB){hint}"),
        _ if cut => format!("the request URL is too long (at most {MAX_URL_CHARS} characters){hint}"),
        _ => "malformed HTTP request: its request line or headers could not be parsed".to_owned(),
    };
    let shown = if url.chars().count() > 200 || cut {
        format!("{}...", url.chars().take(200).collect::<String>())
    } else {
        url.to_owned()
    };
    // The UI's pages get the HTML error page (as the UI's own errors), the API and the
    // operational endpoints the JSON shape.
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let (body, content_type) = if api || !crate::ui::is_ui_path(path) {
        (crate::error::early_error_body(status, &message, method, &shown), "application/json")
    } else {
        (crate::ui::layout::error_page(status, &message, false), "text/html; charset=utf-8")
    };
    let mut out = Vec::with_capacity(end + body.len() + 64);
    out.extend_from_slice(status_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in headers.iter().filter(|h| !h.to_ascii_lowercase().starts_with("content-length:")) {
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "content-type: {content_type}\r\nx-content-type-options: nosniff\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body.as_bytes());
    out.extend_from_slice(&written[end + 4..]);
    Some(out)
}

/// Middleware: a request body must arrive whole within `server.body_timeout_secs` of the
/// request's head. A body that trickles in slower is cut off: the handler's read fails, and the
/// answer is 408 (`request_timeout`), on a connection that is then closed.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let secs = req.app_data::<web::Data<AppState>>().map(|s| s.settings.server.body_timeout_secs);
    let Some(secs) = secs.filter(|s| *s > 0 && crate::error::has_body(req.headers())) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let expired = Arc::new(AtomicBool::new(false));
    let body = Deadline {
        inner: req.take_payload(),
        sleep: Box::pin(tokio::time::sleep(Duration::from_secs(secs))),
        expired: expired.clone(),
        secs,
    };
    let stream: BoxedPayloadStream = Box::pin(body);
    req.set_payload(Payload::from(stream));
    let res = next.call(req).await?.map_into_boxed_body();
    if !expired.load(Ordering::Relaxed) {
        return Ok(res);
    }
    let (req, _) = res.into_parts();
    let mut answer = ApiError::with_code(
        ErrorCode::RequestTimeout,
        format!("the request body did not arrive within {secs} s (server.body_timeout_secs)"),
    )
    .error_response();
    answer.head_mut().set_connection_type(ConnectionType::Close);
    Ok(ServiceResponse::new(req, answer))
}

/// A request body with a deadline: past it, the read fails with a timeout.
struct Deadline {
    inner: Payload,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
    secs: u64,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        ready!(self.sleep.as_mut().poll(cx));
        self.expired.store(true, Ordering::Relaxed);
        let message = format!("the request body did not arrive within {} s", self.secs);
        Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(io::ErrorKind::TimedOut, message)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_errors_under_api_get_the_json_shape_and_others_stay() {
        let written = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = rewrite(written, b"GET /api/catalog/entities?filter=").unwrap();
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 ") && head.contains("content-type: application/json"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())) && head.contains("date: x"), "{head}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["response"]["statusCode"], 431);
        assert_eq!(body["request"]["method"], "GET");
        let page = String::from_utf8(rewrite(written, b"GET /catalog?q=x HTTP/1.1\r\n").unwrap()).unwrap();
        let (head, body) = page.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("content-type: text/html") && body.contains("<html"), "{page}");
        let ops = String::from_utf8(rewrite(written, b"GET /metrics HTTP/1.1\r\n").unwrap()).unwrap();
        assert!(ops.contains("content-type: application/json") && ops.contains("\"statusCode\":431"), "{ops}");
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}";
        assert!(rewrite(with_body, b"GET /api/x HTTP/1.1\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", b"GET /api/x HTTP/1.1\r\n").is_none());
    }
}
