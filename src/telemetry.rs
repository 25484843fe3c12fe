//! Logs (tracing, text or JSON) and Prometheus metrics.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Installs the global log subscriber. `RUST_LOG` overrides the default level (`info`).
/// Safe to call more than once: later calls do nothing.
pub fn init_logging(format: &str) {
    // actix-http logs a request it cannot parse (a client's malformed header) at ERROR; it is
    // answered 400 in the JSON error shape (see `wire`) and is no fault of the server.
    init_logging_at(format, "info,actix_server=warn,actix_http::h1::dispatcher=off");
}

/// Installs the log subscriber with a default filter of our choosing (`RUST_LOG` still wins).
pub fn init_logging_at(format: &str, default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().flatten_event(true).with_current_span(true).try_init()
    } else {
        builder.try_init()
    };
}

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide metrics recorder (installed on first use).
pub fn metrics_handle() -> PrometheusHandle {
    METRICS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Another recorder may already be installed (tests): then ours records nothing global,
            // and /metrics still renders what this handle holds.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Middleware: counts requests by route pattern, method and status, and times them.
pub async fn record_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let res = next.call(req).await?;
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("portolan_http_requests_total", &labels).increment(1);
    metrics::histogram!("portolan_http_request_duration_seconds", &labels[..2]).record(started.elapsed().as_secs_f64());
    Ok(res)
}

/// The request span of `tracing-actix-web`, with the same fields as its default, except that
/// the query of `/api/auth/` requests is left out: it carries authorization codes and state.
pub struct RedactingRootSpan;

impl tracing_actix_web::RootSpanBuilder for RedactingRootSpan {
    fn on_request_start(req: &actix_web::dev::ServiceRequest) -> tracing::Span {
        use actix_web::HttpMessage;
        use actix_web::http::Version;
        use tracing::field::Empty;
        let ci = req.connection_info().clone();
        let method = req.method().as_str().to_owned();
        let route = req.match_pattern().unwrap_or_else(|| "default".into());
        let target = if req.path().starts_with("/api/auth/") {
            req.path().to_owned()
        } else {
            req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("").to_owned()
        };
        let flavor = match req.version() {
            Version::HTTP_09 => "0.9",
            Version::HTTP_10 => "1.0",
            Version::HTTP_11 => "1.1",
            Version::HTTP_2 => "2.0",
            Version::HTTP_3 => "3.0",
            _ => "other",
        };
        let request_id =
            req.extensions().get::<tracing_actix_web::RequestId>().map(|r| r.to_string()).unwrap_or_default();
        let user_agent = req.headers().get("user-agent").and_then(|h| h.to_str().ok()).unwrap_or("").to_owned();
        tracing::info_span!(
            "HTTP request",
            http.method = %method,
            http.route = %route,
            http.flavor = flavor,
            http.scheme = %ci.scheme(),
            http.host = %ci.host(),
            http.client_ip = %ci.realip_remote_addr().unwrap_or(""),
            http.user_agent = %user_agent,
            http.target = %target,
            http.status_code = Empty,
            otel.name = %format!("{method} {route}"),
            otel.kind = "server",
            otel.status_code = Empty,
            request_id = %request_id,
            exception.message = Empty,
            exception.details = Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
