#!/usr/bin/env bash
# Search benchmark on 10,000 artists and 100,000 portfolio items (PostgreSQL): wrk against the
# search page and the search API, and pgbench running the very SQL one search executes
# (printed by `--example search_sql`, prepared as sqlx prepares it), in the same run so the ratios hold on a noisy machine.
# Traffic stays on 127.0.0.1 and every tool stops by itself.
#   usage: bench/search.sh [DURATION_SECONDS=10] [CONNECTIONS=10] [ARTISTS=10000]
# PostgreSQL comes from TM_BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
connections="${2:-10}"
artists="${3:-10000}"
pg="${TM_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
db=tm_bench_search
for tool in wrk pgbench psql; do
  command -v "$tool" >/dev/null || { echo "$tool is required"; exit 1; }
done

cargo build --release -q -p marketplace --bins --example search_sql
bin=target/release/marketplace
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
export TM_CONFIG_DIR="$work/none" TM_ENV=development TM_LOG_FORMAT=json TM_LOG_LEVEL=info \
  TM_MEDIA_DIR="$work/media" TM_SERVER_PRE_STOP_DELAY_MS=0 TM_DATABASE_URL="$pg/$db" \
  TM_DATABASE_MAX_CONNECTIONS="$connections" TM_JOBS_ENABLED=false
t0=$(date +%s)
"$bin" seed-demo --artists "$artists" >/dev/null
psql "$pg/$db" -qc "VACUUM ANALYZE"
echo "seeded $(psql "$pg/$db" -tAc 'SELECT COUNT(*) FROM artists') artists and" \
  "$(psql "$pg/$db" -tAc 'SELECT COUNT(*) FROM portfolio_items') portfolio items in $(( $(date +%s) - t0 )) s"

port=$(free_port)
TM_SERVER_PORT=$port "$bin" serve >"$work/marketplace.log" 2>&1 &
pids+=($!)
until curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null; do sleep 0.05; done

wrk_run() { # url -> "rps p95 errors"
  local out
  out=$(wrk -t1 -c"$connections" -d"${duration}s" -s bench/p95.lua "$1")
  echo "$(awk '/^RPS/{print $2}' <<<"$out") $(awk '/^P95_MS/{print $2}' <<<"$out") $(awk '/^ERRORS/{print $2}' <<<"$out")"
}
pgbench_run() { # query string -> "tps p95"
  target/release/examples/search_sql "$1" >"$work/search.sql"
  (cd "$work" && rm -f pgbench_log.* && pgbench -n -M prepared -f search.sql -c "$connections" -j 2 \
    -T "$duration" -l "$pg/$db" >pgbench.out 2>&1)
  local tps p95
  tps=$(awk '/^tps/{print $3}' "$work/pgbench.out")
  if [ -z "$tps" ] || grep -q 'aborted' "$work/pgbench.out"; then
    echo "pgbench failed:" >&2; cat "$work/pgbench.out" >&2; exit 1
  fi
  # Column 3 of pgbench's per-transaction log is the latency in microseconds.
  p95=$(cat "$work"/pgbench_log.* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int(NR*0.95)]/1000}')
  echo "$tps $p95"
}

printf '\n%-44s %10s %9s %7s %10s\n' "search (wrk -c$connections, pgbench -c$connections, ${duration}s)" "req/s" "p95 ms" errors "vs pgbench"
for query in "style=fine-line&city=Berlin&open=on&sort=rating" "q=berlin&sort=price" ""; do
  read -r db_tps db_p95 < <(pgbench_run "$query")
  read -r page_rps page_p95 page_err < <(wrk_run "http://127.0.0.1:$port/search?$query")
  read -r api_rps api_p95 api_err < <(wrk_run "http://127.0.0.1:$port/api/v1/artists?$query")
  label="${query:-(no filters)}"
  printf '%-44s %10s %9s %7s %10s\n' "pgbench, same SQL: $label" "$db_tps" "$db_p95" - 1.00
  printf '%-44s %10s %9s %7s %10.2f\n' "GET /search?$label" "$page_rps" "$page_p95" "$page_err" "$(awk -v a="$page_rps" -v b="$db_tps" 'BEGIN{print a/b}')"
  printf '%-44s %10s %9s %7s %10.2f\n' "GET /api/v1/artists?$label" "$api_rps" "$api_p95" "$api_err" "$(awk -v a="$api_rps" -v b="$db_tps" 'BEGIN{print a/b}')"
done
psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
