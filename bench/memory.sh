#!/usr/bin/env bash
# Memory under abuse: peak and settled RSS of a release marketplace while N parallel wrong
# sign-ins (no account needed) hit the JSON API at once, and while parallel bookings each upload
# four 6000x6000 PNG references. The goals are in the README's security section. Traffic stays on
# 127.0.0.1, every request is sent once, and the script stops by itself.
#   usage: bench/memory.sh [PARALLEL_SIGN_INS=500] [PARALLEL_UPLOADS=3] [BINARY=target/release/marketplace]
set -euo pipefail
cd "$(dirname "$0")/.."
parallel="${1:-500}"
uploads="${2:-3}"
bin="${3:-target/release/marketplace}"
[ "$bin" = target/release/marketplace ] && cargo build --release -q -p marketplace
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kb() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$pid/status"; }

port=$(free_port)
base="http://127.0.0.1:$port"
TM_CONFIG_DIR="$work/none" TM_ENV=development TM_LOG_LEVEL=warn TM_DATABASE_URL="sqlite://$work/m.db" \
  TM_MEDIA_DIR="$work/media" TM_MAIL_FOLDER="$work/mail" TM_SERVER_PORT=$port \
  "$bin" seed-demo >/dev/null
TM_CONFIG_DIR="$work/none" TM_ENV=development TM_LOG_LEVEL=warn TM_DATABASE_URL="sqlite://$work/m.db" \
  TM_MEDIA_DIR="$work/media" TM_MAIL_FOLDER="$work/mail" TM_SERVER_PORT=$port \
  TM_AUTH_ATTEMPTS_PER_MINUTE=100000 "$bin" serve >"$work/log" 2>&1 &
pid=$!
until curl -sf "$base/health/ready" >/dev/null; do sleep 0.05; done
echo "binary: $bin; $(nproc) cores"
echo "RSS at start:                      $(( $(kb VmRSS) / 1024 )) MiB"

# N wrong sign-ins at once, one connection each, each for another email (so the per-account lock
# does not answer first); the server runs with the per-IP limit lifted, as if from N addresses.
for i in $(seq "$parallel"); do
  [ "$i" = 1 ] || echo next
  printf 'url = "%s/api/v1/session"\nrequest = "POST"\nheader = "content-type: application/json"\n' "$base"
  printf 'data = "{\\"email\\":\\"nobody%s@example.com\\",\\"password\\":\\"wrong password 123\\"}"\n' "$i"
  printf 'output = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n'
done >"$work/sign-ins.curl"
t0=$(date +%s%3N)
curl -s --no-progress-meter -Z --parallel-max "$parallel" -K "$work/sign-ins.curl" \
  | sort | uniq -c | awk '{printf "  %s x %s\n", $1, $2}' >"$work/codes"
t1=$(date +%s%3N)
echo "$parallel parallel wrong sign-ins, $((t1 - t0)) ms; answers:"
cat "$work/codes"
echo "peak RSS during the sign-ins:      $(( $(kb VmHWM) / 1024 )) MiB"
sleep 2
echo "RSS 2 s later:                     $(( $(kb VmRSS) / 1024 )) MiB"

# Parallel bookings, each with four 6000x6000 PNG references (about 100 KB each on the wire).
python3 - "$work" <<'PY'
import struct, sys, zlib
w = h = 6000
raw = (b"\x00" * (1 + w * 3)) * h
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
open(sys.argv[1] + "/big.png", "wb").write(png)
PY
echo "reference image: $(( $(stat -c %s "$work/big.png") / 1024 )) KB PNG, 6000x6000"
client="$work/client"
curl -sf -c "$client" -b "$client" -o /dev/null -X POST -H 'content-type: application/json' \
  -d '{"email":"sam.whitfield@clients.tattoo.example","password":"ink-and-needles-demo"}' "$base/api/v1/session"
artist_id=$(curl -sf "$base/api/v1/artists?open=on" | python3 -c 'import json,sys; print(json.load(sys.stdin)["artists"][0]["id"])')
before=$(kb VmHWM)
form=(-F "artist_id=$artist_id" -F "idea=A koi sleeve with waves" -F "placement=forearm" -F "size=L"
  -F "budget=400" -F "preferred_dates=March" -F "date_of_birth=1990-01-01")
for _ in 1 2 3 4; do form+=(-F "references=@$work/big.png;type=image/png"); done
# One process per booking: curl's parallel mode shares one multipart body between transfers.
upload_pids=()
for i in $(seq "$uploads"); do
  curl -s -b "$client" -o /dev/null -w '%{http_code}\n' "${form[@]}" "$base/api/v1/booking-requests" >"$work/upload-$i" &
  upload_pids+=($!)
done
wait "${upload_pids[@]}"
cat "$work"/upload-* | sort | uniq -c | awk '{printf "  %s x %s\n", $1, $2}'
echo "$uploads parallel bookings x 4 images; peak RSS: $(( $(kb VmHWM) / 1024 )) MiB (before the uploads: $((before / 1024)) MiB)"
