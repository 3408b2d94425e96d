#!/usr/bin/env bash
# What a single-host backup costs: `marketctl backup create` (snapshot, gzip, age, store) on the
# demo database and on a large one (10,000 artists and 100,000 booking requests), against a plain
# `cp` of the same file measured in the same run (the floor: what the disk does anyway).
# One line per database: file size, stored size, snapshot seconds, whole-backup seconds, cp
# seconds, the ratio, and the minute tier's storage (6 hours of one-a-minute backups).
#   usage: bench/backup.sh [ARTISTS=10000] [REQUESTS=100000]
set -euo pipefail
cd "$(dirname "$0")/.."
artists="${1:-10000}"
requests="${2:-100000}"
cargo build --release -q -p marketplace -p marketctl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

keys=$(target/release/marketctl backup local keygen)
recipient=$(printf '%s\n' "$keys" | grep '^age1')
export MARKETCTL_BACKUP_IDENTITY
MARKETCTL_BACKUP_IDENTITY=$(printf '%s\n' "$keys" | grep '^AGE-SECRET-KEY-1')

seed() { # NAME [ARTISTS]
  local db="$work/$1.db"
  env -i PATH="$PATH" TM_CONFIG_DIR="$work/none" TM_DATABASE_URL="sqlite://$db" \
    TM_MEDIA_DIR="$work/media-$1" TM_LOG_LEVEL=warn \
    target/release/marketplace seed-demo ${2:+--artists "$2"} >/dev/null
}

measure() { # NAME
  local db="$work/$1.db" deploy="$work/deploy-$1"
  mkdir -p "$deploy"
  cat >"$deploy/local.toml" <<EOF
platform = "local"
instances = 1
[local]
admin_url = "http://127.0.0.1:9"
public_url = "http://127.0.0.1:9"
state_dir = "$work/state"
base_port = 19900
port_span = 10
[env]
TM_DATABASE_URL = "sqlite://$db"
[backup]
store = "file://$work/store-$1"
recipient = "$recipient"
EOF
  sqlite_checkpoint "$db"
  local start end cp_start cp_end manifest
  cp_start=$(date +%s.%N); cp "$db" "$work/copy.db"; sync "$work/copy.db"; cp_end=$(date +%s.%N)
  start=$(date +%s.%N)
  manifest=$(target/release/marketctl backup local create --deploy-dir "$deploy" --output json)
  end=$(date +%s.%N)
  rm -f "$work/copy.db"
  python3 - "$1" "$manifest" "$start" "$end" "$cp_start" "$cp_end" <<'PY'
import json, sys
name, m = sys.argv[1], json.loads(sys.argv[2])
start, end, cs, ce = map(float, sys.argv[3:7])
total, cp = end - start, ce - cs
mb = lambda b: f"{b / 1048576:.1f} MiB"
rows = m["tables"].get("booking_requests", {}).get("rows", 0)
print(f"{name:>6}: database {mb(m['snapshot_bytes'])}, {rows} booking requests; stored {mb(m['archive_bytes'])}; "
      f"snapshot {m['snapshot_seconds']:.2f} s, whole backup {total:.2f} s, cp {cp:.2f} s ({total / max(cp, 1e-3):.1f}x); "
      f"6 h of minutely backups: {mb(m['archive_bytes'] * 360)}")
PY
}

sqlite_checkpoint() { # the seeder's WAL into the file, so sizes compare
  python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()" "$1"
}

seed demo
measure demo

seed large "$artists"
python3 - "$work/large.db" "$requests" <<'PY'
import sqlite3, sys
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
clients = [r[0] for r in c.execute("SELECT id FROM users WHERE role = 'client'")]
artists = [r[0] for r in c.execute("SELECT id FROM artists")]
if not clients:
    raise SystemExit("the seeded database has no client to book with")
rows = ((clients[i % len(clients)], artists[(i * 7919) % len(artists)],
         f"request {i}: a fine-line botanical piece with some shading, about palm size",
         "forearm", "medium") for i in range(n))
c.executemany("""INSERT INTO booking_requests (client_id, artist_id, state, idea, placement, size, created_at, updated_at)
                 VALUES (?, ?, 'submitted', ?, ?, ?, '2026-11-30T12:00:00Z', '2026-11-30T12:00:00Z')""", rows)
c.commit()
c.close()
PY
measure large
