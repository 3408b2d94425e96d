#!/usr/bin/env bash
# Deploys under a mixed load on one machine (pages, search, an artist profile, sign-in posts,
# from wrk through the agent). For each strategy: a good release, then releases with the faults
# real releases have — a hang on one route, failing writes, a slow leak of latency, and a 5xx
# storm. One line per deploy:
#   outcome; seconds from the new release first taking traffic to traffic being all off it;
#   requests that failed on the bad release (the agent's 5xx count for its version);
#   requests that failed anywhere else (what the clients saw, less the above).
# Goals: every bad release rolled back; traffic off within 15 s (route timeout + 15 s for a hang);
# zero failures anywhere but the bad release.
#   usage: bench/deploy.sh [CONNECTIONS=16]
#   FAULTS="hang:/search:30 fail:POST" and STRATEGIES="canary" run a part of the table.
set -euo pipefail
cd "$(dirname "$0")/.."
connections="${1:-16}"
command -v wrk >/dev/null || { echo "wrk is required (bash scripts/install-tools.sh)"; exit 1; }
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
write_config() { # FIXTURE_MODE
  cat >"$work/deploy/bench.toml" <<TOML
platform = "local"
instances = 2
[local]
admin_url = "http://127.0.0.1:$admin"
public_url = "http://127.0.0.1:$public"
state_dir = "$work/state"
base_port = 23100
upstream_timeout_seconds = 10
[env]
TM_CONFIG_DIR = "$work/none"
TM_DATABASE_URL = "sqlite://$work/bench.db"
TM_MEDIA_DIR = "$work/media"
TM_DEMO_SEED_WHEN_EMPTY = "true"
TM_SERVER_PRE_STOP_DELAY_MS = "500"
TM_LOG_LEVEL = "warn"
FIXTURE_MODE = "$1"
FIXTURE_VERSION = "9.9.9-bad"
[strategy]
bake_seconds = 15
canary_steps = [10, 50, 100]
canary_step_seconds = 8
scale_down_delay_seconds = 10
[analysis]
interval_seconds = 1
window_seconds = 5
min_requests = 20
consecutive_breaches = 2
max_in_flight_seconds = 5
[smoke]
paths = ["/health/ready", "/", "/sign-in"]
TOML
}
export MARKETCTL_DEPLOY_DIR="$work/deploy"

copy() { cp "$1" "$work/$2"; printf '\nrelease-marker:%s\n' "$2" >>"$work/$2"; chmod +x "$work/$2"; echo "$work/$2"; }
bad_5xx() { # version → the agent's 5xx count for it
  curl -sf "http://127.0.0.1:$admin/metrics" |
    awk -v v="$1" -F'[{}" ]+' '$1=="marketctl_proxy_responses_5xx_total" && $3==v {print $NF}' | tail -1
}
write_config healthy
target/release/marketctl deploy bench blue-green --skip-checks --release "$(copy target/release/marketplace v0)" --output json >/dev/null

printf '%-11s %-14s %-12s %9s %10s %9s %9s\n' strategy release outcome "on→off s" requests "fail bad" "fail else"
n=1
for fault in ${FAULTS:-good hang:/search:30 fail:POST leak:40 errors:0.2}; do
  for strategy in ${STRATEGIES:-rolling blue-green canary}; do
    write_config "${fault/good/healthy}"
    if [ "$fault" = good ]; then bin=$(copy target/release/marketplace "v$n"); else bin=$(copy target/release/release-fixture "bad$n"); fi
    n=$((n + 1))
    wrk -t2 -c"$connections" -d600s --timeout 40s -s bench/deploy-mix.lua "http://127.0.0.1:$public" >"$work/wrk.txt" 2>&1 &
    wrk_pid=$!
    sleep 2
    report=$(target/release/marketctl deploy bench "$strategy" --skip-checks --release "$bin" --output json || true)
    # The load goes on past the upstream timeout, so requests still hanging on a bad release
    # when the deploy ended are counted as what they become (504s), not lost with the client.
    sleep 12
    kill -INT "$wrk_pid" 2>/dev/null || true
    wait "$wrk_pid" 2>/dev/null || true
    version=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("to_version") or "")' "$report")
    on_bad=0
    if [ "$fault" != good ]; then on_bad=$(bad_5xx "$version"); on_bad=${on_bad:-0}; fi
    python3 - "$strategy" "$fault" "$on_bad" "$report" "$work/wrk.txt" <<'PY'
import json, re, sys
strategy, fault, on_bad, report, wrk = sys.argv[1:6]
r = json.loads(report)
text = open(wrk).read()
m = re.search(r"MIX requests=(\d+) failed=(\d+)", text)
requests, failed = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
on_bad = int(float(on_bad))
on, off = r.get("traffic_on_at"), r.get("traffic_off_at")
gap = f"{off - on:.1f}" if on is not None and off is not None else "-"
print(f'{strategy:<11} {fault:<14} {r["outcome"]:<12} {gap:>9} {requests:>10} {on_bad:>9} {max(failed - on_bad, 0):>9}')
PY
    sleep 3
  done
done
