//! `marketctl backup` on a self-hosted PostgreSQL: pgBackRest backups taken while it serves, listed, verified by a restore into a scratch cluster, and faults in the repository caught.

mod support;
use support::binary;

use marketctl::dr::postgres::Cluster;
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A cluster of its own on another port (the shared one on 5432 is left alone), archiving
/// through pgBackRest, with the marketplace's schema, and a deploy directory naming it.
async fn server(dir: &Path) -> Cluster {
    let mut cluster = Cluster::new(dir, free_port()).expect("pg_config and pgbackrest on PATH");
    cluster.create(Duration::from_secs(30)).await.unwrap();
    let out = std::process::Command::new(binary("marketplace"))
        .arg("migrate")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TM_CONFIG_DIR", dir.join("no-config"))
        .env("TM_DATABASE_URL", cluster.url())
        .env("TM_MEDIA_DIR", dir.join("media"))
        .env("TM_LOG_LEVEL", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "migrate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::create_dir_all(dir.join("deploy")).unwrap();
    let d = dir.display();
    std::fs::write(
        dir.join("deploy/pg.toml"),
        format!(
            "platform = \"local\"\ninstances = 1\n\n[local]\nadmin_url = \"http://127.0.0.1:9\"\npublic_url = \"http://127.0.0.1:9\"\nstate_dir = \"{d}/state\"\nbase_port = 19950\nport_span = 10\n\n[env]\nTM_DATABASE_URL = \"{}\"\n\n[pgbackrest]\nconfig = \"{}\"\nscratch_dir = \"{}\"\n",
            cluster.url(),
            cluster.conf().display(),
            scratch.display()
        ),
    )
    .unwrap();
    cluster
}

fn marketctl(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_marketctl"))
        .args(args)
        .env("MARKETCTL_DEPLOY_DIR", dir.join("deploy"))
        .env("MARKETCTL_LOG", "warn")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_is_taken_listed_and_verified_by_a_scratch_restore_and_damage_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = server(dir.path()).await;
    let d = dir.path();

    let empty = marketctl(d, &["backup", "pg", "verify"]);
    assert_eq!(empty.status.code(), Some(64), "{}", text(&empty));
    assert!(text(&empty).contains("no backup yet"), "{}", text(&empty));

    let taken = marketctl(d, &["backup", "pg", "create", "--output", "json"]);
    assert!(taken.status.success(), "{}", text(&taken));
    let taken: Value = serde_json::from_slice(&taken.stdout).unwrap();
    assert_eq!(taken["kind"], "full", "{taken}");
    let label = taken["label"].as_str().unwrap().to_owned();

    let verified = marketctl(d, &["backup", "pg", "verify", "--output", "json"]);
    assert!(verified.status.success(), "{}", text(&verified));
    let verified: Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(verified["label"], label.as_str());
    assert_eq!(verified["verification"]["ok"], true, "{verified}");
    assert!(verified["checked"]["schema_version"].as_i64().unwrap() > 0);
    assert!(verified["checked"]["tables"].as_u64().unwrap() > 5);
    assert_eq!(
        std::fs::read_dir(d.join("scratch")).unwrap().count(),
        0,
        "the scratch copy stayed"
    );

    // The result stays with the backup.
    let listed = marketctl(d, &["backup", "pg", "list", "--output", "json"]);
    assert!(listed.status.success(), "{}", text(&listed));
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["verification"]["ok"], true, "{listed}");
    let human = marketctl(d, &["backup", "pg", "list"]);
    assert!(
        String::from_utf8_lossy(&human.stdout).contains(&label),
        "{}",
        text(&human)
    );

    // A restore goes into a new directory, with archiving off so the copy never writes into
    // the live archive; an occupied target and a time to come are refused.
    let into = d.join("restored");
    let restored = marketctl(
        d,
        &[
            "restore",
            "pg",
            "--backup",
            &label,
            "--into",
            into.to_str().unwrap(),
            "--output",
            "json",
        ],
    );
    assert!(restored.status.success(), "{}", text(&restored));
    assert!(into.join("PG_VERSION").is_file());
    let auto = std::fs::read_to_string(into.join("postgresql.auto.conf")).unwrap();
    assert!(auto.contains("archive_mode = 'off'"), "{auto}");
    let again = marketctl(
        d,
        &[
            "restore",
            "pg",
            "--latest",
            "--into",
            into.to_str().unwrap(),
        ],
    );
    assert_eq!(again.status.code(), Some(64), "{}", text(&again));
    assert!(text(&again).contains("is not empty"), "{}", text(&again));
    let future = marketctl(d, &["restore", "pg", "--to", "2999-01-01T00:00:00Z"]);
    assert_eq!(future.status.code(), Some(64), "{}", text(&future));
    let latest = marketctl(d, &["restore", "pg", "--latest", "--output", "json"]);
    assert!(latest.status.success(), "{}", text(&latest));
    let latest: Value = serde_json::from_slice(&latest.stdout).unwrap();
    let latest_dir = Path::new(latest["restored_into"].as_str().unwrap());
    assert!(latest_dir.starts_with(d.join("scratch")), "{latest}");
    assert!(latest_dir.join("PG_VERSION").is_file());
    std::fs::remove_dir_all(latest_dir).unwrap();

    // An unknown label and the one-host schedule are refused.
    let unknown = marketctl(d, &["backup", "pg", "verify", "--backup", "nope"]);
    assert_eq!(unknown.status.code(), Some(64), "{}", text(&unknown));
    let schedule = marketctl(d, &["backup", "pg", "schedule"]);
    assert_eq!(schedule.status.code(), Some(64), "{}", text(&schedule));

    // A damaged file in the repository: verification fails, says so, and cleans up.
    let set = d.join("pg/repo/backup/marketplace").join(&label);
    let victim = walk(&set)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("pg_data/base/"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("a data file in the backup set");
    let mut bytes = std::fs::read(&victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    let damaged = marketctl(d, &["backup", "pg", "verify", "--backup", &label]);
    assert_eq!(damaged.status.code(), Some(1), "{}", text(&damaged));
    assert!(
        text(&damaged).contains("failed verification"),
        "{}",
        text(&damaged)
    );
    assert_eq!(std::fs::read_dir(d.join("scratch")).unwrap().count(), 0);
    let listed = marketctl(d, &["backup", "pg", "list", "--output", "json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["verification"]["ok"], false, "{listed}");
    drop(cluster);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
