//! Reads every `.tf` file with a real HCL parser and checks what `terraform validate` cannot run
//! here: module interfaces, the spec's environment values, tagging and module documentation.

use hcl::expr::{Expression, ObjectKey};
use hcl::structure::{Block, BlockLabel, Body};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Not;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infrastructure/terraform")
}

const MODULES: [&str; 6] = ["vpc", "security", "database", "ecs", "cdn", "monitoring"];
const ENVIRONMENTS: [&str; 3] = ["development", "staging", "production"];

/// Resource types the AWS provider cannot tag; every other resource must carry `tags`.
const UNTAGGABLE: &[&str] = &[
    "aws_appautoscaling_policy",
    "aws_autoscaling_group", // tagged with `tag` blocks instead, checked separately
    "aws_cloudfront_cache_policy",
    "aws_cloudfront_origin_access_control",
    "aws_cloudfront_response_headers_policy",
    "aws_cloudwatch_dashboard",
    "aws_db_instance_automated_backups_replication",
    "aws_ecr_lifecycle_policy",
    "aws_ecs_cluster_capacity_providers",
    "aws_iam_role_policy",
    "aws_iam_role_policy_attachment",
    "aws_kms_alias",
    "aws_route",
    "aws_route_table_association",
    "aws_s3_bucket_lifecycle_configuration",
    "aws_s3_bucket_logging",
    "aws_s3_bucket_ownership_controls",
    "aws_s3_bucket_policy",
    "aws_s3_bucket_public_access_block",
    "aws_s3_bucket_server_side_encryption_configuration",
    "aws_s3_bucket_versioning",
    "aws_sns_topic_policy",
    "aws_sns_topic_subscription",
    "aws_wafv2_web_acl_association",
    "aws_wafv2_web_acl_logging_configuration",
];

fn parse_dir(dir: &Path) -> Vec<(PathBuf, Body)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "tf"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let body = hcl::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, body)
        })
        .collect()
}

fn label(b: &Block, i: usize) -> &str {
    match &b.labels()[i] {
        BlockLabel::Identifier(id) => id.as_str(),
        BlockLabel::String(s) => s.as_str(),
    }
}

fn blocks<'a>(files: &'a [(PathBuf, Body)], kind: &'a str) -> impl Iterator<Item = &'a Block> {
    files
        .iter()
        .flat_map(move |(_, body)| body.blocks().filter(move |b| b.identifier() == kind))
}

fn has_attr(body: &Body, key: &str) -> bool {
    body.attributes().any(|a| a.key() == key)
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

/// A module's variables: name → required (no default).
fn variables(module: &Path) -> BTreeMap<String, bool> {
    blocks(&parse_dir(module), "variable")
        .map(|b| (label(b, 0).to_owned(), !has_attr(b.body(), "default")))
        .collect()
}

fn outputs(module: &Path) -> BTreeSet<String> {
    blocks(&parse_dir(module), "output")
        .map(|b| label(b, 0).to_owned())
        .collect()
}

fn key_name(k: &ObjectKey) -> String {
    match k {
        ObjectKey::Identifier(id) => id.as_str().to_owned(),
        ObjectKey::Expression(Expression::String(s)) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn object(expr: &Expression) -> BTreeMap<String, Expression> {
    match expr {
        Expression::Object(o) => o.iter().map(|(k, v)| (key_name(k), v.clone())).collect(),
        other => panic!("expected an object, found {other:?}"),
    }
}

fn text(expr: &Expression) -> String {
    match expr {
        Expression::String(s) => s.clone(),
        Expression::Number(n) => n.to_string(),
        Expression::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

#[test]
fn every_module_has_its_files_and_documents_every_input_and_output() {
    for module in MODULES {
        let dir = root().join("modules").join(module);
        for file in [
            "main.tf",
            "variables.tf",
            "outputs.tf",
            "versions.tf",
            "README.md",
        ] {
            assert!(dir.join(file).exists(), "{module}/{file} is missing");
        }
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        let files = parse_dir(&dir);
        for v in blocks(&files, "variable") {
            let name = label(v, 0);
            assert!(
                has_attr(v.body(), "description"),
                "{module}: variable {name} has no description"
            );
            assert!(
                has_attr(v.body(), "type"),
                "{module}: variable {name} has no type"
            );
            assert!(
                readme.contains(&format!("`{name}`")),
                "{module}/README.md does not list input {name}"
            );
        }
        for o in blocks(&files, "output") {
            let name = label(o, 0);
            assert!(
                has_attr(o.body(), "description"),
                "{module}: output {name} has no description"
            );
            assert!(
                readme.contains(&format!("`{name}`")),
                "{module}/README.md does not list output {name}"
            );
        }
        let validations = blocks(&files, "variable")
            .filter(|v| v.body().blocks().any(|b| b.identifier() == "validation"))
            .count();
        assert!(
            validations >= 2,
            "{module}: only {validations} variables are validated"
        );
    }
}

#[test]
fn every_module_call_passes_only_declared_variables_and_all_required_ones() {
    for env in ENVIRONMENTS {
        let dir = root().join("environments").join(env);
        let files = parse_dir(&dir);
        let calls: Vec<_> = blocks(&files, "module").collect();
        assert_eq!(calls.len(), MODULES.len(), "{env} calls every module once");
        for call in calls {
            let name = label(call, 0);
            let source = text(attr(call.body(), "source").expect("module source"));
            let vars = variables(&dir.join(&source));
            let passed: BTreeSet<&str> = call
                .body()
                .attributes()
                .map(|a| a.key())
                .filter(|k| !["source", "providers", "depends_on", "count", "for_each"].contains(k))
                .collect();
            for arg in &passed {
                assert!(
                    vars.contains_key(*arg),
                    "{env}: module {name} passes {arg}, which {source} does not declare"
                );
            }
            for (var, required) in &vars {
                if *required {
                    assert!(
                        passed.contains(var.as_str()),
                        "{env}: module {name} omits required {var}"
                    );
                }
            }
        }
    }
}

#[test]
fn every_module_output_an_environment_references_exists() {
    let reference = |s: &str| -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut rest = s;
        while let Some(i) = rest.find("module.") {
            let tail = &rest[i + 7..];
            let mut parts = tail.splitn(3, |c: char| !(c.is_ascii_alphanumeric() || c == '_'));
            let (m, o) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if !m.is_empty() && !o.is_empty() {
                out.push((m.to_owned(), o.to_owned()));
            }
            rest = tail;
        }
        out
    };
    for env in ENVIRONMENTS {
        let dir = root().join("environments").join(env);
        let files = parse_dir(&dir);
        let sources: BTreeMap<String, PathBuf> = blocks(&files, "module")
            .map(|b| {
                (
                    label(b, 0).to_owned(),
                    dir.join(text(attr(b.body(), "source").unwrap())),
                )
            })
            .collect();
        let mut checked = 0;
        for (path, _) in &files {
            for (module, output) in reference(&std::fs::read_to_string(path).unwrap()) {
                let source = sources
                    .get(&module)
                    .unwrap_or_else(|| panic!("{env}: unknown module {module}"));
                assert!(
                    outputs(source).contains(&output),
                    "{env}: module.{module}.{output} is not an output of {}",
                    source.display()
                );
                checked += 1;
            }
        }
        assert!(checked > 20, "{env}: only {checked} references found");
    }
}

#[test]
fn environments_carry_exactly_the_specs_values() {
    // The spec's Environment Configuration table.
    let expected: BTreeMap<&str, [&str; 7]> = BTreeMap::from([
        (
            "development",
            [
                "10.0.0.0/16",
                "t3.micro",
                "db.t3.micro",
                "20",
                "1",
                "256",
                "512",
            ],
        ),
        (
            "staging",
            [
                "10.1.0.0/16",
                "t3.small",
                "db.t3.small",
                "50",
                "2",
                "512",
                "1024",
            ],
        ),
        (
            "production",
            [
                "10.2.0.0/16",
                "r6g.large",
                "db.r6g.large",
                "100",
                "3",
                "1024",
                "2048",
            ],
        ),
    ]);
    let keys = [
        "vpc_cidr",
        "instance_type",
        "db_instance_class",
        "db_storage_gb",
        "container_count",
        "container_cpu",
        "container_memory",
    ];
    for (env, values) in expected {
        let files = parse_dir(&root().join("environments").join(env));
        let locals = blocks(&files, "locals").next().expect("locals block");
        let spec = object(attr(locals.body(), "spec").expect("locals.spec"));
        for (key, want) in keys.iter().zip(values) {
            assert_eq!(text(&spec[*key]), want, "{env}: spec.{key}");
        }
        assert_eq!(text(attr(locals.body(), "environment").unwrap()), env);
        let call = |name: &str| {
            blocks(&files, "module")
                .find(|b| label(b, 0) == name)
                .unwrap()
                .body()
                .clone()
        };
        let ecs = call("ecs");
        let db = call("database");
        let vpc = call("vpc");
        let autoscaling = object(attr(&ecs, "autoscaling").unwrap());
        let production = env == "production";
        assert_eq!(
            text(&autoscaling["enabled"]),
            production.to_string(),
            "{env}: autoscaling"
        );
        assert_eq!(
            text(attr(&db, "multi_az").unwrap()),
            production.to_string(),
            "{env}: multi_az"
        );
        assert_eq!(
            text(attr(&vpc, "nat_gateway_per_az").unwrap()),
            production.to_string(),
            "{env}: NAT per AZ"
        );
        assert_eq!(
            text(attr(&db, "backup_retention_days").unwrap()),
            "30",
            "{env}: backups"
        );
        let azs = match attr(&vpc, "availability_zones").unwrap() {
            Expression::Array(a) => a.len(),
            other => panic!("{other:?}"),
        };
        assert_eq!(azs, if production { 3 } else { 2 }, "{env}: AZs");
        if production {
            assert_eq!(text(attr(&db, "deletion_protection").unwrap()), "true");
            assert_eq!(
                text(attr(&ecs, "fargate_spot_weight").unwrap()),
                "0",
                "no Spot in production"
            );
        } else {
            assert_ne!(
                text(attr(&ecs, "fargate_spot_weight").unwrap()),
                "0",
                "{env} may use Spot"
            );
        }
    }
}

#[test]
fn every_taggable_resource_is_tagged_and_every_provider_sets_the_default_tags() {
    let mut dirs: Vec<PathBuf> = MODULES
        .iter()
        .map(|m| root().join("modules").join(m))
        .collect();
    dirs.push(root().join("bootstrap"));
    let mut checked = 0;
    for dir in &dirs {
        for b in blocks(&parse_dir(dir), "resource") {
            let (kind, name) = (label(b, 0), label(b, 1));
            if kind == "aws_autoscaling_group" {
                assert!(
                    b.body()
                        .blocks()
                        .any(|t| t.identifier() == "tag" || t.identifier() == "dynamic"),
                    "{kind}.{name} has no tags"
                );
                continue;
            }
            if UNTAGGABLE.contains(&kind) {
                continue;
            }
            assert!(
                has_attr(b.body(), "tags"),
                "{}: {kind}.{name} is not tagged",
                dir.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} resources checked");

    for env in ENVIRONMENTS {
        let files = parse_dir(&root().join("environments").join(env));
        let locals = blocks(&files, "locals").next().unwrap();
        let tags = object(attr(locals.body(), "tags").expect("locals.tags"));
        for key in ["Project", "Environment", "CostCenter", "Owner", "ManagedBy"] {
            assert!(tags.contains_key(key), "{env}: default tag {key} missing");
        }
        let providers: Vec<_> = blocks(&files, "provider").collect();
        assert_eq!(providers.len(), 3);
        for p in providers {
            assert!(
                p.body().blocks().any(|b| b.identifier() == "default_tags"),
                "{env}: a provider lacks default_tags"
            );
        }
        for call in blocks(&files, "module") {
            let tags = object(
                attr(call.body(), "tags")
                    .unwrap_or_else(|| panic!("{env}: module {} passes no tags", label(call, 0))),
            );
            assert!(
                tags.contains_key("Feature"),
                "{env}: module {} has no Feature tag",
                label(call, 0)
            );
        }
    }
}

#[test]
fn every_environment_keeps_state_in_a_locked_encrypted_s3_backend() {
    for env in ENVIRONMENTS {
        let files = parse_dir(&root().join("environments").join(env));
        let terraform = blocks(&files, "terraform")
            .find(|b| b.body().blocks().any(|x| x.identifier() == "backend"))
            .expect("backend");
        let backend = terraform
            .body()
            .blocks()
            .find(|b| b.identifier() == "backend")
            .unwrap();
        assert_eq!(label(backend, 0), "s3");
        assert_eq!(text(attr(backend.body(), "encrypt").unwrap()), "true");
        assert_eq!(text(attr(backend.body(), "use_lockfile").unwrap()), "true");
        assert_eq!(
            text(attr(backend.body(), "key").unwrap()),
            format!("{env}/terraform.tfstate")
        );
    }
    let bootstrap = parse_dir(&root().join("bootstrap"));
    assert!(blocks(&bootstrap, "resource").any(|b| label(b, 0) == "aws_s3_bucket_versioning"));
}

fn resources<'a>(files: &'a [(PathBuf, Body)], kind: &'a str) -> Vec<&'a Block> {
    blocks(files, "resource")
        .filter(|b| label(b, 0) == kind)
        .collect()
}

fn block<'a>(body: &'a Body, kind: &str) -> Option<&'a Block> {
    body.blocks().find(|b| b.identifier() == kind)
}

/// The names in a `lifecycle { ignore_changes = [...] }`.
fn ignored(body: &Body) -> Vec<String> {
    block(body, "lifecycle")
        .and_then(|l| attr(l.body(), "ignore_changes"))
        .map(|e| match e {
            Expression::Array(items) => items
                .iter()
                .map(|i| format!("{i}").trim().to_owned())
                .collect(),
            other => panic!("ignore_changes: {other:?}"),
        })
        .unwrap_or_default()
}

#[test]
fn ecs_runs_one_service_on_its_own_deployment_controller_with_what_blue_green_needs() {
    let files = parse_dir(&root().join("modules/ecs"));
    let services = resources(&files, "aws_ecs_service");
    assert_eq!(services.len(), 1, "one service per environment");
    let service = services[0].body();
    assert!(
        has_attr(service, "for_each").not() && has_attr(service, "count").not(),
        "exactly one service, not one per colour"
    );
    let controller = block(service, "deployment_controller").expect("deployment_controller");
    assert_eq!(text(attr(controller.body(), "type").unwrap()), "ECS");
    let lb = block(service, "load_balancer").expect("load_balancer");
    let advanced = block(lb.body(), "advanced_configuration").expect("advanced_configuration");
    for key in [
        "alternate_target_group_arn",
        "production_listener_rule",
        "test_listener_rule",
        "role_arn",
    ] {
        assert!(
            has_attr(advanced.body(), key),
            "advanced_configuration.{key}"
        );
    }
    assert!(block(service, "deployment_configuration").is_some());
    let alarms = block(service, "alarms").expect("rollback alarms on the service");
    assert_eq!(text(attr(alarms.body(), "rollback").unwrap()), "true");
    // marketctl owns releases: Terraform must not undo a deploy or move traffic back.
    let ignored_service = ignored(service);
    for key in [
        "task_definition",
        "deployment_configuration",
        "load_balancer",
    ] {
        assert!(
            ignored_service.iter().any(|i| i == key),
            "aws_ecs_service ignores {key}: {ignored_service:?}"
        );
    }
    let rules = resources(&files, "aws_lb_listener_rule");
    let names: BTreeSet<&str> = rules.iter().map(|r| label(r, 1)).collect();
    assert_eq!(names, BTreeSet::from(["production", "test"]));
    for rule in &rules {
        assert!(
            ignored(rule.body()).iter().any(|i| i == "action"),
            "ECS moves the {} rule's targets",
            label(rule, 1)
        );
    }
    let attachment = resources(&files, "aws_iam_role_policy_attachment")
        .into_iter()
        .find(|r| label(r, 1) == "ecs_infrastructure")
        .expect("the ECS infrastructure role's policy");
    assert!(
        format!("{}", attr(attachment.body(), "policy_arn").unwrap())
            .contains("AmazonECSInfrastructureRolePolicyForLoadBalancers")
    );
    let threshold = |name: &str| {
        let alarm = resources(&files, "aws_cloudwatch_metric_alarm")
            .into_iter()
            .find(|r| label(r, 1) == name)
            .unwrap_or_else(|| panic!("alarm {name}"));
        text(attr(alarm.body(), "threshold").unwrap())
    };
    assert_eq!(threshold("rollback_5xx"), "5", "the spec: 5xx above 5%");
    assert_eq!(
        threshold("rollback_latency"),
        "10",
        "the spec: p95 above 10 s"
    );
    let listener = resources(&files, "aws_lb_listener")
        .into_iter()
        .find(|r| label(r, 1) == "test")
        .expect("a test listener");
    assert_eq!(text(attr(listener.body(), "protocol").unwrap()), "HTTPS");
}

#[test]
fn every_root_and_module_needs_the_provider_with_ecs_native_deployments() {
    let mut dirs: Vec<PathBuf> = MODULES
        .iter()
        .map(|m| root().join("modules").join(m))
        .collect();
    dirs.extend(
        ENVIRONMENTS
            .iter()
            .map(|e| root().join("environments").join(e)),
    );
    dirs.push(root().join("bootstrap"));
    for dir in dirs {
        let files = parse_dir(&dir);
        let terraform = blocks(&files, "terraform").next().expect("terraform block");
        let providers = block(terraform.body(), "required_providers").expect("required_providers");
        let aws = object(attr(providers.body(), "aws").unwrap());
        let version = text(&aws["version"]);
        assert!(
            version.starts_with(">= 6.21"),
            "{}: aws provider {version}; 6.21 is the first with ECS blue/green, canary and linear",
            dir.display()
        );
    }
}

#[test]
fn each_environment_s_default_strategy_and_deploy_file_match_the_ecs_module() {
    for env in ENVIRONMENTS {
        let files = parse_dir(&root().join("environments").join(env));
        let ecs = blocks(&files, "module")
            .find(|b| label(b, 0) == "ecs")
            .unwrap()
            .body()
            .clone();
        let want = if env == "production" {
            "BLUE_GREEN"
        } else {
            "ROLLING"
        };
        assert_eq!(
            text(attr(&ecs, "deployment_strategy").unwrap()),
            want,
            "{env}: the spec's default strategy"
        );
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy")
            .join(format!("{env}.toml"));
        let config: toml::Value =
            toml::from_str(&std::fs::read_to_string(&deploy).unwrap()).unwrap();
        if config["platform"].as_str() != Some("ecs") {
            continue;
        }
        let e = &config["ecs"];
        let name = format!("tm-{env}");
        assert_eq!(e["cluster"].as_str(), Some(name.as_str()), "{env}: cluster");
        assert_eq!(e["service"].as_str(), Some(name.as_str()), "{env}: service");
        assert_eq!(
            e["state_bucket"].as_str(),
            Some(format!("{name}-deploy-state").as_str()),
            "{env}: the module's deploy state bucket"
        );
        let alarms: BTreeSet<String> = e["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        let expected: BTreeSet<String> = ["5xx", "latency"]
            .iter()
            .flat_map(|k| ["blue", "green"].map(|c| format!("{name}-{k}-{c}")))
            .collect();
        assert_eq!(alarms, expected, "{env}: the module's rollback alarms");
    }
}
