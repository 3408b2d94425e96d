#!/usr/bin/env bash
# The spec's interface: ./scripts/deploy.sh ENV STRATEGY [RUN_CHECKS]
#   ./scripts/deploy.sh staging rolling
#   ./scripts/deploy.sh production blue-green
#   ./scripts/deploy.sh development rolling false     (skips only the test and scan commands)
# On one host (platform = "local") it builds the release binary and deploys it; on ECS
# (platform = "ecs") it deploys the image in IMAGE (an ECR tag or digest, from the build job):
#   IMAGE=123456789012.dkr.ecr.us-west-2.amazonaws.com/tm-staging@sha256:… ./scripts/deploy.sh staging canary
# MARKETCTL names a marketctl binary to use instead of building one.
# Exits with marketctl's code: 0 deployed, 1 failed before traffic moved, 2 rolled back,
# 3 timed out, 64 usage error.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: scripts/deploy.sh ENV rolling|blue-green|canary [RUN_CHECKS=true|false]" >&2
  exit 64
fi
env=$1 strategy=$2 run_checks=${3:-true}
case "$run_checks" in true | false) ;; *) echo "RUN_CHECKS must be true or false, not $run_checks" >&2; exit 64 ;; esac
deploy_dir=${MARKETCTL_DEPLOY_DIR:-deploy}
if [ ! -f "$deploy_dir/$env.toml" ]; then
  echo "unknown environment $env: no $deploy_dir/$env.toml" >&2
  exit 64
fi
if grep -Eq '^platform *= *"ecs"' "$deploy_dir/$env.toml"; then
  if [ -z "${IMAGE:-}" ]; then
    echo "$env runs on ECS: set IMAGE to the ECR image to deploy (a tag or a digest)" >&2
    exit 64
  fi
  args=(deploy "$env" "$strategy" --image "$IMAGE")
  [ -z "${MARKETCTL:-}" ] && cargo build --release --locked -q -p marketctl
else
  args=(deploy "$env" "$strategy" --release target/release/marketplace)
  cargo build --release --locked -q -p marketplace
  [ -z "${MARKETCTL:-}" ] && cargo build --release --locked -q -p marketctl
fi
[ "$run_checks" = false ] && args+=(--skip-checks)
marketctl=${MARKETCTL:-target/release/marketctl}
set +e
"$marketctl" "${args[@]}"
code=$?
set -e
exit "$code"
