//! Per-client-IP rate limits (tower_governor's GCRA): sign-in and registration attempts, and JSON
//! API writes. The state is in memory per instance; per-account sign-in throttling, which every
//! instance must share, lives in the database (`accounts`).

use crate::client_ip::ClientIp;
use crate::error::AppError;
use axum::body::Body;
use axum::http::{Method, Request};
use axum::response::{IntoResponse, Response};
use governor::middleware::NoOpMiddleware;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;
use tower_governor::GovernorError;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;

/// Keys limits by the client address `client_ip::resolve` worked out (trusted proxies only).
#[derive(Debug, Clone, Copy)]
pub struct ClientIpKey;

impl KeyExtractor for ClientIpKey {
    type Key = IpAddr;
    fn extract<T>(&self, req: &Request<T>) -> Result<IpAddr, GovernorError> {
        // Router-only tests have no connection: they share one bucket.
        Ok(req
            .extensions()
            .get::<ClientIp>()
            .and_then(|c| c.0)
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    }
}

pub type Limit = Arc<GovernorConfig<ClientIpKey, NoOpMiddleware<governor::clock::QuantaInstant>>>;

/// `per_minute` requests with a method in `methods` per client IP, refilled evenly over the
/// minute; the burst is the same number, so a person never meets it by accident.
pub fn per_minute(per_minute: u32, methods: &[Method]) -> Limit {
    let per_minute = per_minute.max(1);
    let config = GovernorConfigBuilder::default()
        .key_extractor(ClientIpKey)
        .period(Duration::from_nanos(60_000_000_000 / u64::from(per_minute)))
        .burst_size(per_minute)
        .methods(methods.to_vec())
        .finish()
        .expect("a positive period and burst");
    let config = Arc::new(config);
    // Forget idle clients now and then, so the table stays as small as the set of active ones.
    let weak = Arc::downgrade(&config);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            match weak.upgrade() {
                Some(c) => c.limiter().retain_recent(),
                None => break,
            }
        }
    });
    config
}

/// A layer enforcing `limit`, answering as every other error does (HTML or problem+json, with
/// `Retry-After`).
pub fn layer(
    limit: &Limit,
    what: &'static str,
) -> tower_governor::GovernorLayer<ClientIpKey, NoOpMiddleware<governor::clock::QuantaInstant>, Body>
{
    tower_governor::GovernorLayer::new(limit.clone()).error_handler(move |e| refusal(e, what))
}

fn refusal(e: GovernorError, what: &str) -> Response {
    match e {
        GovernorError::TooManyRequests { wait_time, .. } => {
            let secs = wait_time.max(1);
            AppError::Busy {
                message: format!(
                    "Too many {what} from your address. Please wait {secs} seconds and try again."
                ),
                retry_after_secs: secs,
            }
            .into_response()
        }
        other => AppError::Internal(anyhow::anyhow!("rate limiter: {other}")).into_response(),
    }
}
