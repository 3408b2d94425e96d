//! Slack-compatible webhook notifications. A failed notification is logged, never fatal.

use std::time::Duration;

/// Resolves `env:NAME` to that variable's value; anything else is the URL itself.
pub fn webhook_url(setting: Option<&str>) -> Option<String> {
    let raw = setting?.trim();
    match raw.strip_prefix("env:") {
        Some(name) => std::env::var(name).ok().filter(|v| !v.is_empty()),
        None => (!raw.is_empty()).then(|| raw.to_owned()),
    }
}

pub async fn send(url: Option<&str>, text: &str) {
    let Some(url) = url else { return };
    let result = reqwest::Client::new()
        .post(url)
        .timeout(Duration::from_secs(5))
        .json(&serde_json::json!({ "text": text }))
        .send()
        .await;
    match result {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!(status = %r.status(), "notification webhook refused the message"),
        Err(e) => tracing::warn!(error = %e, "notification webhook unreachable"),
    }
}
