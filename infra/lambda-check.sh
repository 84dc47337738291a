#!/usr/bin/env bash
# Lambda packaging and emulation check, for CI and by hand:
#   (a) sam validate --lint and cfn-lint on template.yaml;
#   (b) the deployable build: cargo lambda build --release --arm64 of every function (+ zip), sizes;
#   (c) the real function binaries under `cargo lambda watch`, against fake Inbenta, Twilio,
#       Smooch and Graph servers (shared/fakes/src/bin/fake-upstreams.rs), invoked with
#       infra/events/*.json: signed SMS and WhatsApp -> 200, forged signature -> 403; Smooch
#       message -> 200, wrong X-API-Key -> 403; Messenger verification -> 200, signed message ->
#       200, forged signature -> 403; an SQS FIFO event of the Twilio queue -> no failed record;
#       and the bot's replies accepted by the fakes.
# No internet and no AWS account needed. Tools: cargo, python3, and sam / cfn-lint / cargo-lambda
# (with ziglang) from one venv: python3 -m venv .venv && .venv/bin/pip install aws-sam-cli cargo-lambda
#
# Environment:
#   VENV_BIN          the venv's bin directory (default .venv/bin, relative to the repo root)
#   TABLE_NAME + AWS_ENDPOINT_URL_DYNAMODB   both set: the function uses that DynamoDB server
#                     (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY passed through, or
#                     us-east-1/test/test); otherwise it runs with the in-memory store.
#   FIRST_INVOKE_TIMEOUT  seconds for the first invoke, which compiles the function (default 600)
#   LAMBDA_CHECK_LOG_DIR  if set, the watch (function) and fake logs are copied there at the end
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV_BIN=${VENV_BIN:-.venv/bin}
VENV_BIN=$(cd "$VENV_BIN" && pwd) || { echo "FAIL: VENV_BIN directory not found" >&2; exit 1; }
# First on PATH: cargo-lambda runs `python -m ziglang`, so `python` must be the venv's.
export PATH="$VENV_BIN:$PATH"
export SAM_CLI_TELEMETRY=0
FIRST_INVOKE_TIMEOUT=${FIRST_INVOKE_TIMEOUT:-600}

WEBHOOK_URL=https://connector.example.com/twilio # the events are signed for these two values
AUTH_TOKEN=test-twilio-auth-token                 # (infra/events/generate.py)

WORK=$(mktemp -d)
FAKE_PID=""
WATCH_PID=""
cleanup() {
    local status=$?
    exec 3>&- 2>/dev/null || true # fake-upstreams also stops when its stdin closes
    if [[ -n $WATCH_PID ]]; then
        # watch runs in its own process group (setsid): cargo and the function binary with it.
        kill -TERM -- "-$WATCH_PID" 2>/dev/null || true
        wait "$WATCH_PID" 2>/dev/null || true
    fi
    if [[ -n $FAKE_PID ]]; then
        kill -TERM "$FAKE_PID" 2>/dev/null || true
        wait "$FAKE_PID" 2>/dev/null || true
    fi
    if [[ -n ${LAMBDA_CHECK_LOG_DIR:-} ]]; then
        mkdir -p "$LAMBDA_CHECK_LOG_DIR" && cp "$WORK"/*.log "$WORK"/*.env "$LAMBDA_CHECK_LOG_DIR"/ 2>/dev/null || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILURES=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILURES=$((FAILURES + 1)); }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
size() { python3 -c "import os, sys; n = os.path.getsize(sys.argv[1]); print(f'{n} bytes ({n / 1048576:.2f} MiB)')" "$1"; }

for tool in cargo python3 sam cfn-lint cargo-lambda; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (VENV_BIN=$VENV_BIN)"; exit 1; }
done

echo "== (a) template lint"
if sam validate --lint --template-file template.yaml; then pass "sam validate --lint"; else fail "sam validate --lint"; fi
if cfn-lint template.yaml; then pass "cfn-lint template.yaml"; else fail "cfn-lint template.yaml"; fi

echo "== (b) release build for Lambda (arm64)"
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
for function in twilio smooch messenger hyperchat; do
    started=$(now)
    # From the function's package directory, as SAM's rust-cargolambda does with its CodeUri:
    # Cargo selects that package alone, so the binary links only the channel it serves.
    if (cd "functions/$function" && cargo lambda build --release --arm64 --bin "$function" --output-format zip); then
        echo "build time: $(since "$started") s"
        bootstrap="$TARGET_DIR/lambda/$function/bootstrap"
        zip="$TARGET_DIR/lambda/$function/bootstrap.zip"
        if [[ ! -f $bootstrap ]]; then
            # --output-format zip may leave only the archive: measure the binary inside it.
            python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("bootstrap", sys.argv[2])' "$zip" "$WORK"
            bootstrap="$WORK/bootstrap"
        fi
        echo "$function bootstrap: $(size "$bootstrap")"
        echo "$function bootstrap.zip: $(size "$zip")"
        pass "cargo lambda build --release --arm64 --bin $function (in functions/$function)"
    else
        fail "cargo lambda build --release --arm64 --bin $function (in functions/$function)"
    fi
done

echo "== (c) the function under cargo lambda watch, against fake upstreams"
if ! cargo build -p connector-fakes --bin fake-upstreams; then
    echo "FAIL: cargo build -p connector-fakes --bin fake-upstreams"; exit 1
fi
mkfifo "$WORK/fake.in"
"$TARGET_DIR/debug/fake-upstreams" <"$WORK/fake.in" >"$WORK/fake.env" 2>"$WORK/fake.log" &
FAKE_PID=$!
exec 3>"$WORK/fake.in" # keeps the fake's stdin open until this script ends
# HYPERCHAT_SECRET is the last line it prints.
for _ in $(seq 100); do
    grep -q '^HYPERCHAT_SECRET=' "$WORK/fake.env" 2>/dev/null && break
    kill -0 "$FAKE_PID" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q '^HYPERCHAT_SECRET=' "$WORK/fake.env" 2>/dev/null; then
    echo "FAIL: fake-upstreams did not print its environment"; cat "$WORK/fake.env" "$WORK/fake.log"; exit 1
fi
cat "$WORK/fake.env"

# The repository's configuration with live chat on (HyperChat is among the fakes).
mkdir -p "$WORK/conf/custom"
cp -R "$ROOT/conf/default" "$WORK/conf/default"
printf '[chat]\nenabled = true\n' >"$WORK/conf/custom/chat.toml"
{
    cat "$WORK/fake.env"
    echo "TWILIO_AUTH_TOKEN=$AUTH_TOKEN"
    echo "TWILIO_WEBHOOK_URL=$WEBHOOK_URL"
    echo "CONF_DIR=$WORK/conf"
    echo "HYPERCHAT_WEBHOOK_URL=https://connector.example.com/hyperchat"
    echo "LANG_DIR=$ROOT/lang"
    echo "ENVIRONMENT=development"
    echo "RUST_LOG=${RUST_LOG:-info}"
    if [[ -n ${TABLE_NAME:-} && -n ${AWS_ENDPOINT_URL_DYNAMODB:-} ]]; then
        echo "TABLE_NAME=$TABLE_NAME"
        echo "AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB"
        echo "AWS_REGION=${AWS_REGION:-us-east-1}"
        echo "AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}"
        echo "AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}"
    fi
} >"$WORK/function.env"
if [[ -n ${TABLE_NAME:-} && -n ${AWS_ENDPOINT_URL_DYNAMODB:-} ]]; then
    echo "store: DynamoDB table $TABLE_NAME at $AWS_ENDPOINT_URL_DYNAMODB"
else
    echo "store: in memory (set TABLE_NAME and AWS_ENDPOINT_URL_DYNAMODB for DynamoDB)"
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Its own process group, so that cleanup can stop cargo and the function with it. The caller's
# TABLE_NAME / endpoint are removed from the inherited environment: only function.env decides.
# 3>&-: watch must not hold the fakes' stdin open.
env -u TABLE_NAME -u AWS_ENDPOINT_URL_DYNAMODB \
    setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$PORT" --ignore-changes \
    --env-file "$WORK/function.env" >"$WORK/watch.log" 2>&1 </dev/null 3>&- &
WATCH_PID=$!
listening=no
for _ in $(seq 300); do
    if python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$PORT" 2>/dev/null; then
        listening=yes; break
    fi
    kill -0 "$WATCH_PID" 2>/dev/null || break
    sleep 0.2
done
if [[ $listening != yes ]]; then
    echo "FAIL: cargo lambda watch is not listening on 127.0.0.1:$PORT"; cat "$WORK/watch.log"; exit 1
fi
echo "cargo lambda watch listening on 127.0.0.1:$PORT"

invoke() { # event file, expected statusCode, timeout; the function is the file name's first word
    local event=$1 expected=$2 limit=$3 started status function=${1%%-*}
    started=$(now)
    if timeout "$limit" cargo lambda invoke "$function" --invoke-address 127.0.0.1 --invoke-port "$PORT" \
        --data-file "infra/events/$event" --output-format json >"$WORK/out.json" 2>"$WORK/err.txt"; then
        status=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("statusCode"))' "$WORK/out.json" 2>/dev/null || echo "unparsable")
    else
        status="invoke failed (exit $?)"
    fi
    echo "$event: statusCode $status in $(since "$started") s"
    if [[ $status == "$expected" ]]; then
        pass "$event -> $expected"
    else
        fail "$event -> expected $expected, got $status"
        cat "$WORK/out.json" "$WORK/err.txt"
        echo "--- last lines of cargo lambda watch (function logs):"
        tail -n 40 "$WORK/watch.log"
    fi
}
# The first invoke compiles the function (debug profile) inside watch: allow for it.
invoke twilio-sms.json 200 "$FIRST_INVOKE_TIMEOUT"
invoke twilio-whatsapp.json 200 60
invoke twilio-forged.json 403 60
# Each function's first invoke compiles it too.
invoke smooch-message.json 200 "$FIRST_INVOKE_TIMEOUT"
invoke smooch-forged.json 403 60
invoke messenger-verify.json 200 "$FIRST_INVOKE_TIMEOUT"
invoke messenger-message.json 200 60
invoke messenger-forged.json 403 60
# A link to an agent's file (signed by infra/events/generate.py as the function signs them): the
# file's bytes come back through the runtime base64-encoded, as API Gateway needs binary bodies.
invoke hyperchat-file-link.json 200 "$FIRST_INVOKE_TIMEOUT"
if python3 - "$WORK/out.json" <<'PY'
import base64, json, sys
out = json.load(open(sys.argv[1]))
headers = {k.lower(): v for k, v in out.get("headers", {}).items()}
body = base64.b64decode(out["body"]) if out.get("isBase64Encoded") else None
assert body == b"\x89PNG\r\n\x1a\n lambda-check", f"body {out.get('body')!r}, isBase64Encoded {out.get('isBase64Encoded')}"
assert headers.get("content-type") == "image/png", headers
PY
then pass "the agent's file comes back base64-encoded, image/png"; else fail "the agent's file did not come back whole"; fi
invoke hyperchat-forged-link.json 403 60

# The same Twilio binary invoked by its queue: an SQS FIFO event as the event source mapping
# sends it. Processed, it reports no failed record (the SMS reply is checked below).
started=$(now)
if timeout 60 cargo lambda invoke twilio --invoke-address 127.0.0.1 --invoke-port "$PORT" \
    --data-file infra/events/sqs-twilio.json --output-format json >"$WORK/out.json" 2>"$WORK/err.txt" &&
    python3 -c 'import json, sys; out = json.load(open(sys.argv[1])); assert out == {"batchItemFailures": []}, out' "$WORK/out.json"; then
    echo "sqs-twilio.json: processed in $(since "$started") s"
    pass "sqs-twilio.json -> no batch item failures"
else
    fail "sqs-twilio.json -> expected {\"batchItemFailures\": []}"
    cat "$WORK/out.json" "$WORK/err.txt"
    tail -n 40 "$WORK/watch.log"
fi

# A 200 also answers errors that retrying cannot fix, so check that the bot's replies really
# reached (fake) Twilio: closing its stdin makes fake-upstreams list what it accepted.
exec 3>&-
for _ in $(seq 50); do kill -0 "$FAKE_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$FAKE_PID" 2>/dev/null; then
    echo "fake-upstreams still running 5 s after its stdin closed: stopping it"
    kill -TERM "$FAKE_PID" 2>/dev/null || true
fi
wait "$FAKE_PID" 2>/dev/null || true
FAKE_PID=""
grep -E '^(sent|smooch|graph) ' "$WORK/fake.log" || true
if grep -q '^sent to=+34600111222 from=+12078200470 ' "$WORK/fake.log"; then
    pass "SMS reply sent through the Twilio API"
else
    fail "no SMS reply reached the fake Twilio"; tail -n 40 "$WORK/watch.log"
fi
if grep -q '^sent to=+34600111333 from=+12078200470 ' "$WORK/fake.log"; then
    pass "the SQS event's reply sent through the Twilio API"
else
    fail "no reply to the SQS event reached the fake Twilio"; tail -n 40 "$WORK/watch.log"
fi
if grep -q '^sent to=whatsapp:+34600111222 from=whatsapp:+14155238886 ' "$WORK/fake.log"; then
    pass "WhatsApp reply sent through the Twilio API"
else
    fail "no WhatsApp reply reached the fake Twilio"; tail -n 40 "$WORK/watch.log"
fi

if grep -q '^smooch to=conv-ana ' "$WORK/fake.log"; then
    pass "Smooch reply sent through the Smooch API"
else
    fail "no Smooch reply reached the fake Smooch"; tail -n 40 "$WORK/watch.log"
fi
if grep -q '^graph to=6000000000000001 ' "$WORK/fake.log"; then
    pass "Messenger reply sent through the Graph API"
else
    fail "no Messenger reply reached the fake Graph API"; tail -n 40 "$WORK/watch.log"
fi

if ((FAILURES > 0)); then
    echo "== lambda-check: FAIL ($FAILURES failed)"
    exit 1
fi
echo "== lambda-check: PASS"
