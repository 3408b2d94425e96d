#!/usr/bin/env bash
# The spec's interface: ./scripts/deploy.sh ENV STRATEGY [RUN_CHECKS]
#   ./scripts/deploy.sh staging rolling
#   ./scripts/deploy.sh production blue-green
#   ./scripts/deploy.sh development rolling false     (skips only the test and scan commands)
# Builds the release, runs `marketctl deploy`, and exits with its code:
# 0 deployed, 1 failed before traffic moved, 2 rolled back, 3 timed out, 64 usage error.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: scripts/deploy.sh ENV rolling|blue-green|canary [RUN_CHECKS=true|false]" >&2
  exit 64
fi
env=$1 strategy=$2 run_checks=${3:-true}
case "$run_checks" in true | false) ;; *) echo "RUN_CHECKS must be true or false, not $run_checks" >&2; exit 64 ;; esac
cargo build --release --locked -q -p marketplace -p marketctl
args=(deploy "$env" "$strategy" --release target/release/marketplace)
[ "$run_checks" = false ] && args+=(--skip-checks)
set +e
target/release/marketctl "${args[@]}"
code=$?
set -e
exit "$code"
