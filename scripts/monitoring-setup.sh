#!/usr/bin/env bash
# Sets up monitoring for an environment (the spec's `monitoring-setup.sh staging full`).
#   scripts/monitoring-setup.sh local [basic|full] [TARGET]
#       basic: check the alert and KPI recording rules (promtool check + unit tests)
#       full:  also start Prometheus on 127.0.0.1 scraping TARGET (default 127.0.0.1:8080) with the
#              rules that mirror the CloudWatch alarms, and wait until the target is up and the
#              rules are loaded. Prometheus keeps running; its PID and URL are printed.
#   scripts/monitoring-setup.sh development|staging|production [basic|full]
#       basic: apply the monitoring module and check every alarm and both SNS topics exist
#       full:  also publish a test alert to both topics (it reaches Slack through AWS Chatbot)
set -euo pipefail
cd "$(dirname "$0")/.."
env=${1:?usage: monitoring-setup.sh ENV [basic|full]}
level=${2:-full}
case "$level" in basic | full) ;; *) echo "level must be basic or full, not $level" >&2; exit 64 ;; esac

if [ "$env" = local ]; then
  target=${3:-127.0.0.1:8080}
  promtool check rules monitoring/alerts.yml monitoring/kpis.yml
  promtool test rules monitoring/alerts.test.yml monitoring/kpis.test.yml
  [ "$level" = basic ] && exit 0
  work=$(mktemp -d /tmp/tm-prometheus.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cp monitoring/alerts.yml monitoring/kpis.yml "$work/"
  sed -e "s|127.0.0.1:8080|$target|" -e "s|127.0.0.1:9180|${MARKETCTL_AGENT_ADMIN:-127.0.0.1:9180}|" -e 's|scrape_interval: 15s|scrape_interval: 2s|' \
    -e 's|evaluation_interval: 15s|evaluation_interval: 2s|' monitoring/prometheus.yml >"$work/prometheus.yml"
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$port" >"$work/prometheus.log" 2>&1 &
  pid=$!
  api="http://127.0.0.1:$port/api/v1"
  for _ in $(seq 1 60); do
    health=$(curl -sf "$api/targets" | python3 -c 'import json,sys; t=[x for x in json.load(sys.stdin)["data"]["activeTargets"] if x["labels"]["job"] == "marketplace"]; print(t[0]["health"] if t else "none")' 2>/dev/null || echo starting)
    [ "$health" = up ] && break
    sleep 1
  done
  [ "$health" = up ] || { kill "$pid"; tail -20 "$work/prometheus.log"; echo "FAIL: target $target is $health" >&2; exit 1; }
  rules=$(curl -sf "$api/rules" | python3 -c 'import json,sys; print(sum(len(g["rules"]) for g in json.load(sys.stdin)["data"]["groups"]))')
  [ "$rules" -ge 10 ] || { kill "$pid"; echo "FAIL: only $rules rules loaded" >&2; exit 1; }
  echo "Prometheus (pid $pid) at http://127.0.0.1:$port scrapes $target: target up, $rules alert and KPI rules loaded"
  exit 0
fi

case "$env" in development | staging | production) ;; *) echo "unknown environment $env" >&2; exit 64 ;; esac
dir=infrastructure/terraform/environments/$env
command -v terraform >/dev/null || { echo "terraform is required for $env" >&2; exit 1; }
command -v aws >/dev/null || { echo "the AWS CLI is required for $env" >&2; exit 1; }
terraform -chdir="$dir" init -input=false
terraform -chdir="$dir" apply -input=false -target=module.monitoring
alarms=$(terraform -chdir="$dir" output -json alarm_names | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)))')
topics=$(terraform -chdir="$dir" output -json alert_topics)
# shellcheck disable=SC2086 # alarm names are space-separated on purpose
found=$(aws cloudwatch describe-alarms --alarm-names $alarms --query 'length(MetricAlarms)' --output text)
expected=$(wc -w <<<"$alarms")
[ "$found" = "$expected" ] || { echo "FAIL: $found of $expected alarms exist" >&2; exit 1; }
for severity in critical warning; do
  arn=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['$severity'])" "$topics")
  aws sns get-topic-attributes --topic-arn "$arn" >/dev/null
  if [ "$level" = full ]; then
    aws sns publish --topic-arn "$arn" --subject "Test alert ($env, $severity)" \
      --message "monitoring-setup.sh: a test of the $severity alert path for $env. No action needed." >/dev/null
  fi
done
echo "$env: $expected alarms and both topics exist${level:+; level $level}"
