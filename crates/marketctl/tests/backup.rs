//! `marketctl backup` and `restore` on a real SQLite database made by the marketplace binary: consistent snapshots under writes, verified restores, and every fault refused without harm.

mod support;
use support::binary;

use age::secrecy::ExposeSecret;
use marketctl::backup::sqlite;
use serde_json::Value;
use sqlx::{Connection, SqliteConnection};
use std::path::{Path, PathBuf};
use std::process::Output;

fn marketplace() -> PathBuf {
    binary("marketplace")
}

/// The service's schema, made once by the marketplace binary (`migrate`) and copied into each
/// test, with an account in it.
fn demo_database() -> &'static Path {
    static DEMO: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DEMO.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let out = std::process::Command::new(marketplace())
            .arg("migrate")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TM_CONFIG_DIR", dir.join("no-config"))
            .env(
                "TM_DATABASE_URL",
                format!("sqlite://{}/demo.db", dir.display()),
            )
            .env("TM_MEDIA_DIR", dir.join("media"))
            // Not the default `data/…` under the test's working directory, the source tree.
            .env(
                "TM_ENCRYPTION_LOCAL_KEY_FILE",
                dir.join("field-encryption.key"),
            )
            .env("TM_MAIL_FOLDER", dir.join("mail"))
            .env("TM_LOG_LEVEL", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "migrate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir.join("demo.db")
    })
}

struct Host {
    dir: tempfile::TempDir,
    identity: String,
}

impl Host {
    /// A deploy directory whose `local` environment has the demo database and a backup store.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let id = age::x25519::Identity::generate();
        let d = dir.path().display();
        std::fs::create_dir_all(dir.path().join("deploy")).unwrap();
        std::fs::write(
            dir.path().join("deploy/local.toml"),
            format!(
                "platform = \"local\"\ninstances = 1\n\n[local]\nadmin_url = \"http://127.0.0.1:9\"\npublic_url = \"http://127.0.0.1:9\"\nstate_dir = \"{d}/state\"\nbase_port = 19900\nport_span = 10\n\n[env]\nTM_DATABASE_URL = \"sqlite://{d}/live.db\"\n\n[backup]\nstore = \"file://{d}/backups\"\nrecipient = \"{}\"\n",
                id.to_public()
            ),
        )
        .unwrap();
        // The migrator has exited: its database and write-ahead log are a consistent pair.
        std::fs::copy(demo_database(), dir.path().join("live.db")).unwrap();
        let wal = demo_database().with_extension("db-wal");
        if wal.exists() {
            std::fs::copy(&wal, dir.path().join("live.db-wal")).unwrap();
        }
        Self {
            identity: id.to_string().expose_secret().to_owned(),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn marketctl(&self, args: &[&str]) -> Output {
        self.marketctl_with_key(args, &self.identity)
    }

    fn marketctl_with_key(&self, args: &[&str], identity: &str) -> Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_marketctl"))
            .args(args)
            .args(["--deploy-dir", self.path("deploy").to_str().unwrap()])
            .env("MARKETCTL_BACKUP_IDENTITY", identity)
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.marketctl(&all);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The sealed snapshot of a backup, in the file store.
    fn archive(&self, id: &str) -> PathBuf {
        self.path(&format!("backups/local/{id}.db.gz.age"))
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// Two threads: the writer keeps committing while the marketctl process runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_writes_is_consistent_verified_and_restores_to_its_content() {
    let host = Host::new();
    let live = host.path("live.db");
    // A writer commits a row every few milliseconds while the backup runs.
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", live.display()))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE drill_writes (id INTEGER PRIMARY KEY, at REAL NOT NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                sqlx::query("INSERT INTO drill_writes (at) VALUES (julianday('now'))")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                n += 1;
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            n
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let taken = host.json(&["backup", "local", "create"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.unwrap();
    let id = taken["id"].as_str().unwrap().to_owned();
    let rows_at_backup = taken["tables"]["drill_writes"]["rows"].as_u64().unwrap();
    assert!(
        rows_at_backup > 0 && rows_at_backup < written,
        "{rows_at_backup} of {written}"
    );
    assert!(taken["tables"]["users"].is_object(), "the service's tables");
    assert!(taken["schema_version"].as_i64().unwrap() > 0);
    assert!(taken["verification"].is_null());

    // Encrypted at rest: no table name is readable in the stored object.
    let stored = std::fs::read(host.archive(&id)).unwrap();
    assert!(stored.starts_with(b"age-encryption.org/v1"));
    assert!(!stored.windows(11).any(|w| w == b"drill_write"));

    let verified = host.json(&["backup", "local", "verify"]);
    assert_eq!(verified["id"], id.as_str());
    assert_eq!(verified["verification"]["ok"], true);
    let listed = host.json(&["backup", "local", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["verification"]["ok"], true, "the result is kept");

    let into = host.path("restored.db");
    let restored = host.json(&[
        "restore",
        "local",
        "--latest",
        "--into",
        into.to_str().unwrap(),
    ]);
    assert_eq!(restored["backup"]["id"], id.as_str());
    let content = sqlite::content(&into).await.unwrap();
    assert_eq!(
        content.tables["drill_writes"].rows, rows_at_backup,
        "exactly the rows committed when the snapshot began"
    );
    // Consistent: the restored writes are a gap-free prefix of what was committed.
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", into.display()))
        .await
        .unwrap();
    let (count, max): (i64, i64) = sqlx::query_as("SELECT COUNT(*), MAX(id) FROM drill_writes")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, max, "no write is missing from the middle");
    // The live database was never touched by the restore.
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", live.display()))
        .await
        .unwrap();
    let live_rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM drill_writes")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(live_rows as u64, written, "live data intact");
}

#[tokio::test]
async fn wrong_keys_damaged_or_missing_backups_and_occupied_targets_are_refused_and_change_nothing()
{
    let host = Host::new();
    let first = host.json(&["backup", "local", "create"]);
    let id = first["id"].as_str().unwrap().to_owned();

    // The wrong key: a usage error, and nothing is recorded against the backup.
    let other = age::x25519::Identity::generate();
    let out = host.marketctl_with_key(
        &["backup", "local", "verify"],
        other.to_string().expose_secret(),
    );
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(stderr(&out).contains("wrong key"), "{}", stderr(&out));
    let listed = host.json(&["backup", "local", "list"]);
    assert!(listed[0]["verification"].is_null());

    // An occupied restore target is left exactly as it was.
    let occupied = host.path("occupied.db");
    std::fs::write(&occupied, b"someone's data").unwrap();
    let out = host.marketctl(&[
        "restore",
        "local",
        "--backup",
        &id,
        "--into",
        occupied.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(stderr(&out).contains("exists and is not empty"));
    assert_eq!(std::fs::read(&occupied).unwrap(), b"someone's data");

    // A release that knows an older schema refuses the backup.
    let old = host.path("old-release");
    std::fs::write(
        &old,
        "#!/bin/sh\necho '{\"version\":\"0.0.1\",\"schema_version\":1}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&old, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let target = host.path("new.db");
    let out = host.marketctl(&[
        "restore",
        "local",
        "--latest",
        "--release",
        old.to_str().unwrap(),
        "--into",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("newer than the release's 1"),
        "{}",
        stderr(&out)
    );
    assert!(!target.exists());

    // A deploy in progress holds the lock (this test's own pid is alive).
    std::fs::create_dir_all(host.path("state")).unwrap();
    std::fs::write(
        host.path("state/deploy.lock"),
        std::process::id().to_string(),
    )
    .unwrap();
    let out = host.marketctl(&[
        "restore",
        "local",
        "--latest",
        "--into",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("a deploy holds the lock"),
        "{}",
        stderr(&out)
    );
    assert!(!target.exists());
    std::fs::remove_file(host.path("state/deploy.lock")).unwrap();

    // A flipped byte in the store: refused by its checksum, recorded as a failed verification,
    // and a restore leaves no file behind.
    let archive = host.archive(&id);
    let mut bytes = std::fs::read(&archive).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&archive, &bytes).unwrap();
    let out = host.marketctl(&["backup", "local", "verify", "--backup", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("corrupted"), "{}", stderr(&out));
    let listed = host.json(&["backup", "local", "list"]);
    assert_eq!(listed[0]["verification"]["ok"], false);
    let out = host.marketctl(&[
        "restore",
        "local",
        "--latest",
        "--into",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!target.exists());
    assert!(!host.path("new.db.partial").exists());

    // The object is gone from the store.
    std::fs::remove_file(&archive).unwrap();
    let out = host.marketctl(&[
        "restore",
        "local",
        "--backup",
        &id,
        "--into",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("missing its snapshot"),
        "{}",
        stderr(&out)
    );

    // Names that do not exist, and times before every backup, are usage errors.
    let out = host.marketctl(&["restore", "local", "--backup", "20000101T000000Z-00000000"]);
    assert_eq!(out.status.code(), Some(64));
    let out = host.marketctl(&["restore", "local", "--to", "2001-01-01T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("no backup taken at or before"));
    let out = host.marketctl(&["restore", "local", "--to", "yesterday"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("RFC 3339"));
    let out = host.marketctl(&["restore", "local"]);
    assert_eq!(
        out.status.code(),
        Some(64),
        "one of --latest, --to, --backup"
    );
}

#[tokio::test]
async fn restore_to_a_time_takes_the_newest_backup_at_or_before_it() {
    let host = Host::new();
    let first = host.json(&["backup", "local", "create"]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut conn =
        SqliteConnection::connect(&format!("sqlite://{}", host.path("live.db").display()))
            .await
            .unwrap();
    sqlx::query("CREATE TABLE later (id INTEGER PRIMARY KEY)")
        .execute(&mut conn)
        .await
        .unwrap();
    let second = host.json(&["backup", "local", "create"]);
    assert!(second["tables"]["later"].is_object());
    let between =
        (first["created_at"].as_f64().unwrap() + second["created_at"].as_f64().unwrap()) / 2.0;
    let into = host.path("then.db");
    let restored = host.json(&[
        "restore",
        "local",
        "--to",
        &format!("{between}"),
        "--into",
        into.to_str().unwrap(),
    ]);
    assert_eq!(restored["backup"]["id"], first["id"]);
    let content = sqlite::content(&into).await.unwrap();
    assert!(!content.tables.contains_key("later"));
}

#[tokio::test]
async fn the_schedule_backs_up_changed_data_verifies_it_prunes_the_tiers_and_writes_the_gauges() {
    let host = Host::new();
    let metrics = host.path("backup.prom");
    let round = || {
        let out = host.marketctl(&[
            "backup",
            "local",
            "schedule",
            "--once",
            "--metrics-file",
            metrics.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    round();
    let listed = host.json(&["backup", "local", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(
        listed[0]["verification"]["ok"], true,
        "verified as it is taken"
    );
    let gauges = std::fs::read_to_string(&metrics).unwrap();
    let gauge = |name: &str| -> f64 {
        gauges
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{")))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap()
            .parse()
            .unwrap()
    };
    let taken = listed[0]["created_at"].as_f64().unwrap();
    assert_eq!(
        gauge("marketplace_backup_last_success_timestamp_seconds"),
        taken
    );
    assert_eq!(
        gauge("marketplace_backup_last_verified_timestamp_seconds"),
        taken
    );
    assert_eq!(gauge("marketplace_backups"), 1.0);

    // Nothing changed: no new backup.
    round();
    assert_eq!(
        host.json(&["backup", "local", "list"])
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A write: a new backup.
    let mut conn =
        SqliteConnection::connect(&format!("sqlite://{}", host.path("live.db").display()))
            .await
            .unwrap();
    sqlx::query("CREATE TABLE changed (id INTEGER PRIMARY KEY)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    round();
    assert_eq!(
        host.json(&["backup", "local", "list"])
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Old backups (copies of the first, dated back): of two on the same day ten days ago only
    // the newer stays; one from forty days ago goes.
    let first = listed[0]["id"].as_str().unwrap();
    let store = host.path("backups/local");
    let day = 86_400.0;
    let now = taken;
    for (id, at) in [
        ("old-a", now - 10.0 * day - 100.0),
        ("old-b", now - 10.0 * day - 50.0),
        ("ancient", now - 40.0 * day),
    ] {
        let mut m: Value =
            serde_json::from_slice(&std::fs::read(store.join(format!("{first}.json"))).unwrap())
                .unwrap();
        m["id"] = id.into();
        m["created_at"] = at.into();
        std::fs::write(store.join(format!("{id}.json")), m.to_string()).unwrap();
        std::fs::copy(
            store.join(format!("{first}.db.gz.age")),
            store.join(format!("{id}.db.gz.age")),
        )
        .unwrap();
    }
    round();
    let ids: Vec<String> = host
        .json(&["backup", "local", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.contains(&"old-b".to_owned()), "{ids:?}");
    assert!(!ids.contains(&"old-a".to_owned()), "{ids:?}");
    assert!(!ids.contains(&"ancient".to_owned()), "{ids:?}");
    assert!(
        !store.join("ancient.db.gz.age").exists(),
        "its snapshot went too"
    );
}

// A migration holds its transaction open while the backup runs in another process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_during_a_migration_is_the_schema_before_it_and_a_failed_migration_is_refused() {
    let host = Host::new();
    let live = host.path("live.db");
    let before = host.json(&["backup", "local", "create"]);
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", live.display()))
        .await
        .unwrap();
    // As sqlx runs a migration on SQLite: the change and its record in one transaction.
    let mut migration = conn.begin().await.unwrap();
    sqlx::query("ALTER TABLE users ADD COLUMN drill_nickname TEXT")
        .execute(&mut *migration)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'drill', TRUE, x'00', 0)",
    )
    .execute(&mut *migration)
    .await
    .unwrap();
    let during = host.json(&["backup", "local", "create"]);
    assert!(before["schema_version"].as_i64().is_some());
    assert_eq!(
        during["schema_version"], before["schema_version"],
        "the backup saw half a migration"
    );
    assert_eq!(during["tables"], before["tables"]);
    migration.commit().await.unwrap();
    let verified = host.json(&[
        "backup",
        "local",
        "verify",
        "--backup",
        during["id"].as_str().unwrap(),
    ]);
    assert_eq!(verified["verification"]["ok"], true, "{verified}");
    let restored = host.path("during.db");
    host.json(&[
        "restore",
        "local",
        "--backup",
        during["id"].as_str().unwrap(),
        "--into",
        restored.to_str().unwrap(),
    ]);
    let columns: Vec<String> = {
        let mut r = SqliteConnection::connect(&format!("sqlite://{}", restored.display()))
            .await
            .unwrap();
        sqlx::query_scalar("SELECT name FROM pragma_table_info('users')")
            .fetch_all(&mut r)
            .await
            .unwrap()
    };
    assert!(
        !columns.iter().any(|c| c == "drill_nickname"),
        "{columns:?}"
    );

    // A migration that failed part-way leaves a state the service never served: refused.
    sqlx::query("UPDATE _sqlx_migrations SET success = FALSE WHERE version = 99990101000000")
        .execute(&mut conn)
        .await
        .unwrap();
    let listed_before = host.json(&["backup", "local", "list"]);
    let out = host.marketctl(&["backup", "local", "create"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("failed migration"),
        "{}",
        stderr(&out)
    );
    assert_eq!(host.json(&["backup", "local", "list"]), listed_before);
}
