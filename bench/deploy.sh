#!/usr/bin/env bash
# Deploys under load on one machine: for each strategy, a good release (the marketplace) while wrk
# drives traffic through the agent; then a bad release (the fixture answering 5xx for a fifth of the
# requests) with blue-green and canary. Reports failed requests, deploy duration, and for the bad
# release the time from the switch (first errors) to the completed rollback.
#   usage: bench/deploy.sh [CONNECTIONS=16]
set -euo pipefail
cd "$(dirname "$0")/.."
connections="${1:-16}"
command -v wrk >/dev/null || { echo "wrk is required"; exit 1; }
cargo build --release -q -p marketplace -p marketctl -p release-fixture
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

export MARKETCTL_ADMIN_TOKEN
MARKETCTL_ADMIN_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
public=$(free_port)
admin=$(free_port)
MARKETCTL_LOG=warn target/release/marketctl proxy run --listen "127.0.0.1:$public" --admin "127.0.0.1:$admin" \
  --state-dir "$work/agent" >"$work/agent.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$admin/health" >/dev/null && break; sleep 0.05; done

mkdir -p "$work/deploy"
cat >"$work/deploy/bench.toml" <<TOML
platform = "local"
instances = 2
[local]
admin_url = "http://127.0.0.1:$admin"
public_url = "http://127.0.0.1:$public"
state_dir = "$work/state"
base_port = 23100
[env]
TM_CONFIG_DIR = "$work/none"
TM_DATABASE_URL = "sqlite://$work/bench.db"
TM_MEDIA_DIR = "$work/media"
TM_SERVER_PRE_STOP_DELAY_MS = "500"
TM_LOG_LEVEL = "warn"
FIXTURE_MODE = "errors:0.2"
FIXTURE_VERSION = "9.9.9-bad"
[strategy]
bake_seconds = 10
canary_steps = [5, 25, 50, 100]
canary_step_seconds = 5
[analysis]
interval_seconds = 1
window_seconds = 5
min_requests = 20
consecutive_breaches = 2
[smoke]
paths = ["/health/ready", "/", "/sign-in"]
TOML
export MARKETCTL_DEPLOY_DIR="$work/deploy"

copy() { cp "$1" "$work/$2"; printf '\nrelease-marker:%s\n' "$2" >>"$work/$2"; chmod +x "$work/$2"; echo "$work/$2"; }
deploy() { # strategy release → JSON report
  target/release/marketctl deploy bench "$1" --release "$2" --output json || true
}
target/release/marketctl deploy bench blue-green --release "$(copy target/release/marketplace v0)" --output json >/dev/null

printf '%-12s %-8s %-14s %10s %10s %12s %s\n' strategy release outcome "deploy s" requests failed "switch→rollback s"
n=1
for release in good bad; do
  for strategy in rolling blue-green canary; do
    if [ "$release" = bad ] && [ "$strategy" = rolling ]; then continue; fi
    if [ "$release" = good ]; then bin=$(copy target/release/marketplace "v$n"); else bin=$(copy target/release/release-fixture "bad$n"); fi
    n=$((n + 1))
    wrk -t1 -c"$connections" -d120s "http://127.0.0.1:$public/" >"$work/wrk.txt" 2>&1 &
    wrk_pid=$!
    sleep 2
    report=$(deploy "$strategy" "$bin")
    sleep 1
    kill -INT "$wrk_pid" 2>/dev/null || true
    wait "$wrk_pid" 2>/dev/null || true
    requests=$(awk '/requests in/{print $1}' "$work/wrk.txt")
    non2xx=$(awk '/Non-2xx/{print $5}' "$work/wrk.txt"); non2xx=${non2xx:-0}
    sockerr=$(awk -F'[ ,]+' '/Socket errors/{print $4+$6+$8+$10}' "$work/wrk.txt"); sockerr=${sockerr:-0}
    python3 - "$strategy" "$release" "$requests" "$((non2xx + sockerr))" <<PY "$report"
import json, sys
strategy, release, requests, failed = sys.argv[1:5]
r = json.loads(sys.argv[5])
steps = {s["name"]: s for s in r["steps"]}
switch = steps.get("switch") or steps.get("canary 5%") or steps.get("canary fleet")
rollback = steps.get("rollback")
gap = f'{rollback["at"] - switch["at"]:.1f}' if rollback and switch else "-"
print(f'{strategy:<12} {release:<8} {r["outcome"]:<14} {r["seconds"]:>10.1f} {requests:>10} {failed:>12} {gap}')
PY
    sleep 2
  done
done
