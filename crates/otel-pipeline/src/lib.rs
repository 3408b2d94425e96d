//! The OpenTelemetry pipeline the marketplace and `marketctl proxy` share: OTLP/HTTP export, a
//! ratio sampler that still keeps every trace with an error in it, and W3C trace context.

mod keep_errors;

pub use keep_errors::{KeepErrors, RatioOrRecord};
use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use std::time::Duration;

pub use opentelemetry::Context;
pub use opentelemetry_sdk::trace::SdkTracer as Tracer;
pub use opentelemetry_sdk::trace::SdkTracerProvider as Provider;

/// Where spans go and how many of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The OTLP/HTTP collector's base URL, such as `http://127.0.0.1:4318` (the ADOT sidecar);
    /// spans are posted to its `/v1/traces`. Empty: nothing is exported.
    pub endpoint: String,
    /// The share of new traces kept, from 0 to 1. A trace whose caller kept it is kept, and a
    /// trace with an error in it is kept whatever this says.
    pub sample_ratio: f64,
    pub service_name: String,
    pub service_version: String,
    pub environment: String,
}

/// Why the pipeline could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the trace sample ratio must be between 0 and 1, not {0}")]
    Ratio(f64),
    #[error("the OTLP endpoint {0:?} must be an http:// or https:// URL")]
    Endpoint(String),
    #[error("the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// Checks the settings without building anything, for configuration validation.
pub fn validate(settings: &Settings) -> Result<(), BuildError> {
    if !(0.0..=1.0).contains(&settings.sample_ratio) || settings.sample_ratio.is_nan() {
        return Err(BuildError::Ratio(settings.sample_ratio));
    }
    let endpoint = settings.endpoint.trim();
    let http = endpoint.starts_with("http://") || endpoint.starts_with("https://");
    if !(endpoint.is_empty() || http) {
        return Err(BuildError::Endpoint(settings.endpoint.clone()));
    }
    Ok(())
}

/// Builds the tracer provider. Without an endpoint it still makes trace and span ids, so logs
/// and `traceparent` carry them, but records nothing.
pub fn provider(settings: &Settings) -> Result<SdkTracerProvider, BuildError> {
    validate(settings)?;
    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .with_attributes([
            KeyValue::new("service.version", settings.service_version.clone()),
            KeyValue::new("deployment.environment.name", settings.environment.clone()),
        ])
        .build();
    let builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(RatioOrRecord::new(settings.sample_ratio));
    let endpoint = settings.endpoint.trim().trim_end_matches('/');
    if endpoint.is_empty() {
        return Ok(builder.build());
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{endpoint}/v1/traces"))
        .with_timeout(Duration::from_secs(5))
        .build()?;
    Ok(builder
        .with_span_processor(KeepErrors::new(
            BatchSpanProcessor::builder(exporter).build(),
        ))
        .build())
}

/// The trace context a request arrived with (W3C `traceparent` and `tracestate`), or an empty
/// context when it carries none or a malformed one.
pub fn extract(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// Writes `cx`'s span as the `traceparent` (and `tracestate`) of an outgoing request.
pub fn inject(cx: &Context, headers: &mut http::HeaderMap) {
    TraceContextPropagator::new().inject_context(cx, &mut HeaderInjector(headers));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: &str, ratio: f64) -> Settings {
        Settings {
            endpoint: endpoint.into(),
            sample_ratio: ratio,
            service_name: "test".into(),
            service_version: "0".into(),
            environment: "test".into(),
        }
    }

    #[test]
    fn ratios_outside_zero_to_one_and_other_schemes_are_refused() {
        for bad in [-0.1, 1.5, f64::NAN] {
            assert!(matches!(
                validate(&settings("", bad)),
                Err(BuildError::Ratio(_))
            ));
        }
        assert!(matches!(
            validate(&settings("ftp://collector:4318", 0.5)),
            Err(BuildError::Endpoint(_))
        ));
        assert!(validate(&settings("http://127.0.0.1:4318/", 0.0)).is_ok());
        assert!(validate(&settings("", 1.0)).is_ok());
    }

    #[test]
    fn traceparent_round_trips_and_garbage_is_ignored() {
        use opentelemetry::trace::TraceContextExt;
        let mut headers = http::HeaderMap::new();
        let sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        headers.insert("traceparent", sent.parse().unwrap());
        let cx = extract(&headers);
        let span = cx.span().span_context().clone();
        assert!(span.is_valid() && span.is_remote() && span.is_sampled());
        assert_eq!(
            span.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let mut out = http::HeaderMap::new();
        inject(&cx, &mut out);
        assert_eq!(out["traceparent"], sent);

        for garbage in [
            "",
            "00-xyz-00f067aa0ba902b7-01",
            "ff-0-0-0",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            let mut headers = http::HeaderMap::new();
            headers.insert("traceparent", garbage.parse().unwrap());
            assert!(
                !extract(&headers).span().span_context().is_valid(),
                "{garbage}"
            );
        }
    }
}
