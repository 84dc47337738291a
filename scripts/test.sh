#!/usr/bin/env bash
# Runs every test of the workspace against a real DynamoDB-API server (moto, serialised: see
# infra/dynamodb-local.py) and a real SQS-API server (a second, plain moto_server: its long polls
# must not hold the DynamoDB lock), each on a free loopback port: installs moto into .venv if
# missing, starts both, runs the tests, stops them.
# Extra arguments go to `cargo test` (e.g. scripts/test.sh -p channels);
# `scripts/test.sh bench` runs the benchmark instead.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}
if [ ! -x "$venv/bin/moto_server" ]; then
  echo "installing moto (the local DynamoDB- and SQS-API servers) into $venv, once: about a minute"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
fi

free_port() {
  "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for() {
  for _ in $(seq 1 100); do
    if "$venv/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null; then break; fi
    sleep 0.1
  done
}
port=$(free_port)
mkdir -p target
"$venv/bin/python" infra/dynamodb-local.py --host 127.0.0.1 --port "$port" >target/moto.log 2>&1 &
moto_pid=$!
sqs_pid=
trap 'kill "$moto_pid" ${sqs_pid:+"$sqs_pid"} 2>/dev/null || true' EXIT
sqs_port=$(free_port)
while [ "$sqs_port" = "$port" ]; do sqs_port=$(free_port); done
"$venv/bin/moto_server" -H 127.0.0.1 -p "$sqs_port" >target/moto-sqs.log 2>&1 &
sqs_pid=$!
wait_for "$port"
wait_for "$sqs_port"

export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$sqs_port"
# The plain moto server serves Secrets Manager too (the functions' secrets, SECRETS_ID).
export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$sqs_port"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
echo "moto (DynamoDB API) on $AWS_ENDPOINT_URL_DYNAMODB, moto (SQS and Secrets Manager APIs) on $AWS_ENDPOINT_URL_SQS"
if [ "${1:-}" = bench ]; then
  # Every function's per-message path (tests/benches/per_message.rs), printed and written to
  # docs/benchmarks.md (overwritten) with the machine it ran on.
  shift
  command="scripts/test.sh bench${*:+ $*} (BENCH_MESSAGES=${BENCH_MESSAGES:-1000}${BENCH_DYNAMODB_MESSAGES:+, BENCH_DYNAMODB_MESSAGES=$BENCH_DYNAMODB_MESSAGES})"
  export BENCH_MARKDOWN="$PWD/target/benchmarks-table.md"
  rm -f "$BENCH_MARKDOWN"
  cargo bench -p connector-tests --bench per_message "$@"
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
  {
    echo "# Benchmarks"
    echo
    echo "Written by \`scripts/test.sh bench\` (tests/benches/per_message.rs); overwritten on every run."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) CPUs (nproc), ${cpu:-unknown CPU model}; $(uname -srm)"
    echo "- command: \`$command\`"
    echo
    echo "Each function's handler is called directly (no Lambda runtime) with a signed webhook, against"
    echo "zero-latency fakes of every upstream on loopback (shared/fakes/) and moto for DynamoDB. Handler time"
    echo "includes those loopback round trips (and moto's work, which dominates the DynamoDB rows). The fakes"
    echo "run on a tokio runtime of their own (one worker thread), the handlers on the bench's main thread"
    echo "(current-thread runtime): *CPU/msg, handler thread* (\`getrusage(RUSAGE_THREAD)\`) is the connector's"
    echo "own work, including its HTTP clients, the DynamoDB SDK and the kernel side of its socket calls (on"
    echo "loopback that includes the receiving end's TCP processing); *CPU/msg, process* (\`RUSAGE_SELF\`) adds"
    echo "the fakes (not moto, a separate process). Allocations come from a counting global allocator,"
    echo "counted only in the measured loop (a realloc counts as one)."
    echo "*steal*: the share of the machine's CPU time the hypervisor gave to others meanwhile (/proc/stat)."
    echo "The *floor* row is no function: one Twilio API send through the product's own client, what one"
    echo "upstream call costs on this path. The connector logs at \`warn\` here; the Lambda functions default"
    echo "to \`info\`. Release profile: Cargo.toml \`[profile.release]\` (the bench profile inherits it)."
    echo
    cat "$BENCH_MARKDOWN"
  } >docs/benchmarks.md
  echo "written: docs/benchmarks.md"
  exit
fi
[ $# -gt 0 ] || set -- --workspace
echo "building and running the tests (the first build takes a few minutes)"
# The output is kept to end with one total: cargo prints a line per test binary.
status=0
cargo test "$@" 2>&1 | tee target/test-output.log || status=$?
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' target/test-output.log
exit "$status"
