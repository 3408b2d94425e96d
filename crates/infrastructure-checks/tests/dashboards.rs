//! The CloudWatch dashboard each environment gets: it shows what the spec asks for (p95 and p99,
//! 4xx/5xx rates, throughput, database connections and CPU, deploy markers) and the business
//! KPIs under the very metric names and namespace the marketplace writes them with.

use hcl::structure::{Block, BlockLabel, Body};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn module(name: &str) -> Body {
    let path = repo().join(format!("infrastructure/terraform/modules/{name}/main.tf"));
    hcl::parse(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn label(b: &Block, i: usize) -> &str {
    match &b.labels()[i] {
        BlockLabel::Identifier(id) => id.as_str(),
        BlockLabel::String(s) => s.as_str(),
    }
}

fn resource<'a>(body: &'a Body, kind: &str, name: &str) -> &'a Block {
    body.blocks()
        .find(|b| b.identifier() == "resource" && label(b, 0) == kind && label(b, 1) == name)
        .unwrap_or_else(|| panic!("resource {kind}.{name}"))
}

/// The quoted strings of a Rust or HCL text, in order.
fn quoted(text: &str) -> Vec<String> {
    text.split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_owned())
        .collect()
}

/// The metric names the marketplace writes as Embedded Metric Format lines.
fn emitted_metrics() -> Vec<String> {
    let source =
        std::fs::read_to_string(repo().join("crates/marketplace/src/metrics/kpi.rs")).unwrap();
    let mut names: Vec<String> = source
        .lines()
        .filter(|l| l.contains("self.emit(\"") || l.contains("=> \"Funnel"))
        .flat_map(quoted)
        .filter(|s| s.chars().next().is_some_and(char::is_uppercase) && s != "Count" && s != "None")
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn the_dashboard_shows_latency_errors_throughput_database_kpis_and_deploys() {
    let monitoring = module("monitoring");
    let dashboard = resource(&monitoring, "aws_cloudwatch_dashboard", "this");
    let text = hcl::format::to_string(dashboard.body()).unwrap();
    let locals = monitoring
        .blocks()
        .filter(|b| b.identifier() == "locals")
        .map(|b| hcl::format::to_string(b.body()).unwrap())
        .collect::<String>();
    for needed in [
        "stat = \"p95\"",
        "stat = \"p99\"",
        "HTTPCode_Target_4XX_Count",
        "HTTPCode_Target_5XX_Count",
        "PERIOD(count)",
        "DatabaseConnections",
        "\"AWS/RDS\"",
        "CPUUtilization",
        "\"Deployments\"",
        "local.kpi",
        "local.funnel",
    ] {
        assert!(text.contains(needed), "the dashboard lacks {needed}");
    }
    let emitted = emitted_metrics();
    assert!(emitted.len() >= 10, "{emitted:?}");
    for name in &emitted {
        if name == "ArtistFirstResponseHours" {
            continue;
        }
        assert!(
            locals.contains(&format!("\"{name}\"")),
            "the app writes {name}, which no dashboard widget shows"
        );
    }
    // Each funnel step of the app is a bar, in the funnel's order.
    let funnel: Vec<&String> = emitted.iter().filter(|n| n.starts_with("Funnel")).collect();
    assert_eq!(funnel.len(), 5, "{funnel:?}");
}

#[test]
fn the_app_writes_its_kpis_in_the_namespace_the_dashboard_reads() {
    let monitoring = hcl::format::to_string(&module("monitoring")).unwrap();
    let ecs = hcl::format::to_string(&module("ecs")).unwrap();
    let namespace = monitoring
        .lines()
        .find(|l| l.trim_start().starts_with("kpi_namespace"))
        .and_then(|l| quoted(l).into_iter().next())
        .expect("local.kpi_namespace");
    let line = ecs
        .lines()
        .find(|l| l.contains("TM_LOG_EMF_NAMESPACE"))
        .expect("the task turns Embedded Metric Format on");
    assert!(
        quoted(line).contains(&namespace),
        "the task writes to another namespace than {namespace}: {line}"
    );
    // marketctl's deploy markers land in the same namespace.
    let markers =
        std::fs::read_to_string(repo().join("crates/marketctl/src/ecs/markers.rs")).unwrap();
    assert!(
        markers.contains(&format!("\"{namespace}\"")),
        "deploy markers namespace"
    );
}
