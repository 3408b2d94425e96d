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

const MODULES: [&str; 8] = [
    "vpc",
    "security",
    "database",
    "ecs",
    "cdn",
    "monitoring",
    "compliance",
    "stack",
];
const ENVIRONMENTS: [&str; 3] = ["development", "staging", "production"];

/// Resource types the AWS provider cannot tag; every other resource must carry `tags`.
const UNTAGGABLE: &[&str] = &[
    "aws_cloudwatch_query_definition",
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
    "aws_acm_certificate_validation",
    "aws_cloudwatch_event_target",
    "aws_cloudwatch_log_metric_filter",
    "aws_config_configuration_recorder",
    "aws_config_configuration_recorder_status",
    "aws_config_conformance_pack",
    "aws_config_delivery_channel",
    "aws_ecr_replication_configuration",
    "aws_guardduty_detector_feature",
    "aws_route53_record",
    "aws_s3_bucket_object_lock_configuration",
    "aws_s3_bucket_replication_configuration",
    "aws_secretsmanager_secret_rotation",
    "aws_securityhub_account",
    "aws_securityhub_standards_subscription",
    "random_password",
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

/// The roots and the composition module: every place modules are called from.
fn callers() -> Vec<(String, PathBuf, usize)> {
    let mut out: Vec<_> = ENVIRONMENTS
        .iter()
        .map(|e| (e.to_string(), root().join("environments").join(e), 1))
        .collect();
    out.push((
        "stack".into(),
        root().join("modules/stack"),
        MODULES.len() - 1,
    ));
    out
}

#[test]
fn every_module_call_passes_only_declared_variables_and_all_required_ones() {
    for (caller, dir, expected_calls) in callers() {
        let files = parse_dir(&dir);
        let calls: Vec<_> = blocks(&files, "module").collect();
        assert_eq!(calls.len(), expected_calls, "{caller}: module calls");
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
                    "{caller}: module {name} passes {arg}, which {source} does not declare"
                );
            }
            for (var, required) in &vars {
                if *required {
                    assert!(
                        passed.contains(var.as_str()),
                        "{caller}: module {name} omits required {var}"
                    );
                }
            }
        }
    }
}

#[test]
fn every_module_output_a_caller_references_exists() {
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
    for (caller, dir, calls) in callers() {
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
                    .unwrap_or_else(|| panic!("{caller}: unknown module {module}"));
                assert!(
                    outputs(source).contains(&output),
                    "{caller}: module.{module}.{output} is not an output of {}",
                    source.display()
                );
                checked += 1;
            }
        }
        assert!(
            checked > 8 * calls,
            "{caller}: only {checked} references found"
        );
    }
}

/// An environment's `locals` block.
fn env_locals(env: &str) -> Body {
    let files = parse_dir(&root().join("environments").join(env));
    blocks(&files, "locals")
        .find(|b| has_attr(b.body(), "spec"))
        .expect("the environment's locals (spec and settings)")
        .body()
        .clone()
}

fn settings(env: &str) -> BTreeMap<String, Expression> {
    object(attr(&env_locals(env), "settings").expect("locals.settings"))
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
        let locals = env_locals(env);
        let spec = object(attr(&locals, "spec").expect("locals.spec"));
        for (key, want) in keys.iter().zip(values) {
            assert_eq!(text(&spec[*key]), want, "{env}: spec.{key}");
        }
        assert_eq!(text(attr(&locals, "environment").unwrap()), env);
        let settings = settings(env);
        let production = env == "production";
        let autoscaling = object(&settings["autoscaling"]);
        for (key, value) in [
            ("enabled", &autoscaling["enabled"]),
            ("multi_az", &settings["multi_az"]),
            ("nat_gateway_per_az", &settings["nat_gateway_per_az"]),
            ("disaster_recovery", &settings["disaster_recovery"]),
            ("shield_advanced", &settings["shield_advanced"]),
            (
                "account_security_services",
                &settings["account_security_services"],
            ),
        ] {
            assert_eq!(text(value), production.to_string(), "{env}: {key}");
        }
        assert_eq!(
            text(&settings["availability_zone_count"]),
            if production { "3" } else { "2" },
            "{env}: AZs"
        );
        assert_eq!(
            text(&settings["deletion_protection"]),
            (env != "development").to_string(),
            "{env}: deletion protection"
        );
        if production {
            assert_eq!(text(&autoscaling["min"]), "3");
            assert_eq!(text(&autoscaling["max"]), "12");
            assert_eq!(
                text(&settings["fargate_spot_weight"]),
                "0",
                "no Spot in production"
            );
        } else {
            assert_ne!(
                text(&settings["fargate_spot_weight"]),
                "0",
                "{env}: the spec's Spot for non-critical workloads"
            );
        }
    }
    // The stack keeps the spec's 30 days of backups for every environment.
    let stack = parse_dir(&root().join("modules/stack"));
    let db = blocks(&stack, "module")
        .find(|b| label(b, 0) == "database")
        .unwrap();
    assert_eq!(
        text(attr(db.body(), "backup_retention_days").unwrap()),
        "30"
    );
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
        let locals = blocks(&files, "locals")
            .find(|b| has_attr(b.body(), "tags"))
            .expect("locals.tags");
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
    }
    let stack = parse_dir(&root().join("modules/stack"));
    for call in blocks(&stack, "module") {
        let tags = object(
            attr(call.body(), "tags")
                .unwrap_or_else(|| panic!("stack: module {} passes no tags", label(call, 0))),
        );
        assert!(
            tags.contains_key("Feature"),
            "stack: module {} has no Feature tag",
            label(call, 0)
        );
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
        let want = if env == "production" {
            "BLUE_GREEN"
        } else {
            "ROLLING"
        };
        assert_eq!(
            text(&settings(env)["deployment_strategy"]),
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

// ---------------------------------------------------------------- faults a first apply or the
// first user would meet (each test fails on the configuration that had the fault)

fn module_files(module: &str) -> Vec<(PathBuf, Body)> {
    parse_dir(&root().join("modules").join(module))
}

fn resource<'a>(files: &'a [(PathBuf, Body)], kind: &str, name: &str) -> &'a Block {
    blocks(files, "resource")
        .find(|b| label(b, 0) == kind && label(b, 1) == name)
        .unwrap_or_else(|| panic!("{kind}.{name} is missing"))
}

fn data<'a>(files: &'a [(PathBuf, Body)], kind: &str, name: &str) -> &'a Block {
    blocks(files, "data")
        .find(|b| label(b, 0) == kind && label(b, 1) == name)
        .unwrap_or_else(|| panic!("data.{kind}.{name} is missing"))
}

/// An expression as Terraform would print it, on one line, for checks of references.
fn hcl(expr: &Expression) -> String {
    one_line(&format!("{expr}"))
}

/// A block's body as HCL text on one line, for checks of what it contains.
fn hcl_body(body: &Body) -> String {
    one_line(&hcl::format::to_string(body).expect("HCL formats"))
}

fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .replace("[ ", "[")
        .replace(" ]", "]")
        .replace("{ ", "{")
        .replace(" }", "}")
}

fn module_call<'a>(files: &'a [(PathBuf, Body)], name: &str) -> &'a Body {
    blocks(files, "module")
        .find(|b| label(b, 0) == name)
        .unwrap_or_else(|| panic!("module {name} is not called"))
        .body()
}

fn variable_default(module: &str, name: &str) -> Expression {
    let files = module_files(module);
    let v = blocks(&files, "variable")
        .find(|b| label(b, 0) == name)
        .unwrap_or_else(|| panic!("{module}: variable {name}"));
    attr(v.body(), "default")
        .unwrap_or_else(|| panic!("{module}: {name} has no default"))
        .clone()
}

#[test]
fn cloudfront_reaches_the_alb_by_a_name_its_certificate_holds() {
    let cdn = module_files("cdn");
    let distribution = resource(&cdn, "aws_cloudfront_distribution", "this");
    let origin = distribution
        .body()
        .blocks()
        .filter(|b| b.identifier() == "origin")
        .find(|o| {
            text(attr(o.body(), "origin_id").unwrap()) == "local.alb_origin"
                || hcl(attr(o.body(), "origin_id").unwrap()).contains("alb_origin")
        })
        .expect("the ALB origin");
    let domain = hcl(attr(origin.body(), "domain_name").unwrap());
    assert_eq!(
        domain, "var.origin_domain_name",
        "the origin is a name on the ALB's certificate, never the *.elb.amazonaws.com name"
    );
    // The stack feeds it the certificate's own name.
    let stack = parse_dir(&root().join("modules/stack"));
    assert_eq!(
        hcl(attr(module_call(&stack, "cdn"), "origin_domain_name").unwrap()),
        "module.ecs.origin_domain_name"
    );
    let ecs = module_files("ecs");
    let out = blocks(&ecs, "output")
        .find(|b| label(b, 0) == "origin_domain_name")
        .unwrap();
    assert_eq!(
        hcl(attr(out.body(), "value").unwrap()),
        "aws_acm_certificate.origin.domain_name"
    );
    let cert = resource(&ecs, "aws_acm_certificate", "origin");
    assert_eq!(
        hcl(attr(cert.body(), "domain_name").unwrap()),
        "var.origin_domain_name"
    );
    // The Host header is forwarded (AllViewer), so CloudFront checks the certificate against the
    // public names too: they must be on it.
    let policy = data(&cdn, "aws_cloudfront_origin_request_policy", "all_viewer");
    let forwards_host = text(attr(policy.body(), "name").unwrap()) == "Managed-AllViewer";
    if forwards_host {
        assert_eq!(
            hcl(attr(cert.body(), "subject_alternative_names").unwrap()),
            "var.public_domain_names"
        );
    }
    // Both listeners serve that certificate, once validated, and the DNS name points at the ALB.
    for listener in ["https", "test"] {
        assert_eq!(
            hcl(attr(
                resource(&ecs, "aws_lb_listener", listener).body(),
                "certificate_arn"
            )
            .unwrap()),
            "aws_acm_certificate_validation.origin.certificate_arn",
            "{listener} listener"
        );
    }
    let record = resource(&ecs, "aws_route53_record", "origin");
    assert_eq!(
        hcl(attr(record.body(), "name").unwrap()),
        "var.origin_domain_name"
    );
    let alias = block(record.body(), "alias").expect("alias to the ALB");
    assert_eq!(
        hcl(attr(alias.body(), "name").unwrap()),
        "aws_lb.this.dns_name"
    );
}

#[test]
fn only_cloudfront_with_its_secret_header_reaches_the_app() {
    let security = module_files("security");
    for rule in resources(&security, "aws_vpc_security_group_ingress_rule") {
        let body = rule.body();
        let port = attr(body, "from_port").map(text).unwrap_or_default();
        if port == "443" && label(rule, 1).starts_with("alb") {
            assert!(
                attr(body, "cidr_ipv4").is_none() && attr(body, "cidr_ipv6").is_none(),
                "{}: the ALB's HTTPS port is open to CIDRs, so the WAF and CDN can be skipped",
                label(rule, 1)
            );
            assert_eq!(
                hcl(attr(body, "prefix_list_id").unwrap()),
                "data.aws_ec2_managed_prefix_list.cloudfront.id"
            );
        }
    }
    let prefix = data(&security, "aws_ec2_managed_prefix_list", "cloudfront");
    assert_eq!(
        text(attr(prefix.body(), "name").unwrap()),
        "com.amazonaws.global.cloudfront.origin-facing"
    );
    // The production rule forwards only requests carrying the header CloudFront adds.
    let ecs = module_files("ecs");
    let rule = resource(&ecs, "aws_lb_listener_rule", "production");
    let header = rule
        .body()
        .blocks()
        .filter(|b| b.identifier() == "condition")
        .find_map(|c| block(c.body(), "http_header"))
        .expect("the production rule checks the origin header");
    assert_eq!(
        hcl(attr(header.body(), "values").unwrap()),
        "[local.origin_verify_header.value]"
    );
    let listener = resource(&ecs, "aws_lb_listener", "https");
    let default = block(listener.body(), "default_action").unwrap();
    assert_eq!(
        text(attr(default.body(), "type").unwrap()),
        "fixed-response"
    );
    let cdn = module_files("cdn");
    let distribution = resource(&cdn, "aws_cloudfront_distribution", "this");
    let sends = distribution
        .body()
        .blocks()
        .filter(|b| b.identifier() == "origin")
        .find_map(|o| block(o.body(), "custom_header"))
        .expect("CloudFront sends the origin header");
    assert_eq!(
        hcl(attr(sends.body(), "value").unwrap()),
        "var.origin_verify_header.value"
    );
    let stack = parse_dir(&root().join("modules/stack"));
    assert_eq!(
        hcl(attr(module_call(&stack, "cdn"), "origin_verify_header").unwrap()),
        "module.ecs.origin_verify_header"
    );
}

#[test]
fn postgres_is_pinned_to_a_major_version_only() {
    let version = text(&variable_default("database", "engine_version"));
    assert!(
        !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()),
        "engine_version {version:?}: a pinned minor stops being creatable when RDS retires it"
    );
    let db = module_files("database");
    let instance = resource(&db, "aws_db_instance", "this");
    assert_eq!(
        text(attr(instance.body(), "auto_minor_version_upgrade").unwrap()),
        "true"
    );
}

#[test]
fn no_arm64_task_runs_on_fargate_spot_and_images_exist_for_both_architectures() {
    for env in ENVIRONMENTS {
        let settings = settings(env);
        let spot = text(&settings["fargate_spot_weight"]) != "0";
        let arch = text(&settings["cpu_architecture"]);
        assert!(
            !spot || arch == "X86_64",
            "{env}: {arch} tasks on Fargate Spot would never be placed"
        );
    }
    let ecs = module_files("ecs");
    let task = resource(&ecs, "aws_ecs_task_definition", "this");
    let platform = block(task.body(), "runtime_platform").unwrap();
    assert_eq!(
        hcl(attr(platform.body(), "cpu_architecture").unwrap()),
        "var.cpu_architecture"
    );
    // The module refuses the combination too, whoever calls it.
    let vars = std::fs::read_to_string(root().join("modules/ecs/variables.tf")).unwrap();
    assert!(vars.contains("var.fargate_spot_weight == 0 || var.cpu_architecture == \"X86_64\""));
    for workflow in ["ci.yml", "deploy.yml"] {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../.github/workflows")
                .join(workflow),
        )
        .unwrap();
        assert!(
            text.contains("platforms: linux/amd64,linux/arm64"),
            "{workflow} builds images for both architectures"
        );
    }
}

/// The rules of one web ACL by name.
fn waf_rules(acl: &Block) -> BTreeMap<String, Body> {
    acl.body()
        .blocks()
        .filter(|b| b.identifier() == "rule")
        .map(|r| (text(attr(r.body(), "name").unwrap()), r.body().clone()))
        .collect()
}

#[test]
fn uploads_pass_the_waf_up_to_the_apps_limit_and_the_8kb_rule_holds_elsewhere() {
    let security = module_files("security");
    for acl_name in ["regional", "global"] {
        let acl = resource(&security, "aws_wafv2_web_acl", acl_name);
        let rules = waf_rules(acl);
        let common = &rules["AWSManagedRulesCommonRuleSet"];
        let text_of = hcl_body;
        let group = text_of(common);
        assert!(
            group.contains("SizeRestrictions_BODY") && group.contains("count"),
            "{acl_name}: SizeRestrictions_BODY is counted, not blocked, inside the group"
        );
        let outside = text_of(&rules["body-over-8kb-outside-uploads"]);
        assert!(
            outside.contains("local.body_size_label")
                && outside.contains("not_statement")
                && outside.contains("var.upload_path_regex"),
            "{acl_name}: bodies over 8 KB are still blocked outside the upload routes"
        );
        let priority = |r: &Body| text(attr(r, "priority").unwrap()).parse::<u32>().unwrap();
        assert!(
            priority(&rules["body-over-8kb-outside-uploads"]) > priority(common),
            "{acl_name}: the label exists only after the common rule set ran"
        );
        let size = text_of(&rules["upload-too-large"]);
        assert!(
            size.contains("content-length") && size.contains("local.content_length_over_limit"),
            "{acl_name}: uploads over the app's limit are refused"
        );
    }
    // The exempt routes are exactly the app's upload routes.
    let regex = regex::Regex::new(&text(&variable_default("stack", "upload_path_regex"))).unwrap();
    for path in [
        "/artists/mara-ink/book",
        "/dashboard/portfolio",
        "/dashboard/flash",
        "/bookings/42/healed-photo",
        "/api/v1/booking-requests",
    ] {
        assert!(regex.is_match(path), "{path} is an upload route");
    }
    for path in [
        "/sign-in",
        "/dashboard/profile",
        "/bookings/42/messages",
        "/api/v1/booking-requests/42/messages",
        "/dashboard/portfolio/../../sign-in",
        "/artists/a/b/book",
    ] {
        assert!(!regex.is_match(path), "{path} keeps the 8 KB limit");
    }
    // The limit is the app's largest body limit (four 10 MiB reference photos and the form).
    let routes = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../marketplace/src/routes/openapi.rs"),
    )
    .unwrap();
    assert!(routes.contains("4 * max_upload_bytes + 64 * 1024"));
    assert_eq!(
        text(&variable_default("stack", "max_upload_bytes")),
        (4 * 10_485_760 + 64 * 1024).to_string()
    );
}

#[test]
fn the_app_can_send_mail_through_ses() {
    let security = module_files("security");
    let egress = resources(&security, "aws_vpc_security_group_egress_rule");
    let smtp = egress
        .iter()
        .find(|r| {
            hcl(attr(r.body(), "security_group_id").unwrap()) == "aws_security_group.app.id"
                && attr(r.body(), "from_port").map(text).as_deref() == Some("587")
        })
        .expect("the app's egress includes SMTP submission (587)");
    assert_eq!(
        hcl(attr(smtp.body(), "referenced_security_group_id").unwrap()),
        "aws_security_group.endpoints.id"
    );
    let ingress = resources(&security, "aws_vpc_security_group_ingress_rule");
    assert!(ingress.iter().any(|r| {
        hcl(attr(r.body(), "security_group_id").unwrap()) == "aws_security_group.endpoints.id"
            && attr(r.body(), "from_port").map(text).as_deref() == Some("587")
    }));
    let vpc = module_files("vpc");
    let endpoint = resource(&vpc, "aws_vpc_endpoint", "ses_smtp");
    assert!(hcl(attr(endpoint.body(), "service_name").unwrap()).ends_with(".email-smtp\""));
    assert_eq!(
        text(attr(endpoint.body(), "private_dns_enabled").unwrap()),
        "true"
    );
}

#[test]
fn no_escaped_interpolation_outside_templates() {
    let mut stack = vec![root()];
    let mut checked = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if !path.ends_with(".terraform") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "tf") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in text.lines().enumerate() {
                    assert!(
                        !line.contains("$${"),
                        "{}:{}: \"$${{\" renders literally, outside a template it is a bug: {line}",
                        path.display(),
                        n + 1
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 30, "only {checked} files read");
}

#[test]
fn apply_order_and_account_prerequisites_are_explicit() {
    let ecs = module_files("ecs");
    let service = resource(&ecs, "aws_ecs_service", "this");
    let depends = hcl(attr(service.body(), "depends_on").unwrap());
    assert!(
        depends.contains("aws_ecs_cluster_capacity_providers.this"),
        "the service's capacity-provider strategy needs the cluster's providers first"
    );
    let security = module_files("security");
    let shield = resource(&security, "aws_shield_protection", "this");
    let lifecycle = block(shield.body(), "lifecycle").expect("a precondition");
    let pre = block(lifecycle.body(), "precondition").expect("a precondition");
    assert_eq!(
        hcl(attr(pre.body(), "condition").unwrap()),
        "var.shield_advanced_subscribed"
    );
    // Every bucket that receives S3 server access logs grants the logging service.
    let mut targets = 0;
    let mut dirs: Vec<PathBuf> = MODULES
        .iter()
        .map(|m| root().join("modules").join(m))
        .collect();
    dirs.push(root().join("bootstrap"));
    for dir in dirs {
        let module = dir.file_name().unwrap().to_string_lossy().into_owned();
        let files = parse_dir(&dir);
        for logging in resources(&files, "aws_s3_bucket_logging") {
            let target = hcl(attr(logging.body(), "target_bucket").unwrap());
            let bucket = target
                .trim_start_matches("aws_s3_bucket.")
                .trim_end_matches(".id");
            let policy = data(&files, "aws_iam_policy_document", bucket);
            assert!(
                hcl_body(policy.body()).contains("logging.s3.amazonaws.com"),
                "{module}: {bucket} receives access logs without a delivery policy"
            );
            targets += 1;
        }
    }
    assert!(targets >= 2, "only {targets} access-log targets found");
}

#[test]
fn tasks_stop_well_within_ecs_s_stop_timeout() {
    let ecs = module_files("ecs");
    let locals = blocks(&ecs, "locals")
        .find(|b| has_attr(b.body(), "stop"))
        .expect("the stop timing in one place");
    let stop = object(attr(locals.body(), "stop").unwrap());
    let n = |k: &str| text(&stop[k]).parse::<u32>().unwrap();
    assert!(
        n("margin_seconds") >= 5,
        "a margin for exit and log flushing"
    );
    let file = std::fs::read_to_string(root().join("modules/ecs/main.tf")).unwrap();
    for needle in [
        "stopTimeout            = local.stop_timeout_seconds",
        "stop_timeout_seconds = local.stop.pre_stop_seconds + local.stop.drain_seconds + local.stop.margin_seconds",
        "deregistration_delay = local.stop.pre_stop_seconds + local.stop.drain_seconds",
        "TM_SERVER_PRE_STOP_DELAY_MS\", value = tostring(local.stop.pre_stop_seconds * 1000)",
        "TM_SERVER_DRAIN_DEADLINE_MS\", value = tostring(local.stop.drain_seconds * 1000)",
    ] {
        assert!(file.contains(needle), "ecs: {needle}");
    }
    assert!(
        n("pre_stop_seconds") + n("drain_seconds") + n("margin_seconds") <= 120,
        "Fargate's maximum"
    );
}

#[test]
fn database_connections_at_full_scale_stay_under_the_alarm() {
    let threshold: u32 = text(&variable_default("stack", "db_connections_alarm_threshold"))
        .parse()
        .unwrap();
    assert_eq!(threshold, 50, "the spec's warning threshold");
    let stack = std::fs::read_to_string(root().join("modules/stack/main.tf")).unwrap();
    for needle in [
        "db_tasks_at_peak      = 2 * (var.settings.autoscaling.enabled ? var.settings.autoscaling.max : var.spec.container_count)",
        "db_pool_per_task      = min(10, floor((var.db_connections_alarm_threshold - local.db_connection_reserve) / local.db_tasks_at_peak))",
        "db_connection_reserve = 2",
        "db_pool_per_task       = local.db_pool_per_task",
    ] {
        assert!(stack.contains(needle), "stack: {needle}");
    }
    // The same arithmetic over each environment's values.
    for env in ENVIRONMENTS {
        let settings = settings(env);
        let spec = object(attr(&env_locals(env), "spec").unwrap());
        let autoscaling = object(&settings["autoscaling"]);
        let tasks: u32 = if text(&autoscaling["enabled"]) == "true" {
            text(&autoscaling["max"]).parse().unwrap()
        } else {
            text(&spec["container_count"]).parse().unwrap()
        };
        let peak = 2 * tasks;
        let pool = ((threshold - 2) / peak).min(10);
        assert!(pool >= 2, "{env}: a pool of {pool} is too small to serve");
        assert!(
            pool * peak + 2 <= threshold,
            "{env}: {peak} tasks x {pool} connections + 2 exceeds {threshold}"
        );
    }
    let ecs = std::fs::read_to_string(root().join("modules/ecs/main.tf")).unwrap();
    assert!(ecs.contains("TM_DATABASE_MAX_CONNECTIONS\", value = tostring(var.db_pool_per_task)"));
}

#[test]
fn the_storage_alarm_watches_the_percentage_used() {
    let db = module_files("database");
    let alarm = resource(&db, "aws_cloudwatch_metric_alarm", "storage");
    assert_eq!(
        text(attr(alarm.body(), "metric_name").unwrap()),
        "StorageUsedPercent"
    );
    assert_eq!(text(attr(alarm.body(), "threshold").unwrap()), "85");
    let file = std::fs::read_to_string(root().join("modules/database/main.tf")).unwrap();
    assert!(
        !file.contains("allocated_storage_gb * "),
        "no threshold is derived from the initial size"
    );
    let filter = resource(&db, "aws_cloudwatch_log_metric_filter", "storage_used");
    let transform = block(filter.body(), "metric_transformation").unwrap();
    assert_eq!(
        text(attr(transform.body(), "value").unwrap()),
        "$.fileSys[0].usedPercent"
    );
}

// ---------------------------------------------------------------- alerts that reach people

#[test]
fn every_alert_topic_has_a_subscriber_in_staging_and_production() {
    let monitoring =
        std::fs::read_to_string(root().join("modules/monitoring/variables.tf")).unwrap();
    assert!(monitoring.contains(
        "condition     = !var.require_subscriber || length(var.alert_emails) > 0 || var.slack != null"
    ));
    let stack = parse_dir(&root().join("modules/stack"));
    assert_eq!(
        hcl(attr(module_call(&stack, "monitoring"), "require_subscriber").unwrap()),
        "var.environment != \"development\""
    );
    let files = module_files("monitoring");
    // Each topic (both regions) is covered by the e-mail subscriptions and by Slack.
    for (topics, subscription) in [("this", "email"), ("global", "global_email")] {
        let sub = resource(&files, "aws_sns_topic_subscription", subscription);
        let for_each = hcl(attr(sub.body(), "for_each").unwrap());
        assert!(
            for_each.contains("keys(local.severities)") && for_each.contains("var.alert_emails"),
            "{subscription}: every severity's topic gets every address"
        );
        let topic = resource(&files, "aws_sns_topic", topics);
        assert_eq!(
            hcl(attr(topic.body(), "for_each").unwrap()),
            "local.severities"
        );
    }
    let slack = resource(&files, "aws_chatbot_slack_channel_configuration", "this");
    let topics = hcl(attr(slack.body(), "sns_topic_arns").unwrap());
    assert!(topics.contains("aws_sns_topic.this") && topics.contains("aws_sns_topic.global"));
    // Every alarm notifies one of these topics.
    for module in ["monitoring", "database", "ecs"] {
        for alarm in resources(&module_files(module), "aws_cloudwatch_metric_alarm") {
            let name = label(alarm, 1);
            if module == "ecs" {
                continue; // rollback alarms: ECS acts on them during deploys
            }
            let actions = hcl(attr(alarm.body(), "alarm_actions")
                .unwrap_or_else(|| panic!("{module}: alarm {name} notifies no one")));
            assert!(
                actions.contains("aws_sns_topic") || actions.contains("topic_arn"),
                "{module}: alarm {name} → {actions}"
            );
        }
    }
}

#[test]
fn the_specs_missing_alerts_exist_with_local_twins() {
    let names: BTreeSet<String> = ["monitoring", "database"]
        .iter()
        .flat_map(|m| {
            resources(&module_files(m), "aws_cloudwatch_metric_alarm")
                .into_iter()
                .map(|b| label(b, 1).to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    for alarm in [
        "connection_failures",
        "waf_blocks",
        "cloudfront_waf_blocks",
        "traffic_anomaly",
        "cloudfront_5xx",
        "cloudfront_certificate",
        "storage",
    ] {
        assert!(names.contains(alarm), "alarm {alarm} is missing: {names:?}");
    }
    let db = std::fs::read_to_string(root().join("modules/database/main.tf")).unwrap();
    assert!(db.contains("metric      = \"FreeableMemory\""));
    let monitoring = module_files("monitoring");
    let anomaly = resource(
        &monitoring,
        "aws_cloudwatch_metric_alarm",
        "traffic_anomaly",
    );
    assert!(hcl_body(anomaly.body()).contains("ANOMALY_DETECTION_BAND"));
    for global in [
        "cloudfront_5xx",
        "cloudfront_certificate",
        "cloudfront_waf_blocks",
    ] {
        let alarm = resource(&monitoring, "aws_cloudwatch_metric_alarm", global);
        assert_eq!(
            hcl(attr(alarm.body(), "provider").unwrap()),
            "aws.global",
            "{global}: CloudFront's metrics are in us-east-1"
        );
    }
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../monitoring/alerts.yml"),
    )
    .unwrap();
    for twin in [
        "DatabaseConnectionFailures",
        "AbuseBlockSpike",
        "UnusualTraffic",
        "HostMemoryLow",
        "CertificateExpiringSoon",
    ] {
        assert!(
            rules.contains(&format!("alert: {twin}")),
            "monitoring/alerts.yml: {twin}"
        );
    }
}

// ---------------------------------------------------------------- SOC 2 detective controls

#[test]
fn detective_controls_exist_and_production_always_runs_them() {
    let files = module_files("compliance");
    let trail = resource(&files, "aws_cloudtrail", "this");
    for (key, want) in [
        ("is_multi_region_trail", "true"),
        ("enable_log_file_validation", "true"),
        ("include_global_service_events", "true"),
    ] {
        assert_eq!(
            text(attr(trail.body(), key).unwrap()),
            want,
            "cloudtrail {key}"
        );
    }
    assert!(attr(trail.body(), "kms_key_id").is_some());
    let bucket = resource(&files, "aws_s3_bucket", "audit");
    assert_eq!(
        text(attr(bucket.body(), "object_lock_enabled").unwrap()),
        "true"
    );
    let lock = resource(&files, "aws_s3_bucket_object_lock_configuration", "audit");
    assert!(hcl_body(lock.body()).contains("COMPLIANCE"));
    resource(&files, "aws_guardduty_detector", "this");
    resource(&files, "aws_config_configuration_recorder", "this");
    resource(&files, "aws_config_conformance_pack", "soc2");
    resource(&files, "aws_securityhub_account", "this");
    let standard = resource(
        &files,
        "aws_securityhub_standards_subscription",
        "foundational",
    );
    assert!(
        hcl(attr(standard.body(), "standards_arn").unwrap())
            .contains("aws-foundational-security-best-practices")
    );
    let analyzer = resource(&files, "aws_accessanalyzer_analyzer", "this");
    assert_eq!(text(attr(analyzer.body(), "type").unwrap()), "ACCOUNT");
    let target = resource(&files, "aws_cloudwatch_event_target", "findings");
    assert_eq!(
        hcl(attr(target.body(), "arn").unwrap()),
        "var.critical_topic_arn"
    );
    let main = std::fs::read_to_string(root().join("modules/compliance/main.tf")).unwrap();
    for source in ["aws.guardduty", "aws.securityhub", "aws.access-analyzer"] {
        assert!(main.contains(source), "findings from {source} reach people");
    }
    let vars = std::fs::read_to_string(root().join("modules/compliance/variables.tf")).unwrap();
    assert!(
        vars.contains("condition     = var.account_services || var.environment != \"production\"")
    );
    let stack = parse_dir(&root().join("modules/stack"));
    assert_eq!(
        hcl(attr(module_call(&stack, "compliance"), "critical_topic_arn").unwrap()),
        "module.monitoring.critical_topic_arn"
    );
    // The topics let EventBridge publish.
    let monitoring = std::fs::read_to_string(root().join("modules/monitoring/main.tf")).unwrap();
    assert!(monitoring.contains("\"events.amazonaws.com\""));
}

// ---------------------------------------------------------------- disaster recovery

#[test]
fn what_exists_nowhere_else_is_replicated_to_the_dr_region() {
    let cdn = module_files("cdn");
    let replication = resource(&cdn, "aws_s3_bucket_replication_configuration", "media");
    assert_eq!(
        hcl(attr(replication.body(), "bucket").unwrap()),
        "aws_s3_bucket.media.id"
    );
    let replica = resource(&cdn, "aws_s3_bucket", "media_replica");
    assert_eq!(hcl(attr(replica.body(), "provider").unwrap()), "aws.dr");
    let ecs = module_files("ecs");
    let secrets = resource(&ecs, "aws_secretsmanager_secret", "app");
    assert!(
        secrets
            .body()
            .blocks()
            .any(|b| b.identifier() == "dynamic" && label(b, 0) == "replica"),
        "the app's secrets have replicas"
    );
    let bootstrap = parse_dir(&root().join("bootstrap"));
    let ecr = resource(&bootstrap, "aws_ecr_replication_configuration", "dr");
    assert!(hcl_body(ecr.body()).contains("var.dr_region"));
    let state = resource(
        &bootstrap,
        "aws_s3_bucket_replication_configuration",
        "state",
    );
    assert_eq!(
        hcl(attr(state.body(), "bucket").unwrap()),
        "aws_s3_bucket.state.id"
    );
    // Production turns it on.
    assert_eq!(text(&settings("production")["disaster_recovery"]), "true");
    let stack = parse_dir(&root().join("modules/stack"));
    assert_eq!(
        hcl(attr(module_call(&stack, "cdn"), "replicate_media").unwrap()),
        "var.settings.disaster_recovery"
    );
}

#[test]
fn no_region_or_zone_is_hard_coded_where_the_dr_runbook_applies_the_stack() {
    let zone = regex::Regex::new(r#""[a-z]{2}(-gov)?-[a-z]+-\d[a-z]""#).unwrap();
    let mut dirs: Vec<PathBuf> = MODULES
        .iter()
        .map(|m| root().join("modules").join(m))
        .collect();
    dirs.extend(
        ENVIRONMENTS
            .iter()
            .map(|e| root().join("environments").join(e)),
    );
    for dir in dirs {
        for (path, _) in parse_dir(&dir) {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                !zone.is_match(&text),
                "{}: an availability zone by name",
                path.display()
            );
        }
    }
    let vars = std::fs::read_to_string(root().join("environments/shared/variables.tf")).unwrap();
    for variable in ["region", "dr_region", "availability_zones"] {
        assert!(
            vars.contains(&format!("variable \"{variable}\"")),
            "{variable}"
        );
    }
    let runbook = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/runbooks/disaster-recovery.md"),
    )
    .unwrap();
    for name in [
        "tattoo-marketplace-terraform-state-us-east-2",
        "tm-production-media-dr-",
        "availability_zones",
        "tm-production/database_url",
    ] {
        assert!(runbook.contains(name), "the DR runbook names {name}");
    }
}

// ---------------------------------------------------------------- database and network hygiene

#[test]
fn the_database_keeps_its_logs_backups_and_rotates_credentials() {
    let db = module_files("database");
    let groups = resource(&db, "aws_cloudwatch_log_group", "exports");
    assert!(attr(groups.body(), "kms_key_id").is_some());
    assert!(attr(groups.body(), "retention_in_days").is_some());
    let instance = resource(&db, "aws_db_instance", "this");
    let body = instance.body();
    assert_eq!(
        text(attr(body, "delete_automated_backups").unwrap()),
        "false"
    );
    assert_eq!(
        text(attr(body, "iam_database_authentication_enabled").unwrap()),
        "true"
    );
    let snapshot = hcl(attr(body, "final_snapshot_identifier").unwrap());
    assert!(
        snapshot.contains("timestamp()"),
        "unique final snapshot: {snapshot}"
    );
    assert!(
        ignored(body)
            .iter()
            .any(|i| i == "final_snapshot_identifier")
    );
    assert!(hcl(attr(body, "depends_on").unwrap()).contains("aws_cloudwatch_log_group.exports"));
    let rotation = resource(&db, "aws_secretsmanager_secret_rotation", "master");
    assert!(hcl(attr(rotation.body(), "secret_id").unwrap()).contains("master_user_secret"));
    // The app signs in with IAM tokens: no stored database password to rotate by hand.
    let ecs = std::fs::read_to_string(root().join("modules/ecs/main.tf")).unwrap();
    assert!(ecs.contains("{ name = \"TM_DATABASE_IAM_AUTH\", value = \"true\" }"));
    assert!(ecs.contains("actions   = [\"rds-db:connect\"]"));
}

#[test]
fn endpoints_and_service_roles_are_scoped_to_this_account() {
    let vpc = module_files("vpc");
    for endpoint in ["s3", "interface"] {
        let e = resource(&vpc, "aws_vpc_endpoint", endpoint);
        assert!(
            attr(e.body(), "policy").is_some(),
            "endpoint {endpoint} has a policy"
        );
    }
    let s3 = data(&vpc, "aws_iam_policy_document", "s3_endpoint");
    assert!(hcl_body(s3.body()).contains("aws:ResourceAccount"));
    let interface = data(&vpc, "aws_iam_policy_document", "interface_endpoint");
    assert!(hcl_body(interface.body()).contains("aws:PrincipalAccount"));
    // Every service trust policy names this account (or resource), against confused deputies;
    // EC2 instance profiles and AWS Chatbot do not send those keys.
    let exempt = ["ec2.amazonaws.com", "chatbot.amazonaws.com"];
    let mut checked = 0;
    for module in MODULES {
        for doc in blocks(&module_files(module), "data")
            .filter(|b| label(b, 0) == "aws_iam_policy_document")
        {
            for statement in doc
                .body()
                .blocks()
                .filter(|b| b.identifier() == "statement")
            {
                let debug = hcl_body(statement.body());
                if !debug.contains("sts:AssumeRole") {
                    continue;
                }
                if exempt.iter().any(|e| debug.contains(e)) {
                    continue;
                }
                assert!(
                    debug.contains("aws:SourceAccount") || debug.contains("aws:SourceArn"),
                    "{module}: {} trusts a service without aws:SourceAccount/SourceArn",
                    label(doc, 1)
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 7, "only {checked} trust policies");
}

// ---------------------------------------------------------------- Terraform's own evaluation of
// the expressions the checks above only read: `terraform console` needs no provider

/// Evaluates `expr` with Terraform against `config` (variables and locals only), or returns
/// `None` outside CI when no `terraform` binary is installed.
fn terraform_eval(config: &str, expr: &str) -> Option<String> {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!(
        "tm-tf-eval-{}-{}",
        std::process::id(),
        std::thread::current()
            .name()
            .unwrap_or("t")
            .replace("::", "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.tf"), config).unwrap();
    let child = std::process::Command::new("terraform")
        .arg("console")
        .current_dir(&dir)
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if std::env::var("CI").is_err() => {
            eprintln!("skipping: no terraform binary ({e})");
            return None;
        }
        Err(e) => panic!("terraform is needed in CI to evaluate the expressions: {e}"),
    };
    writeln!(child.stdin.take().unwrap(), "{expr}").unwrap();
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "terraform console: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap().trim().to_owned())
}

/// A module's `locals` attributes, by name prefix, as HCL to evaluate elsewhere.
fn locals_text(module: &str, keep: impl Fn(&str) -> bool) -> String {
    let files = module_files(module);
    let mut text = String::from("locals {\n");
    for locals in blocks(&files, "locals") {
        for a in locals.body().attributes().filter(|a| keep(a.key())) {
            text.push_str(&format!("  {} = {}\n", a.key(), a.expr()));
        }
    }
    text.push_str("}\n");
    text
}

#[test]
fn terraform_s_content_length_regex_matches_exactly_the_bodies_over_the_limit() {
    let locals = locals_text("security", |k| {
        k.starts_with("limit_") || k == "content_length_over_limit"
    });
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for limit in [
        42_008_576_u64,
        8193,
        10_485_760,
        99_999_999,
        100_000_000,
        19_999,
    ] {
        let config = format!(
            "variable \"max_upload_bytes\" {{\n  type    = number\n  default = {limit}\n}}\n{locals}"
        );
        let Some(out) = terraform_eval(&config, "local.content_length_over_limit") else {
            return;
        };
        let pattern: String = unquote(&out);
        assert!(
            pattern.len() <= 512,
            "WAF regexes are at most 512 characters"
        );
        let re = regex::Regex::new(&pattern).unwrap();
        let mut samples: Vec<u64> = (0..20_000).map(|_| next() % (limit * 3)).collect();
        samples.extend([0, 1, limit - 1, limit, limit + 1, limit * 10, u64::MAX / 2]);
        for n in samples {
            assert_eq!(
                re.is_match(&n.to_string()),
                n > limit,
                "limit {limit}: Content-Length {n} with {pattern}"
            );
        }
        // Leading zeros do not smuggle a large body past it.
        assert!(re.is_match(&format!("000{}", limit + 1)));
        assert!(!re.is_match("12a"));
    }
}

/// A string as `terraform console` prints it, unquoted and unescaped.
fn unquote(printed: &str) -> String {
    let inner = printed
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not a string: {printed}"));
    inner.replace("\\\\", "\\").replace("\\\"", "\"")
}

#[test]
fn terraform_s_pool_arithmetic_keeps_every_environment_under_the_alarm() {
    let locals = locals_text("stack", |k| k.starts_with("db_"));
    for env in ENVIRONMENTS {
        let env_locals = env_locals(env);
        let config = format!(
            "variable \"settings\" {{\n  default = {}\n}}\nvariable \"spec\" {{\n  default = {}\n}}\nvariable \"db_connections_alarm_threshold\" {{\n  default = 50\n}}\n{locals}",
            attr(&env_locals, "settings").unwrap(),
            attr(&env_locals, "spec").unwrap(),
        );
        let Some(out) = terraform_eval(
            &config,
            "format(\"%d %d %d\", local.db_pool_per_task, local.db_tasks_at_peak, local.db_connection_reserve)",
        ) else {
            return;
        };
        let n: Vec<u32> = unquote(&out)
            .split(' ')
            .map(|x| x.parse().unwrap())
            .collect();
        let (pool, peak, reserve) = (n[0], n[1], n[2]);
        assert!(pool >= 2, "{env}: pool {pool}");
        assert!(
            pool * peak + reserve <= 50,
            "{env}: {peak} tasks x {pool} + {reserve} over the alarm"
        );
        if env == "production" {
            assert_eq!((pool, peak), (2, 24), "docs/environments.md's table");
        } else {
            assert_eq!(pool, 10, "{env}: docs/environments.md's table");
        }
    }
}

#[test]
fn special_category_fields_are_wrapped_by_their_own_multi_region_key_and_the_audit_copy_is_kept_a_year()
 {
    let security = module_files("security");
    let key = resource(&security, "aws_kms_key", "fields");
    let body = key.body();
    assert_eq!(text(attr(body, "multi_region").unwrap()), "true");
    assert_eq!(text(attr(body, "enable_key_rotation").unwrap()), "true");
    // Its replica in the DR Region opens data keys in a database restored there.
    let replica = resource(&security, "aws_kms_replica_key", "fields");
    assert!(
        hcl(attr(replica.body(), "primary_key_arn").unwrap()).contains("aws_kms_key.fields.arn")
    );
    assert!(hcl(attr(replica.body(), "provider").unwrap()).contains("aws.dr"));

    let ecs = std::fs::read_to_string(root().join("modules/ecs/main.tf")).unwrap();
    assert!(ecs.contains("{ name = \"TM_ENCRYPTION_KMS_KEY_ID\", value = var.field_kms_key_arn }"));
    // Re-wrapping is granted only under the encryption context the app uses.
    assert!(ecs.contains("\"kms:ReEncryptFrom\", \"kms:ReEncryptTo\""));
    assert!(ecs.contains("variable = \"kms:EncryptionContext:purpose\""));
    assert!(ecs.contains("values   = [\"tm-field-encryption\"]"));
    let stack = std::fs::read_to_string(root().join("modules/stack/main.tf")).unwrap();
    assert!(stack.contains("field_kms_key_arn      = module.security.field_kms_key_arn"));

    // The audit log's copy lives in the container logs: a year at least, and a saved query.
    let vars = std::fs::read_to_string(root().join("modules/ecs/variables.tf")).unwrap();
    let retention = vars
        .split("variable \"log_retention_days\"")
        .nth(1)
        .unwrap();
    let allowed = retention
        .split("contains([")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap();
    assert!(
        allowed
            .split(',')
            .all(|d| d.trim().parse::<u32>().unwrap() >= 365),
        "{allowed}"
    );
    assert!(ecs.contains("resource \"aws_cloudwatch_query_definition\" \"audit\""));
    assert!(ecs.contains("filter target = \"audit\""));
}
