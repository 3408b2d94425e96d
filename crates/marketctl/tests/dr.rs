//! `marketctl dr drill` end to end on both databases: the real marketplace under a write load, the database destroyed, recovered, and the RPO, RTO, lost writes and integrity judged against the limits.

mod support;
use support::binary;

use serde_json::Value;

/// A deploy directory with a `local` environment: the drill reads only its name and database
/// kind, and never touches its database.
fn deploy_dir(database_url: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("local.toml"),
        format!(
            "platform = \"local\"\ninstances = 1\n\n[local]\nadmin_url = \"http://127.0.0.1:9\"\npublic_url = \"http://127.0.0.1:9\"\nstate_dir = \"{}/state\"\nbase_port = 19950\nport_span = 10\n\n[env]\nTM_DATABASE_URL = \"{database_url}\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    dir
}

/// Runs the drill with the production settings (a backup or a WAL segment at least every 30 s)
/// and 40 s of load, and checks what the report says against what CI demands.
fn drill(database_url: &str, extra: &[&str]) -> Value {
    let deploy = deploy_dir(database_url);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_marketctl"))
        .args([
            "dr",
            "drill",
            "local",
            "--output",
            "json",
            "--load-seconds",
            "40",
        ])
        .args(extra)
        .arg("--release")
        .arg(binary("marketplace"))
        .arg("--deploy-dir")
        .arg(deploy.path())
        .env("MARKETCTL_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no report ({e}); {}; stderr: {stderr}", out.status));
    eprintln!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "engine": report["engine"], "rpo_seconds": report["rpo_seconds"],
            "rto_seconds": report["rto_seconds"], "restore_seconds": report["restore_seconds"],
            "writes_acknowledged": report["writes_acknowledged"],
            "writes_lost": report["writes_lost"].as_array().map(Vec::len),
            "restored_from": report["restored_from"],
        }))
        .unwrap()
    );
    assert!(
        out.status.success(),
        "the drill failed: {:?}; stderr: {stderr}",
        report["problems"]
    );
    assert_eq!(report["passed"], true);
    let rpo = report["rpo_seconds"].as_f64().unwrap();
    let rto = report["rto_seconds"].as_f64().unwrap();
    assert!(rpo <= 60.0, "RPO {rpo} s");
    assert!(rto <= 300.0, "RTO {rto} s");
    // A bounded load of real writes, most of which survived.
    let acknowledged = report["writes_acknowledged"].as_u64().unwrap();
    let survived = report["writes_survived"].as_u64().unwrap();
    assert!(acknowledged >= 100, "only {acknowledged} writes");
    assert!(survived > 0 && survived <= acknowledged);
    assert_eq!(
        report["writes_lost"].as_array().unwrap().len() as u64,
        acknowledged - survived
    );
    assert_eq!(report["writes_lost_beyond_rpo"], serde_json::json!([]));
    assert_eq!(report["integrity"], "ok");
    assert!(report["write_after_recovery"].as_i64().is_some());
    report
}

#[test]
fn the_sqlite_drill_recovers_within_a_minute_of_data_and_seconds_of_downtime() {
    let report = drill("sqlite://data/live.db", &[]);
    assert_eq!(report["engine"], "sqlite");
    assert!(
        report["restored_from"]
            .as_str()
            .unwrap()
            .starts_with("backup "),
        "{}",
        report["restored_from"]
    );
}

#[test]
fn the_postgres_drill_with_pgbackrest_recovers_to_the_end_of_the_archived_wal() {
    let report = drill("postgres://127.0.0.1/marketplace", &[]);
    assert_eq!(report["engine"], "postgres");
    assert!(
        report["restored_from"]
            .as_str()
            .unwrap()
            .contains("pgBackRest full backup"),
        "{}",
        report["restored_from"]
    );
    // WAL is archived at least every 30 s: the loss is bounded by that, not by the backup's age.
    assert!(report["rpo_seconds"].as_f64().unwrap() <= 35.0);
}

#[test]
fn a_drill_without_a_release_or_with_an_occupied_workdir_is_refused_before_anything_runs() {
    let deploy = deploy_dir("sqlite://data/live.db");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_marketctl"))
            .args(["dr", "drill", "local"])
            .args(args)
            .arg("--deploy-dir")
            .arg(deploy.path())
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no live release"));

    let occupied = tempfile::tempdir().unwrap();
    std::fs::write(occupied.path().join("keep.txt"), "precious").unwrap();
    let out = run(&[
        "--release",
        binary("marketplace").to_str().unwrap(),
        "--workdir",
        occupied.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not empty"));
    assert_eq!(
        std::fs::read_to_string(occupied.path().join("keep.txt")).unwrap(),
        "precious"
    );
}
