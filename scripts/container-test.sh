#!/usr/bin/env bash
# Builds the image and proves it works: runs as non-root, becomes healthy, serves the home page,
# and stops cleanly on `docker stop` within its grace period. Reports the image size.
#   scripts/container-test.sh          package the host's release binary (fast; what CI runs)
#   scripts/container-test.sh --full   the complete multi-stage build, compiling inside the image
# Uses a private Docker engine (started if needed), host networking only, and PostgreSQL on
# 127.0.0.1:5432 for the container's database.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
state=/var/lib/tm-docker
export DOCKER_HOST=unix://$state/docker.sock
# Debian's 20.10 CLI speaks BuildKit itself; a newer CLI without the buildx plugin does not.
docker=/usr/bin/docker
export DOCKER=$docker DOCKER_BUILDKIT=1
image=tattoo-marketplace:test
name=tm-container-test
pg_admin=${TM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=tm_container_test

fail() { echo "FAIL: $*" >&2; exit 1; }

if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
fi
if ! "$docker" info >/dev/null 2>&1; then
  echo "starting the Docker engine"
  mkdir -p "$state/data" "$state/exec"
  dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
    --data-root="$state/data" --exec-root="$state/exec" -H "$DOCKER_HOST" >"$state/dockerd.log" 2>&1 &
  for _ in $(seq 1 30); do "$docker" info >/dev/null 2>&1 && break; sleep 1; done
  "$docker" info >/dev/null 2>&1 || { tail -20 "$state/dockerd.log"; fail "the Docker engine did not start"; }
fi

commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ "$mode" = "--full" ]; then
  bash docker/base-images.sh --with-builder
  started=$(date +%s)
  "$docker" build --network host --build-arg TM_GIT_COMMIT="$commit" -t "$image" .
  echo "full multi-stage build took $(( $(date +%s) - started )) s"
else
  bash docker/base-images.sh
  TM_GIT_COMMIT=$commit cargo build --release --locked -q -p marketplace
  # The image takes the binary from the build context: bring it in from a build cache elsewhere.
  built="${CARGO_TARGET_DIR:-target}/release/marketplace"
  if [ "$(realpath "$built")" != "$(realpath -m target/release/marketplace)" ]; then
    install -D -m 0755 "$built" target/release/marketplace
  fi
  "$docker" build -q --build-arg BINARY_SOURCE=prebuilt --build-arg TM_GIT_COMMIT="$commit" -t "$image" . >/dev/null
fi

cleanup() {
  "$docker" rm -f "$name" >/dev/null 2>&1 || true
  psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
psql "$pg_admin" -qc "CREATE DATABASE $db"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
db_url="${pg_admin%/*}/$db"
secret=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
run_opts=(--network host --read-only --tmpfs "/tmp:rw,size=64m" --cap-drop ALL --security-opt no-new-privileges
  -e TM_DATABASE_URL="$db_url" -e TM_SESSION_SECRET="$secret" -e TM_SERVER_PORT="$port"
  # Production sends email over SMTP and stores images in S3; here nothing listens on the SMTP
  # port (deliveries fail and are retried, as they would during an outage); images go to
  # /tmp/media (the image sets TM_MEDIA_DIR) on the tmpfs.
  -e TM_MAIL_SMTP_URL="smtp://127.0.0.1:9"
  # Production wraps field-encryption keys with KMS, which is asked only when a health answer,
  # date of birth or skin photo is first written; none is here.
  -e TM_ENCRYPTION_KMS_KEY_ID="alias/tm-fields" -e AWS_REGION="us-east-1")

echo "== migrate (one-off container, as the deploy does before traffic moves)"
"$docker" run --rm "${run_opts[@]}" "$image" migrate

echo "== run"
"$docker" run -d --name "$name" "${run_opts[@]}" "$image" >/dev/null
pid=$("$docker" inspect -f '{{.State.Pid}}' "$name")
uid=$(awk '/^Uid:/{print $2}' "/proc/$pid/status")
[ "$uid" = "65532" ] || fail "the process runs as uid $uid, not 65532"
echo "runs as uid $uid (non-root)"

health=starting
for _ in $(seq 1 60); do
  health=$("$docker" inspect -f '{{.State.Health.Status}}' "$name")
  [ "$health" = healthy ] && break
  [ "$("$docker" inspect -f '{{.State.Running}}' "$name")" = true ] || { "$docker" logs "$name" | tail -20; fail "container exited"; }
  sleep 1
done
[ "$health" = healthy ] || { "$docker" logs "$name" | tail -20; fail "health is $health after 60 s"; }
echo "healthy"

home=$(curl -sf "http://127.0.0.1:$port/") || fail "the home page did not answer 200"
grep -q "Tattoo Marketplace" <<<"$home" || fail "the home page is not ours"
echo "serves the home page ($(wc -c <<<"$home") bytes)"

grace=30
started=$(date +%s%3N)
"$docker" stop -t "$grace" "$name" >/dev/null
took=$(( $(date +%s%3N) - started ))
code=$("$docker" inspect -f '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] || { "$docker" logs "$name" | tail -20; fail "exit code $code after docker stop"; }
[ "$took" -lt $(( grace * 1000 )) ] || fail "stop took ${took} ms, past the ${grace} s grace period"
"$docker" logs "$name" 2>&1 | grep -q '"shutdown complete"' || fail "no clean shutdown in the logs"
echo "stopped cleanly in ${took} ms (exit 0; includes the 5 s pre-stop delay)"

size=$("$docker" image inspect -f '{{.Size}}' "$image")
echo "image size: $(( size / 1000000 )) MB ($size bytes)"
[ "$size" -le 40000000 ] || echo "note: image is above the 40 MB goal"
echo "container test passed"
