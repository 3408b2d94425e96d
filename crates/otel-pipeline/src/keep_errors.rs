//! Head sampling that does not lose errors: traces left out by the ratio are still recorded,
//! held until their local root ends, and exported after all if any of their spans failed.

use opentelemetry::trace::{
    Link, SamplingDecision, SamplingResult, SpanContext, SpanId, SpanKind, Status, TraceContextExt,
    TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Sampler, ShouldSample, Span, SpanData, SpanProcessor};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Follows the caller's decision when there is one (a remote or local parent), and the ratio for
/// a new trace; what is not sampled is recorded instead of dropped, so [`KeepErrors`] can still
/// keep it. A new trace whose root carries `sampling.priority = 0` (OpenTracing's "do not
/// sample", for housekeeping such as an idle background tick) is only kept for an error.
#[derive(Debug, Clone)]
pub struct RatioOrRecord {
    ratio: Sampler,
}

impl RatioOrRecord {
    pub fn new(ratio: f64) -> Self {
        Self {
            ratio: Sampler::TraceIdRatioBased(ratio),
        }
    }
}

impl ShouldSample for RatioOrRecord {
    fn should_sample(
        &self,
        parent: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let parent_span = parent
            .filter(|cx| cx.has_active_span())
            .map(|cx| cx.span().span_context().clone())
            .filter(SpanContext::is_valid);
        let sampled = match &parent_span {
            Some(span) => span.is_sampled(),
            None if attributes
                .iter()
                .any(|kv| kv.key.as_str() == QUIET.0 && kv.value == QUIET.1.into()) =>
            {
                false
            }
            None => {
                let head = self
                    .ratio
                    .should_sample(parent, trace_id, name, kind, attributes, links);
                head.decision == SamplingDecision::RecordAndSample
            }
        };
        SamplingResult {
            decision: if sampled {
                SamplingDecision::RecordAndSample
            } else {
                SamplingDecision::RecordOnly
            },
            attributes: Vec::new(),
            trace_state: parent_span.map_or_else(TraceState::default, |s| s.trace_state().clone()),
        }
    }
}

/// The attribute that keeps a new trace out of the ratio.
const QUIET: (&str, i64) = ("sampling.priority", 0);

/// Most spans a process holds back at once while their traces are undecided; past it, spans
/// of unsampled traces are dropped (and only the errors among them would have been exported).
const HELD_LIMIT: usize = 20_000;

/// How long an undecided trace is held: a span that ends after its local root (a task that
/// outlived its request) would otherwise open an entry nothing ever closes.
const HELD_FOR: Duration = Duration::from_secs(60);

struct Held {
    spans: Vec<SpanData>,
    failed: bool,
    since: Instant,
}

/// The undecided traces, with a running count of their spans (so the limit costs nothing to
/// check) and when stale entries were last dropped.
struct Pending {
    traces: HashMap<TraceId, Held>,
    spans: usize,
    swept_at: Instant,
}

impl Pending {
    /// Drops traces held past [`HELD_FOR`], at most once a second.
    fn sweep(&mut self, now: Instant) {
        if now.duration_since(self.swept_at) < Duration::from_secs(1) {
            return;
        }
        self.swept_at = now;
        let mut dropped = 0;
        self.traces.retain(|_, held| {
            let keep = now.duration_since(held.since) < HELD_FOR;
            if !keep {
                dropped += held.spans.len();
            }
            keep
        });
        self.spans -= dropped;
    }
}

/// Passes sampled spans straight on; holds the others by trace until the trace's local root
/// (the span whose parent is remote or absent) ends, then passes them on, marked sampled, if
/// any span of the trace ended with an error status, and forgets them otherwise.
#[derive(Debug)]
pub struct KeepErrors<P> {
    inner: P,
    held: Mutex<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} traces, {} spans", self.traces.len(), self.spans)
    }
}

impl<P: SpanProcessor> KeepErrors<P> {
    pub fn new(inner: P) -> Self {
        Self {
            inner,
            held: Mutex::new(Pending {
                traces: HashMap::new(),
                spans: 0,
                swept_at: Instant::now(),
            }),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Pending> {
        // Nothing panics while holding the lock; if something did, the map is still usable.
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn sampled(span: &SpanContext) -> SpanContext {
    SpanContext::new(
        span.trace_id(),
        span.span_id(),
        span.trace_flags().with_sampled(true) | TraceFlags::SAMPLED,
        span.is_remote(),
        span.trace_state().clone(),
    )
}

impl<P: SpanProcessor> SpanProcessor for KeepErrors<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() {
            self.inner.on_end(span);
            return;
        }
        let trace = span.span_context.trace_id();
        let root = span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote;
        let failed = matches!(span.status, Status::Error { .. });
        let now = Instant::now();
        let release = {
            let mut pending = self.held();
            pending.sweep(now);
            if root {
                let (mut spans, held_failed) = match pending.traces.remove(&trace) {
                    Some(held) => (held.spans, held.failed),
                    None => (Vec::new(), false),
                };
                pending.spans -= spans.len();
                spans.push(span);
                (failed || held_failed).then_some(spans)
            } else {
                let full = pending.spans >= HELD_LIMIT;
                let held = pending.traces.entry(trace).or_insert_with(|| Held {
                    spans: Vec::new(),
                    failed: false,
                    since: now,
                });
                held.failed |= failed;
                if !full {
                    held.spans.push(span);
                    pending.spans += 1;
                }
                None
            }
        };
        for mut span in release.into_iter().flatten() {
            span.span_context = sampled(&span.span_context);
            self.inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let mut pending = self.held();
        pending.traces.clear();
        pending.spans = 0;
        drop(pending);
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        // The exporter names the service from this; without it every span is anonymous.
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Span as _, Tracer, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use std::sync::Arc;

    #[derive(Debug, Clone, Default)]
    struct Collect(Arc<Mutex<Vec<SpanData>>>);

    impl SpanProcessor for Collect {
        fn on_start(&self, _: &mut Span, _: &Context) {}
        fn on_end(&self, span: SpanData) {
            self.0.lock().unwrap().push(span);
        }
        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            Ok(())
        }
    }

    /// Lets the test look into the processor the provider owns.
    #[derive(Debug)]
    struct Shared(Arc<KeepErrors<Collect>>);

    impl SpanProcessor for Shared {
        fn on_start(&self, span: &mut Span, cx: &Context) {
            self.0.on_start(span, cx);
        }
        fn on_end(&self, span: SpanData) {
            self.0.on_end(span);
        }
        fn force_flush(&self) -> OTelSdkResult {
            self.0.force_flush()
        }
        fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
            self.0.shutdown_with_timeout(timeout)
        }
    }

    fn pipeline_with(ratio: f64) -> (SdkTracerProvider, Collect, Arc<KeepErrors<Collect>>) {
        let out = Collect::default();
        let keep = Arc::new(KeepErrors::new(out.clone()));
        let provider = SdkTracerProvider::builder()
            .with_sampler(RatioOrRecord::new(ratio))
            .with_span_processor(Shared(keep.clone()))
            .build();
        (provider, out, keep)
    }

    fn pipeline(ratio: f64) -> (SdkTracerProvider, Collect) {
        let (provider, out, _) = pipeline_with(ratio);
        (provider, out)
    }

    /// A root with one child; the child fails when asked to.
    fn trace(provider: &SdkTracerProvider, parent: &Context, child_fails: bool) {
        let tracer = provider.tracer("test");
        let root = tracer.start_with_context("root", parent);
        let cx = parent.with_span(root);
        let mut child = tracer.start_with_context("child", &cx);
        if child_fails {
            child.set_status(Status::error("boom"));
        }
        child.end();
        cx.span().end();
    }

    fn names(out: &Collect) -> Vec<(String, bool)> {
        out.0
            .lock()
            .unwrap()
            .iter()
            .map(|s| (s.name.to_string(), s.span_context.is_sampled()))
            .collect()
    }

    #[test]
    fn at_ratio_zero_only_traces_with_an_error_are_exported_whole() {
        let (provider, out) = pipeline(0.0);
        for _ in 0..50 {
            trace(&provider, &Context::new(), false);
        }
        assert!(names(&out).is_empty(), "{:?}", names(&out));
        trace(&provider, &Context::new(), true);
        assert_eq!(
            names(&out),
            [("child".into(), true), ("root".into(), true)],
            "the failed trace is exported whole, marked sampled"
        );
    }

    #[test]
    fn a_span_that_outlives_its_root_is_forgotten_after_a_while() {
        let (provider, out, keep) = pipeline_with(0.0);
        let tracer = provider.tracer("test");
        let root = tracer.start("request");
        let cx = Context::new().with_span(root);
        let late = tracer.start_with_context("late task", &cx);
        cx.span().end();
        drop(late);
        {
            let pending = keep.held();
            assert_eq!(
                (pending.traces.len(), pending.spans),
                (1, 1),
                "held after its root ended"
            );
        }
        keep.held()
            .sweep(Instant::now() + HELD_FOR + Duration::from_secs(1));
        let pending = keep.held();
        assert_eq!((pending.traces.len(), pending.spans), (0, 0));
        assert!(names(&out).is_empty());
    }

    #[test]
    fn a_quiet_root_is_exported_only_with_an_error() {
        let (provider, out) = pipeline(1.0);
        let tracer = provider.tracer("test");
        let quiet = |fails: bool| {
            let mut span = tracer
                .span_builder("tick")
                .with_attributes([KeyValue::new("sampling.priority", 0_i64)])
                .start(&tracer);
            if fails {
                span.set_status(Status::error("failed"));
            }
            span.end();
        };
        quiet(false);
        assert!(names(&out).is_empty());
        quiet(true);
        assert_eq!(names(&out), [("tick".into(), true)]);
    }

    #[test]
    fn at_ratio_one_everything_is_exported_as_it_ends() {
        let (provider, out) = pipeline(1.0);
        trace(&provider, &Context::new(), false);
        assert_eq!(names(&out), [("child".into(), true), ("root".into(), true)]);
    }

    #[test]
    fn a_remote_callers_decision_wins_over_the_ratio() {
        let remote = |flags| {
            Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
                SpanId::from_hex("00f067aa0ba902b7").unwrap(),
                flags,
                true,
                TraceState::default(),
            ))
        };
        let (provider, out) = pipeline(0.0);
        trace(&provider, &remote(TraceFlags::SAMPLED), false);
        assert_eq!(names(&out).len(), 2, "the caller sampled it");
        let (provider, out) = pipeline(1.0);
        trace(&provider, &remote(TraceFlags::default()), false);
        assert!(names(&out).is_empty(), "the caller left it out");
        trace(&provider, &remote(TraceFlags::default()), true);
        assert_eq!(names(&out).len(), 2, "but an error is kept");
        let spans = out.0.lock().unwrap();
        assert!(spans.iter().all(|s| s.span_context.trace_id()
            == TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()));
    }

    #[test]
    fn a_ratio_keeps_about_its_share_and_holds_nothing_afterwards() {
        let (provider, out, keep) = pipeline_with(0.1);
        for _ in 0..2000 {
            trace(&provider, &Context::new(), false);
        }
        let kept = names(&out).len() / 2;
        assert!((100..=300).contains(&kept), "kept {kept} of 2000 at 10%");
        let pending = keep.held();
        assert!(
            pending.traces.is_empty() && pending.spans == 0,
            "{pending:?}"
        );
    }
}
