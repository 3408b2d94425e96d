#!/usr/bin/env bash
# DAST: schemathesis fuzzes the running API from its OpenAPI document and fails on any 5xx or
# response that does not match the schema. Bounded in examples; traffic stays on 127.0.0.1.
# The per-IP limits are lifted: all of the fuzzer's traffic comes from one address, and it should
# reach the handlers rather than the limiter (whose 429 is documented and tested elsewhere).
# positive_data_acceptance is excluded: the password policy (breached and repeated passwords)
# refuses some inputs that JSON Schema cannot describe, and says so with a 422.
set -euo pipefail
cd "$(dirname "$0")/.."
st=${SCHEMATHESIS:-/opt/tm-tools/bin/schemathesis}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cargo build --release --locked -q -p marketplace
TM_CONFIG_DIR="$work/none" TM_DATABASE_URL="sqlite://$work/dast.db" TM_MEDIA_DIR="$work/media" \
  TM_DEMO_SEED_WHEN_EMPTY=true TM_MAIL_FOLDER="$work/mail" \
  TM_AUTH_ATTEMPTS_PER_MINUTE=100000 TM_AUTH_API_WRITES_PER_MINUTE=100000 \
  TM_SERVER_PORT=$port TM_SERVER_PRE_STOP_DELAY_MS=0 TM_LOG_LEVEL=warn \
  "${CARGO_TARGET_DIR:-target}/release/marketplace" serve >"$work/app.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.1; done
# Once anonymous, then as a signed-in client and as a signed-in artist, so the booking endpoints
# are fuzzed past their 401 (the demo seed provides artists and requests to reach).
session_for() { # email role -> the tm_session cookie's value, for a confirmed account
  local jar="$work/jar-$2" password="fuzzing secret $RANDOM long"
  curl -sf -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$password\",\"display_name\":\"Dast\",\"role\":\"$2\"}" \
    "http://127.0.0.1:$port/api/v1/accounts"
  # Registration answers 202 and emails a confirmation link (the development transport writes
  # .eml files); following it confirms the address and signs in, as a person would.
  local token=""
  for _ in $(seq 1 100); do
    token=$(grep -l "$1" "$work"/mail/*.eml 2>/dev/null | xargs -r cat | tr -d '\r' | sed -e ':a' -e '/=$/N; s/=\n//; ta' |
      sed 's/=3D/=/g' | grep -o 'verify-email?token=[0-9a-f.]*' | head -1 | cut -d= -f2)
    [ -n "$token" ] && break
    sleep 0.1
  done
  [ -n "$token" ] || return 0
  curl -sf -c "$jar" -o /dev/null "http://127.0.0.1:$port/verify-email?token=$token"
  awk '$6 == "tm_session" {print $7}' "$jar"
}
client_session=$(session_for dast-client@example.com client)
artist_session=$(session_for dast-artist@example.com artist)
if [ -z "$client_session" ] || [ -z "$artist_session" ]; then
  echo "FAIL: could not create the DAST accounts"; exit 1
fi
# The document declares the session cookie as the `session` security scheme; schemathesis fills
# it from this value, and also checks that the operations refuse requests without it.
cat >"$work/schemathesis.toml" <<'TOML'
[auth.openapi.session]
api_key = "${TM_DAST_SESSION}"
TOML
for who in anonymous client artist; do
  echo "== schemathesis as $who"
  signed_in=()
  case $who in
    client) export TM_DAST_SESSION=$client_session ;;
    artist) export TM_DAST_SESSION=$artist_session ;;
  esac
  # Signing out would end the session the rest of the run relies on.
  config=()
  if [ "$who" != anonymous ]; then
    config=(--config-file "$work/schemathesis.toml")
    signed_in=(--exclude-operation-id signOut --exclude-operation-id signOutLegacy)
  fi
  "$st" "${config[@]}" run "http://127.0.0.1:$port/api/openapi.json" --checks all --max-examples "${DAST_EXAMPLES:-40}" \
    --request-timeout 10 --no-color "${signed_in[@]}" \
    --exclude-checks positive_data_acceptance
done
if grep -q '"level":"ERROR"\|ERROR' "$work/app.log"; then
  echo "FAIL: the server logged errors during the run:"; grep ERROR "$work/app.log" | head -20; exit 1
fi
