//! Logging setup: JSON lines outside development, readable text in it; silent in tests unless `TEST_LOG` is set.

use crate::config::{LogFormat, LogSettings};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Installs the global subscriber. Safe to call more than once (later calls are ignored), which
/// tests that build several apps in one process rely on.
pub fn init(settings: &LogSettings) {
    // The audit log's copy is kept whatever the level: on ECS it is the copy outside the database.
    let filter = EnvFilter::try_new(format!("{},audit=info", settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        .with_target(true);
    let _ = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// For tests: logs only when `TEST_LOG` is set, so test output stays clean by default.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        init(&LogSettings {
            level: "debug,sqlx=warn,hyper=info".into(),
            format: LogFormat::Pretty,
            emf_namespace: String::new(),
        });
    }
}
