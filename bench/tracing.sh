#!/usr/bin/env bash
# What tracing costs: wrk against GET / and the search page with the OpenTelemetry layer off,
# on without an exporter, and exporting over OTLP/HTTP (to a local sink that accepts and drops)
# with sampling at 0%, 10% and 100%; each against "off", measured in the same run. Each setting
# runs twice, interleaved, and the better run counts, so one noisy moment does not decide.
# Traffic stays on 127.0.0.1 and stops by itself.
#   usage: bench/tracing.sh [DURATION_SECONDS=8] [CONNECTIONS=16]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-8}"
connections="${2:-16}"
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)"; exit 1; }

cargo build --release -q -p marketplace
bin=target/release/marketplace
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

export TM_CONFIG_DIR="$work/none" TM_ENV=development TM_LOG_FORMAT=json TM_LOG_LEVEL=warn \
  TM_MEDIA_DIR="$work/media" TM_SERVER_PRE_STOP_DELAY_MS=0 TM_JOBS_ENABLED=false \
  TM_DATABASE_URL="sqlite://$work/bench.db"
"$bin" seed-demo >/dev/null

# The collector stand-in: answers every OTLP export with 200 and keeps nothing.
sink=$(free_port)
python3 - "$sink" <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
pids+=($!)

run() { # NAME ENV... -> "NAME home_rps search_rps"
  local name=$1; shift
  local port; port=$(free_port)
  env "$@" TM_SERVER_PORT="$port" "$bin" serve >"$work/$name.log" 2>&1 &
  local pid=$!
  until curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null; do sleep 0.05; done
  local home search
  home=$(wrk -t1 -c"$connections" -d"${duration}s" "http://127.0.0.1:$port/" | awk '/^Requests\/sec/{print $2}')
  search=$(wrk -t1 -c"$connections" -d"${duration}s" "http://127.0.0.1:$port/search?style=fine-line&sort=rating" | awk '/^Requests\/sec/{print $2}')
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$name $home $search"
}

settings=(
  "off TM_TRACING_ENABLED=false"
  "no-export TM_TRACING_ENABLED=true"
  "0% TM_TRACING_OTLP_ENDPOINT=http://127.0.0.1:$sink TM_TRACING_SAMPLE_RATIO=0"
  "10% TM_TRACING_OTLP_ENDPOINT=http://127.0.0.1:$sink TM_TRACING_SAMPLE_RATIO=0.1"
  "100% TM_TRACING_OTLP_ENDPOINT=http://127.0.0.1:$sink TM_TRACING_SAMPLE_RATIO=1"
)
: >"$work/results"
for round in 1 2; do
  for s in "${settings[@]}"; do
    # shellcheck disable=SC2086 # the setting's words are its name and variables
    run $s >>"$work/results"
  done
  echo "round $round done" >&2
done
python3 - "$work/results" "$duration" "$connections" <<'PY'
import sys
best = {}
order = []
for line in open(sys.argv[1]):
    name, home, search = line.split()
    if name not in best:
        order.append(name); best[name] = (0.0, 0.0)
    h, s = best[name]
    best[name] = (max(h, float(home)), max(s, float(search)))
base = best["off"]
print(f"tracing overhead (wrk -c{sys.argv[3]}, {sys.argv[2]}s per run, best of 2)")
print(f"{'setting':<10} {'GET / req/s':>12} {'vs off':>7} {'search req/s':>13} {'vs off':>7}")
for name in order:
    h, s = best[name]
    print(f"{name:<10} {h:>12.0f} {h/base[0]:>7.3f} {s:>13.0f} {s/base[1]:>7.3f}")
PY
