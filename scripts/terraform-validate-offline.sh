#!/usr/bin/env bash
# `terraform validate` for every root, where providers cannot be downloaded: runs against a
# local plugin directory (default /opt/tf-plugins) holding hashicorp/aws. When that is an older
# provider than the code needs (5.x here), the check runs on a copy with the version constraint
# relaxed and the few 6.x-only ECS blocks removed, so it still catches every other wrong
# argument, block, reference and type. The real 6.x validate runs in deploy.yml's plan job.
set -euo pipefail

plugins=${TF_PLUGIN_DIR:-/opt/tf-plugins}
repo=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v terraform >/dev/null || ! ls "$plugins"/registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws_* >/dev/null 2>&1; then
  echo "terraform-validate-offline: needs terraform and an AWS provider under $plugins" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$repo/infrastructure/terraform" "$work/"
cd "$work/terraform"
python3 - <<'PY'
import pathlib, re
for p in pathlib.Path('.').rglob('*.tf'):
    s = p.read_text()
    s = s.replace('">= 6.21.0, < 7.0.0"', '">= 5.0.0"')
    # hashicorp/random is not in the plugin directory: a built-in stand-in of the same shape.
    s = re.sub(r'\n    # The secret origin header[^\n]*\n    random = \{[^}]*\}\n', '\n', s)
    s = s.replace('resource "random_password" "origin_verify" {\n  length  = 48\n  special = false\n}',
                  'resource "terraform_data" "origin_verify" {\n  input = "stand-in"\n}')
    s = s.replace('random_password.origin_verify.result', 'terraform_data.origin_verify.output')
    # ECS native blue/green and canary (provider 6.4+/6.21+).
    s = re.sub(r'\n  deployment_configuration \{[^{}]*\}\n', '\n', s)
    s = re.sub(r'\n    advanced_configuration \{[^{}]*\}\n', '\n', s)
    s = s.replace('      deployment_configuration,\n', '')
    p.write_text(s)
PY
export TF_CLI_CONFIG_FILE=/dev/null
status=0
for root in environments/development environments/staging environments/production bootstrap; do
  if ! (cd "$root" && terraform init -input=false -backend=false -plugin-dir="$plugins" >/dev/null &&
        terraform validate -no-color); then
    echo "terraform validate failed in $root" >&2
    status=1
  fi
done
exit $status
