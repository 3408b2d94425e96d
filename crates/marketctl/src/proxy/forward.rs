//! The public side: forwards each request to a backend chosen by weight, over pooled keep-alive
//! connections, retrying GET and HEAD once when a backend refuses the connection, and answering
//! 504 for a backend that does not answer within its route's timeout.

use super::Shared;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Headers that describe one hop and must not be forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

pub struct UpstreamClient {
    client: Client<HttpConnector, Body>,
}

impl UpstreamClient {
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .build(connector);
        Self { client }
    }
}

impl Default for UpstreamClient {
    fn default() -> Self {
        Self::new()
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(forward).with_state(shared)
}

fn cookie_value<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The header marketctl's synthetic probes name the version they test with.
pub const PROBE_PIN: &str = "x-marketctl-pin";

fn plain(status: StatusCode, message: &'static str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], message).into_response()
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(client_addr): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let table = shared.routes.snapshot();
    let sticky = table.sticky_cookie.clone();
    // A synthetic probe asks for a version the way a sticky cookie does, and like the cookie
    // it only ever chooses among versions that take traffic.
    let cookie = request
        .headers()
        .get(PROBE_PIN)
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            sticky
                .as_deref()
                .and_then(|name| cookie_value(&request, name))
        })
        .map(str::to_owned);
    let Some(first) = table.pick(cookie.as_deref(), None, &shared.supervisor.unfit().load()) else {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "no release is routed here\n",
        );
    };
    let idempotent = matches!(*request.method(), Method::GET | Method::HEAD);
    let timeout = table.timeouts.for_path(request.uri().path());
    let (mut parts, body) = request.into_parts();
    let method = parts.method.clone();
    // For the request's group in the analysis; a `Uri` clone shares its bytes.
    let uri = parts.uri.clone();
    let path = uri.path();
    for name in HOP_BY_HOP {
        parts.headers.remove(name);
    }
    parts.headers.remove("keep-alive");
    parts.headers.remove(PROBE_PIN);
    let forwarded_for = match parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(prior) => format!("{prior}, {}", client_addr.ip()),
        None => client_addr.ip().to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&forwarded_for) {
        parts.headers.insert("x-forwarded-for", v);
    }
    // A retry can only resend a request whose body we still have: GET and HEAD carry none.
    // Only what the upstream sees is kept (not the extensions), to keep the hot path cheap.
    let trace = shared
        .tracer
        .as_ref()
        .map(|tracer| start_span(tracer, &method, path, &mut parts.headers));
    let retry_parts = idempotent.then(|| {
        let mut copy = axum::http::Request::new(());
        *copy.method_mut() = parts.method.clone();
        *copy.uri_mut() = parts.uri.clone();
        *copy.headers_mut() = parts.headers.clone();
        copy.into_parts().0
    });

    let started = Instant::now();
    let mut pick = first;
    let mut pending = shared.metrics.begin(&pick.version);
    let mut outcome = send(&shared, parts, body, &pick.backend.addr, timeout).await;
    let refused = matches!(&outcome, Err(Upstream::Failed(e)) if e.is_connect());
    if let (true, Some(parts)) = (refused, retry_parts) {
        // The first backend refused: the routing table may have changed under us, so pick again.
        let fresh = shared.routes.snapshot();
        if let Some(second) = fresh.pick(
            cookie.as_deref(),
            Some(&pick.backend.addr),
            &shared.supervisor.unfit().load(),
        ) {
            pick = second;
            pending = shared.metrics.begin(&pick.version);
            let left = timeout.saturating_sub(started.elapsed());
            outcome = send(&shared, parts, Body::empty(), &pick.backend.addr, left).await;
        }
    }
    let elapsed = started.elapsed();
    if let Some(cx) = trace {
        let status = match &outcome {
            Ok(response) => response.status().as_u16(),
            Err(Upstream::TimedOut) => 504,
            Err(Upstream::Failed(_)) => 502,
        };
        end_span(&cx, status, &pick.version);
    }
    match outcome {
        Ok(mut response) => {
            pending.finish(&method, path, response.status().as_u16(), elapsed);
            for name in HOP_BY_HOP {
                response.headers_mut().remove(name);
            }
            if let (Some(name), false) = (sticky.as_deref(), pick.from_cookie) {
                let cookie = format!("{name}={}; Path=/; HttpOnly; SameSite=Lax", pick.version);
                if let Ok(v) = HeaderValue::from_str(&cookie) {
                    response.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            response
        }
        Err(Upstream::TimedOut) => {
            pending.finish(&method, path, 504, elapsed);
            tracing::warn!(backend = %pick.backend.addr, version = %pick.version, route = %crate::proxy::metrics::route_group(path), seconds = timeout.as_secs_f64(), "upstream timed out");
            plain(
                StatusCode::GATEWAY_TIMEOUT,
                "the instance did not answer in time\n",
            )
        }
        Err(Upstream::Failed(e)) => {
            pending.finish(&method, path, 502, elapsed);
            tracing::warn!(backend = %pick.backend.addr, version = %pick.version, error = %e, "upstream failed");
            plain(StatusCode::BAD_GATEWAY, "the instance did not answer\n")
        }
    }
}

/// Starts the proxy's span for a request, as the child of the caller's `traceparent` when it
/// sent one, and makes it the parent the instance sees.
fn start_span(
    tracer: &otel_pipeline::Tracer,
    method: &Method,
    path: &str,
    headers: &mut axum::http::HeaderMap,
) -> otel_pipeline::Context {
    use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer};
    let parent = otel_pipeline::extract(headers);
    // Named by the path's first segments, as the metrics group it, never by the raw path.
    let name = format!(
        "proxy {method} {}",
        crate::proxy::metrics::route_group(path)
    );
    let span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_attributes([opentelemetry::KeyValue::new(
            "http.request.method",
            method.to_string(),
        )])
        .start_with_context(tracer, &parent);
    let cx = parent.with_span(span);
    otel_pipeline::inject(&cx, headers);
    cx
}

fn end_span(cx: &otel_pipeline::Context, status: u16, version: &str) {
    use opentelemetry::KeyValue;
    use opentelemetry::trace::{Status, TraceContextExt};
    let span = cx.span();
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status),
    ));
    span.set_attribute(KeyValue::new("marketctl.version", version.to_owned()));
    if status >= 500 {
        span.set_status(Status::error(format!("the instance answered {status}")));
    }
    span.end();
}

/// Why no answer came back from the instance.
enum Upstream {
    Failed(hyper_util::client::legacy::Error),
    TimedOut,
}

async fn send(
    shared: &Shared,
    mut parts: axum::http::request::Parts,
    body: Body,
    addr: &SocketAddr,
    timeout: Duration,
) -> Result<Response, Upstream> {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    // The path came from a parsed URI and the authority is a socket address, so this only
    // fails on a bug; the placeholder then fails to connect and the client gets a 502.
    parts.uri = Uri::try_from(format!("http://{addr}{path}"))
        .unwrap_or_else(|_| Uri::from_static("http://0.0.0.0:9/"));
    let request = axum::http::Request::from_parts(parts, body);
    match tokio::time::timeout(timeout, shared.client.client.request(request)).await {
        Ok(Ok(response)) => Ok(response.map(Body::new)),
        Ok(Err(e)) => Err(Upstream::Failed(e)),
        Err(_) => Err(Upstream::TimedOut),
    }
}
