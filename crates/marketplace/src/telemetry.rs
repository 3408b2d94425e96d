//! Logging and tracing setup: JSON lines (with trace ids) outside development, readable text in it, and OpenTelemetry spans exported over OTLP.

use crate::config::{LogFormat, LogSettings, TracingSettings};
use opentelemetry::trace::TracerProvider as _;
use serde_json::{Map, Value};
use std::fmt;
use tracing::Level;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OtelData;
use tracing_subscriber::filter::{FilterExt, Targets, filter_fn};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer as _};

/// Keeps the tracer provider; dropping it (at the end of `serve`) exports what is still queued.
#[must_use = "spans still queued are exported when this is dropped"]
pub struct Telemetry {
    provider: Option<otel_pipeline::Provider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // Exporting blocks on the network, so it must not run on an async worker.
            let _ = std::thread::spawn(move || provider.shutdown()).join();
        }
    }
}

/// Installs the global subscriber: the level filter, the OpenTelemetry layer when tracing is
/// enabled, and the log format. Later calls keep the first subscriber (tests build several
/// apps in one process) and export nothing.
pub fn init(
    log: &LogSettings,
    tracing: &TracingSettings,
    environment: &str,
) -> Result<Telemetry, otel_pipeline::BuildError> {
    // The audit log's copy is kept whatever the level: on ECS it is the copy outside the database.
    let filter = EnvFilter::try_new(format!("{},audit=info", log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let provider = tracing
        .enabled
        .then(|| otel_pipeline::provider(&tracing.pipeline(environment)))
        .transpose()?;
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("marketplace"))
            // Source paths, thread names and busy/idle times say nothing an operator needs, and
            // each is work on every span.
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            // Its own filter, so a quieter log level (`warn`) does not switch tracing off: this
            // service's and its store's spans (libraries' own spans, such as the session
            // layer's, cost more than they tell), and only warnings and errors as span events
            // (the access line and other info events are in the logs, with the trace id).
            .with_filter(
                Targets::new()
                    .with_target("marketplace", Level::INFO)
                    .with_target("storage", Level::INFO)
                    .and(filter_fn(|meta| {
                        meta.is_span() || *meta.level() <= Level::WARN
                    })),
            )
    });
    let fmt = match log.format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(JsonLine)
            .with_filter(filter)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .compact()
            .with_target(true)
            .with_filter(filter)
            .boxed(),
    };
    let installed = tracing_subscriber::registry()
        .with(otel)
        .with(fmt)
        .try_init()
        .is_ok();
    Ok(Telemetry {
        provider: provider.filter(|_| installed),
    })
}

/// For tests: logs only when `TEST_LOG` is set, so test output stays clean by default.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        let log = LogSettings {
            level: "debug,sqlx=warn,hyper=info".into(),
            format: LogFormat::Pretty,
            emf_namespace: String::new(),
        };
        let tracing = TracingSettings {
            enabled: false,
            otlp_endpoint: String::new(),
            sample_ratio: 1.0,
        };
        let _ = init(&log, &tracing, "test");
    }
}

/// One JSON object per line: time, level, target, the event's fields at the top level, the
/// fields of the spans it happened in under `span`, and the trace and span ids when it
/// happened inside a trace, so CloudWatch Logs Insights can go from a log line to its trace.
struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        line.insert("timestamp".into(), now.into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        event.record(&mut Fields(&mut line));
        if let Some(scope) = ctx.event_scope() {
            let mut span_fields = Map::new();
            let mut ids = None;
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(Value::Object(fields)) = extensions
                    .get::<FormattedFields<N>>()
                    .and_then(|f| serde_json::from_str(f.as_str()).ok())
                {
                    span_fields.extend(fields);
                }
                span_fields.insert("name".into(), span.name().into());
                if let Some(otel) = extensions.get::<OtelData>()
                    && let (Some(trace), Some(span)) = (otel.trace_id(), otel.span_id())
                {
                    ids = Some((trace, span));
                }
            }
            line.insert("span".into(), Value::Object(span_fields));
            if let Some((trace, span)) = ids {
                line.insert("trace_id".into(), trace.to_string().into());
                line.insert("span_id".into(), span.to_string().into());
            }
        }
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Collects an event's fields into the line, the message under `message`.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
}
