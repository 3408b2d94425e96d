#!/usr/bin/env bash
# Release-mode benchmark: wrk against GET /, GET /health/ready and a bare axum handler serving the
# same bytes, all in one run so the ratios are meaningful on a noisy machine. Also reports cold
# start to ready (SQLite) and RSS after the load. Traffic stays on 127.0.0.1 and stops by itself.
#   usage: bench/run.sh [DURATION_SECONDS=10] [CONNECTIONS=32]
#   TM_BENCH_BIN=path measures another marketplace build (an earlier commit's, for a before/after).
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
connections="${2:-32}"
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)"; exit 1; }

cargo build --release -q -p marketplace -p bench-baseline
bin="${TM_BENCH_BIN:-target/release/marketplace}"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

export TM_CONFIG_DIR="$work/none" TM_ENV=development TM_LOG_FORMAT=json TM_LOG_LEVEL=info \
  TM_MEDIA_DIR="$work/media" TM_SERVER_PRE_STOP_DELAY_MS=0

# Cold start to ready on an empty SQLite database (migrations included, no demo seeding).
port=$(free_port)
t0=$(now_ms)
TM_DATABASE_URL="sqlite://$work/cold.db" TM_SERVER_PORT=$port "$bin" serve >/dev/null 2>&1 &
pids+=($!)
until curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null; do sleep 0.005; done
cold_ms=$(( $(now_ms) - t0 ))
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

# The measured instance: demo data, so GET / renders the real home page.
export TM_DATABASE_URL="sqlite://$work/bench.db"
"$bin" seed-demo >/dev/null
port=$(free_port)
TM_SERVER_PORT=$port "$bin" serve >"$work/marketplace.log" 2>&1 &
mp_pid=$!; pids+=("$mp_pid")
until curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null; do sleep 0.01; done
curl -sf "http://127.0.0.1:$port/" >"$work/home.html"

base_port=$(free_port)
target/release/bench-baseline "127.0.0.1:$base_port" "$work/home.html" &
pids+=($!)
until curl -sf "http://127.0.0.1:$base_port/" >/dev/null; do sleep 0.01; done

declare -A rps p95
run() { # name url key
  local out
  out=$(wrk -t1 -c"$connections" -d"${duration}s" -s bench/p95.lua "$2")
  local r p errors
  r=$(awk '/^RPS/{print $2}' <<<"$out"); p=$(awk '/^P95_MS/{print $2}' <<<"$out")
  errors=$(awk '/^ERRORS/{print $2}' <<<"$out")
  printf '%-22s %12s %10s %8s\n' "$1" "$r" "$p" "$errors"
  rps[$3]=$r
  p95[$3]=$p
}

echo "home page: $(wc -c <"$work/home.html") bytes; wrk -t1 -c$connections -d${duration}s; $(nproc) cores shared by server and load"
printf '%-22s %12s %10s %8s\n' endpoint "req/s" "p95 ms" errors
run "bare axum (same bytes)" "http://127.0.0.1:$base_port/" base
run "GET /" "http://127.0.0.1:$port/" home
run "GET /health/ready" "http://127.0.0.1:$port/health/ready" ready
rss_kb=$(ps -o rss= -p "$mp_pid" | tr -d ' ')

echo
awk -v h="${rps[home]}" -v b="${rps[base]}" -v r="${rps[ready]}" -v hp="${p95[home]}" -v bp="${p95[base]}" 'BEGIN {
  printf "GET / throughput vs bare axum:          %.2f\n", h / b
  printf "GET /health/ready throughput vs bare:   %.2f\n", r / b
  printf "GET / p95 vs bare axum p95:             %.2f\n", hp / bp
}'
echo "cold start to ready (empty SQLite, migrations): ${cold_ms} ms"
echo "marketplace RSS after load: $((rss_kb / 1024)) MiB"
