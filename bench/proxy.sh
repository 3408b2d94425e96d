#!/usr/bin/env bash
# Proxy overhead: wrk against the same backend directly, through `marketctl proxy run`, and
# through nginx (Debian's, keep-alive upstream), in one run. Reports throughput against nginx
# and the p99 each proxy adds over the direct connection. Traffic stays on 127.0.0.1.
#   usage: bench/proxy.sh [DURATION_SECONDS=10] [CONNECTIONS=32]
#   MARKETCTL_BIN=path measures another marketctl build (an earlier commit's, for a before/after).
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
connections="${2:-32}"
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)"; exit 1; }
command -v nginx >/dev/null || { echo "nginx is required (apt-get install nginx)"; exit 1; }
cargo build --release -q -p marketctl -p bench-baseline

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done; echo "no answer from $1"; exit 1; }

# The backend: 2 KiB of HTML, like a small page.
head -c 2048 /dev/zero | tr '\0' 'x' >"$work/body.html"
backend=$(free_port)
target/release/bench-baseline "127.0.0.1:$backend" "$work/body.html" &
pids+=($!)
wait_http "http://127.0.0.1:$backend/"

token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
proxy=$(free_port)
admin=$(free_port)
MARKETCTL_LOG=warn "${MARKETCTL_BIN:-target/release/marketctl}" proxy run --listen "127.0.0.1:$proxy" --admin "127.0.0.1:$admin" \
  --token "$token" --state-dir "$work/agent" >/dev/null 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$admin/health"
curl -sf -X PUT -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d "{\"versions\":[{\"version\":\"bench\",\"weight\":100,\"backends\":[{\"id\":\"b\",\"addr\":\"127.0.0.1:$backend\"}]}]}" \
  "http://127.0.0.1:$admin/v1/routes" >/dev/null

nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream backend { server 127.0.0.1:$backend; keepalive 256; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" -g 'daemon off;' &
pids+=($!)
wait_http "http://127.0.0.1:$nginx_port/"

declare -A rps p99
run() { # name url key
  local out r p e
  out=$(wrk -t1 -c"$connections" -d"${duration}s" -s bench/p99.lua "$2")
  r=$(awk '/^RPS/{print $2}' <<<"$out"); p=$(awk '/^P99_MS/{print $2}' <<<"$out"); e=$(awk '/^ERRORS/{print $2}' <<<"$out")
  printf '%-16s %12s %10s %8s\n' "$1" "$r" "$p" "$e"
  rps[$3]=$r
  p99[$3]=$p
}
echo "2 KiB responses; wrk -t1 -c$connections -d${duration}s; $(nproc) cores shared by backend, proxy and load"
printf '%-16s %12s %10s %8s\n' path "req/s" "p99 ms" errors
run direct "http://127.0.0.1:$backend/" direct
run "marketctl proxy" "http://127.0.0.1:$proxy/" marketctl
run nginx "http://127.0.0.1:$nginx_port/" nginx
echo
awk -v m="${rps[marketctl]}" -v n="${rps[nginx]}" -v d="${p99[direct]}" -v mp="${p99[marketctl]}" -v np="${p99[nginx]}" 'BEGIN {
  printf "marketctl throughput vs nginx:   %.2f (goal >= 0.9)\n", m / n
  printf "p99 added by marketctl:          %.2f ms (goal <= 1 ms)\n", mp - d
  printf "p99 added by nginx:              %.2f ms\n", np - d
}'
