//! The `[tracing]` settings: where spans are exported and which share of traces is kept.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracingSettings {
    /// Off: no OpenTelemetry layer at all, so no trace ids in logs and no `traceparent` is read.
    pub enabled: bool,
    /// The OTLP/HTTP collector's base URL (`http://127.0.0.1:4318`, the ADOT sidecar on ECS);
    /// empty, spans are not exported but trace ids still tie the log lines of a request together.
    pub otlp_endpoint: String,
    /// The share of new traces exported, 0 to 1. A caller's sampled `traceparent` is always
    /// followed, and a trace with a failed span (a 5xx) is exported whatever this says.
    pub sample_ratio: f64,
}

impl TracingSettings {
    /// The shared pipeline's settings, for this service in `environment`.
    pub fn pipeline(&self, environment: &str) -> otel_pipeline::Settings {
        otel_pipeline::Settings {
            endpoint: self.otlp_endpoint.clone(),
            sample_ratio: self.sample_ratio,
            service_name: "marketplace".into(),
            service_version: env!("CARGO_PKG_VERSION").into(),
            environment: environment.into(),
        }
    }

    pub fn problems(&self) -> Vec<String> {
        match otel_pipeline::validate(&self.pipeline("")) {
            Ok(()) => Vec::new(),
            Err(e) => vec![format!(
                "tracing (TM_TRACING_OTLP_ENDPOINT, TM_TRACING_SAMPLE_RATIO): {e}"
            )],
        }
    }
}
