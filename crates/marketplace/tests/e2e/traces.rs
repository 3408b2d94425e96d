//! Distributed tracing end to end: marketctl's proxy in front of the real binary, both exporting
//! OTLP to a receiver in this test, through a booking journey.

use crate::binary::{Reaped, marketplace, serve};
use axum::body::Bytes;
use marketctl::proxy::routes::{Backend, RouteSpec, VersionRoute};
use marketctl::proxy::{self, ProxyConfig};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLIENT_EMAIL: &str = "sam.whitfield@clients.tattoo.example";
const CLIENT_NAME: &str = "Sam Whitfield";
const IDEA: &str = "A lantern-lit heron over the left shoulder blade";

/// What the receiver got, as (service name, span) pairs, and every request body's bytes.
#[derive(Clone, Default)]
struct Received {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
    raw: Arc<Mutex<Vec<u8>>>,
}

async fn receiver() -> (String, Received) {
    let got = Received::default();
    let store = got.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let store = store.clone();
            async move {
                store.raw.lock().unwrap().extend_from_slice(&body);
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                for resource in request.resource_spans {
                    let service = resource
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .find(|kv| kv.key == "service.name")
                        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                        .map(|v| match v {
                            AnyValue::StringValue(s) => s.clone(),
                            other => format!("{other:?}"),
                        })
                        .unwrap_or_default();
                    for scope in resource.scope_spans {
                        for span in scope.spans {
                            store.spans.lock().unwrap().push((service.clone(), span));
                        }
                    }
                }
                (
                    [("content-type", "application/x-protobuf")],
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), got)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            AnyValue::StringValue(s) => s.clone(),
            AnyValue::IntValue(i) => i.to_string(),
            other => format!("{other:?}"),
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_journey_is_one_trace_per_request_across_proxy_and_app_without_personal_data() {
    let (collector, received) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let seeded = marketplace(&url, dir.path())
        .arg("seed-demo")
        .output()
        .unwrap();
    assert!(seeded.status.success(), "{seeded:?}");
    // The app keeps no new trace of its own (ratio 0): what it exports below, it exports because
    // the proxy's `traceparent` said so.
    let mut command = marketplace(&url, dir.path());
    command
        .arg("serve")
        .env("TM_TRACING_OTLP_ENDPOINT", &collector)
        .env("TM_TRACING_SAMPLE_RATIO", "0")
        .env("TM_JOBS_ENABLED", "false");
    let started = serve(command);
    let (child, app_base) = (started.child, started.base);
    let mut app = Reaped(child);
    let app_addr = app_base.trim_start_matches("http://").parse().unwrap();

    let proxy_tracing = otel_settings(&collector);
    let state = tempfile::tempdir().unwrap();
    let running = proxy::start(ProxyConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: "127.0.0.1:0".parse().unwrap(),
        token: "t".repeat(40),
        state_dir: state.path().to_owned(),
        tracing: Some(proxy_tracing.clone()),
    })
    .await
    .unwrap();
    running
        .shared
        .routes
        .replace(RouteSpec {
            versions: vec![VersionRoute {
                version: "v-trace".into(),
                weight: 100,
                backends: vec![Backend {
                    id: "app".into(),
                    addr: app_addr,
                }],
            }],
            ..RouteSpec::default()
        })
        .unwrap();
    let base = format!("http://{}", running.public);

    // The journey, through the proxy: home, search, an artist, sign in, a request with a
    // reference photo, and the request read back.
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let ok = |r: reqwest::Response| {
        assert!(r.status().is_success(), "{} {}", r.url(), r.status());
        r
    };
    ok(client.get(format!("{base}/")).send().await.unwrap());
    let artists: serde_json::Value = ok(client
        .get(format!("{base}/api/v1/artists?open=on"))
        .send()
        .await
        .unwrap())
    .json()
    .await
    .unwrap();
    let artist_id = artists["artists"][0]["id"].as_i64().expect("a demo artist");
    let slug = artists["artists"][0]["slug"].as_str().unwrap().to_owned();
    ok(client
        .get(format!("{base}/artists/{slug}"))
        .send()
        .await
        .unwrap());
    ok(client
        .post(format!("{base}/api/v1/session"))
        .json(&serde_json::json!({"email": CLIENT_EMAIL, "password": "ink-and-needles-demo"}))
        .send()
        .await
        .unwrap());
    let form = reqwest::multipart::Form::new()
        .text("artist_id", artist_id.to_string())
        .text("idea", IDEA)
        .text("placement", "forearm")
        .text("size", "M")
        .text("date_of_birth", "1990-01-01")
        .part(
            "references",
            reqwest::multipart::Part::bytes(crate::uploads::png(320, 240)).file_name("heron.png"),
        );
    let created = client
        .post(format!("{base}/api/v1/booking-requests"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = created.status();
    let created: serde_json::Value = created.json().await.unwrap();
    assert_eq!(status, reqwest::StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    ok(client
        .get(format!("{base}/api/v1/booking-requests/{id}"))
        .send()
        .await
        .unwrap());
    // Straight to the app, with no `traceparent`: at ratio 0 this trace is not exported.
    let direct = reqwest::Client::new()
        .get(format!("{app_base}/api/v1/artists?style=blackwork"))
        .send()
        .await
        .unwrap();
    assert!(direct.status().is_success());

    // The app exports what it holds when it stops; the proxy when asked.
    let pid = app.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let stopping = Instant::now();
    while app.0.try_wait().unwrap().is_none() {
        assert!(
            stopping.elapsed() < Duration::from_secs(15),
            "the app did not stop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.shutdown().await;
    tokio::task::spawn_blocking(move || proxy_tracing.force_flush())
        .await
        .unwrap()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let app_spans = |received: &Received| {
        received
            .spans
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _)| s == "marketplace")
            .count()
    };
    while app_spans(&received) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let spans = received.spans.lock().unwrap().clone();
    let by_id: HashMap<Vec<u8>, &Span> =
        spans.iter().map(|(_, s)| (s.span_id.clone(), s)).collect();
    let of = |service: &str| -> Vec<&Span> {
        spans
            .iter()
            .filter(|(s, _)| s == service)
            .map(|(_, s)| s)
            .collect()
    };
    let proxy_spans = of("marketctl-proxy");
    let app_spans = of("marketplace");
    let proxy_names: Vec<&str> = proxy_spans.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "proxy GET /",
        "proxy GET /api/v1/artists",
        "proxy GET /artists",
        "proxy POST /api/v1/session",
        "proxy POST /api/v1/booking-requests",
    ] {
        assert!(
            proxy_names.contains(&expected),
            "{expected} in {proxy_names:?}"
        );
    }
    assert_eq!(proxy_spans.len(), 6, "{proxy_names:?}");

    // Each proxy span is the parent of exactly one app request span, named by route template.
    let mut routes = Vec::new();
    for proxy_span in &proxy_spans {
        assert!(
            proxy_span.parent_span_id.is_empty(),
            "the proxy starts each trace"
        );
        let children: Vec<&&Span> = app_spans
            .iter()
            .filter(|s| s.parent_span_id == proxy_span.span_id)
            .collect();
        assert_eq!(children.len(), 1, "{} has one app child", proxy_span.name);
        let child = children[0];
        assert_eq!(child.trace_id, proxy_span.trace_id);
        assert_eq!(
            attribute(child, "http.response.status_code"),
            attribute(proxy_span, "http.response.status_code")
        );
        routes.push(child.name.clone());
    }
    routes.sort();
    assert_eq!(
        routes,
        [
            "GET /",
            "GET /api/v1/artists",
            "GET /api/v1/booking-requests/{id}",
            "GET /artists/{slug}",
            "POST /api/v1/booking-requests",
            "POST /api/v1/session",
        ]
    );

    // Inside the app: database calls and the image decode hang under their request.
    let root_of = |span: &Span| -> String {
        let mut at = span;
        while let Some(parent) = by_id.get(&at.parent_span_id) {
            if parent.name.starts_with("proxy ") {
                break;
            }
            at = parent;
        }
        at.name.clone()
    };
    let under = |name: &str| -> Vec<String> {
        app_spans
            .iter()
            .filter(|s| root_of(s) == name && s.name != name)
            .map(|s| s.name.clone())
            .collect()
    };
    let booking = under("POST /api/v1/booking-requests");
    assert!(booking.iter().any(|n| n == "image.process"), "{booking:?}");
    assert!(
        booking.iter().any(|n| n.starts_with("store.")),
        "{booking:?}"
    );
    let sign_in = under("POST /api/v1/session");
    assert!(
        sign_in.iter().any(|n| n == "store.credentials_by_email"),
        "{sign_in:?}"
    );

    // Every app span belongs to a proxy trace: the direct request, unsampled, left nothing.
    let proxy_traces: Vec<&Vec<u8>> = proxy_spans.iter().map(|s| &s.trace_id).collect();
    for span in &app_spans {
        assert!(
            proxy_traces.contains(&&span.trace_id),
            "{} is in trace {}, not one the proxy started",
            span.name,
            hex(&span.trace_id)
        );
    }

    // Nothing personal anywhere in what was exported: not the address, the name, the password,
    // the idea, the date of birth, the slug or a raw path with an id in it.
    let raw = String::from_utf8_lossy(&received.raw.lock().unwrap()).into_owned();
    for secret in [
        CLIENT_EMAIL,
        CLIENT_NAME,
        "ink-and-needles-demo",
        IDEA,
        "1990-01-01",
        slug.as_str(),
        &format!("/api/v1/booking-requests/{id}"),
    ] {
        assert!(!raw.contains(secret), "{secret:?} was exported");
    }
}

fn otel_settings(endpoint: &str) -> otel_pipeline::Provider {
    otel_pipeline::provider(&otel_pipeline::Settings {
        endpoint: endpoint.into(),
        sample_ratio: 1.0,
        service_name: "marketctl-proxy".into(),
        service_version: "test".into(),
        environment: "test".into(),
    })
    .unwrap()
}
