#!/usr/bin/env bash
# Cold start of every function (x86_64 release builds), against fake upstreams on loopback:
# start to ready, and the first event's latency in a fresh process (empty token cache), per
# function, 20 runs each (infra/cold-start.py). Build first:
#   cargo build --release -p twilio-function -p smooch-function -p messenger-function -p hyperchat-function
#   cargo build -p connector-fakes --bin fake-upstreams
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
WORK=$(mktemp -d)
trap 'exec 7>&- 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkfifo "$WORK/fake.in"
"$TARGET_DIR/debug/fake-upstreams" <"$WORK/fake.in" >"$WORK/fake.env" 2>"$WORK/fake.log" &
exec 7>"$WORK/fake.in" # the fakes stop when this closes
for _ in $(seq 100); do [[ $(grep -c = "$WORK/fake.env" || true) -ge 16 ]] && break; sleep 0.1; done
mapfile -t fakes <"$WORK/fake.env"
for pair in "twilio twilio-sms.json" "smooch smooch-message.json" "messenger messenger-message.json"; do
    read -r function event <<<"$pair"
    echo "$function:"
    python3 infra/cold-start.py "$TARGET_DIR/release/$function" 20 --event "infra/events/$event" "${fakes[@]}"
done
echo "hyperchat:"
python3 infra/cold-start.py "$TARGET_DIR/release/hyperchat" 20 "${fakes[@]}"
echo "twilio with a DynamoDB table configured (the client is built before ready):"
python3 infra/cold-start.py "$TARGET_DIR/release/twilio" 20 "${fakes[@]}" TABLE_NAME=probe AWS_ACCESS_KEY_ID=probe AWS_SECRET_ACCESS_KEY=probe
