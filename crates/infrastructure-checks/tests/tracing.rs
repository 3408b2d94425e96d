//! Traces on ECS: each task runs the ADOT collector beside the app, the app sends its spans to
//! that collector's port, the collector sends them to X-Ray, and the task role may do so.

use hcl::structure::{Block, BlockLabel, Body};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ecs() -> Body {
    let path = repo().join("infrastructure/terraform/modules/ecs/main.tf");
    hcl::parse(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn label(b: &Block, i: usize) -> &str {
    match &b.labels()[i] {
        BlockLabel::Identifier(id) => id.as_str(),
        BlockLabel::String(s) => s.as_str(),
    }
}

/// The HCL text of one attribute of `kind.name` (resource or data source).
fn attribute(body: &Body, block: &str, kind: &str, name: &str, attr: &str) -> String {
    let found = body
        .blocks()
        .find(|b| b.identifier() == block && label(b, 0) == kind && label(b, 1) == name)
        .unwrap_or_else(|| panic!("{block} {kind}.{name}"));
    hcl::format::to_string(&found.body)
        .unwrap()
        .split_once(&format!("{attr} = "))
        .map(|(_, rest)| rest.to_owned())
        .unwrap_or_else(|| panic!("{kind}.{name} has no {attr}"))
}

/// The `locals` value named `name`, as HCL text up to the next local.
fn local(body: &Body, name: &str) -> String {
    body.blocks()
        .filter(|b| b.identifier() == "locals")
        .flat_map(|b| b.body.attributes())
        .find(|a| a.key.as_str() == name)
        .map(|a| hcl::format::to_string(&a.expr).unwrap())
        .unwrap_or_else(|| panic!("local.{name}"))
}

#[test]
fn the_app_sends_spans_to_a_collector_sidecar_that_exports_them_to_xray() {
    let body = ecs();
    let containers = attribute(
        &body,
        "resource",
        "aws_ecs_task_definition",
        "this",
        "container_definitions",
    );
    let collector = containers
        .split_once("\"otel-collector\"")
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.split_once("image"))
        .map(|(_, rest)| rest)
        .expect("a container named otel-collector");
    assert!(
        collector
            .trim_start()
            .starts_with("= var.otel_collector_image"),
        "the collector's image is the pinned variable: {collector}"
    );
    assert!(collector.contains("AOT_CONFIG_CONTENT") && collector.contains("local.otel_config"));
    let essential = collector
        .split_once("essential")
        .map(|(_, r)| r.trim_start());
    assert!(
        essential.is_some_and(|r| r.starts_with("= false")),
        "a failed collector must not stop the app"
    );
    // The app's endpoint is the collector's receiver on the task's loopback.
    let endpoint_line = containers
        .lines()
        .find(|l| l.contains("TM_TRACING_OTLP_ENDPOINT"))
        .expect("the app is told where the collector listens");
    assert!(
        endpoint_line.contains("http://127.0.0.1:${local.otel_port}"),
        "{endpoint_line}"
    );
    assert!(
        containers.contains("containerName = \"otel-collector\""),
        "the app waits for the collector to start"
    );

    let config = local(&body, "otel_config");
    assert!(
        config.contains("127.0.0.1:${local.otel_port}"),
        "the receiver listens where the app sends: {config}"
    );
    for part in [
        "awsxray",
        "receivers = [\"otlp\"]",
        "exporters = [\"awsxray\"]",
    ] {
        assert!(config.contains(part), "{part} in {config}");
    }
    assert_eq!(local(&body, "otel_port"), "4318", "OTLP/HTTP's port");

    let role = hcl::format::to_string(
        body.blocks()
            .find(|b| {
                b.identifier() == "data"
                    && label(b, 0) == "aws_iam_policy_document"
                    && label(b, 1) == "task"
            })
            .expect("the task role's policy"),
    )
    .unwrap();
    for action in [
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
    ] {
        assert!(role.contains(action), "the task role allows {action}");
    }

    // The variable the app reads is a real setting of the service.
    let defaults =
        std::fs::read_to_string(repo().join("crates/marketplace/src/config/defaults.toml"))
            .unwrap();
    let section = defaults
        .split_once("[tracing]")
        .expect("a [tracing] section")
        .1;
    assert!(
        section.contains("otlp_endpoint ="),
        "TM_TRACING_OTLP_ENDPOINT is tracing.otlp_endpoint"
    );
}
