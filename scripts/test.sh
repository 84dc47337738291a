#!/usr/bin/env bash
# Runs every test of the workspace against a real DynamoDB-API server (moto, serialised: see
# infra/dynamodb-local.py) on a free loopback port: installs moto into .venv if missing, starts
# it, runs the tests, stops it.
# Extra arguments go to `cargo test` (e.g. scripts/test.sh -p channels);
# `scripts/test.sh bench` runs the benchmark instead.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}
if [ ! -x "$venv/bin/moto_server" ]; then
  echo "installing moto (the local DynamoDB-API server) into $venv, once: about a minute"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
fi

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p target
"$venv/bin/python" infra/dynamodb-local.py --host 127.0.0.1 --port "$port" >target/moto.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then break; fi
  sleep 0.1
done

export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
echo "moto (DynamoDB API) on $AWS_ENDPOINT_URL_DYNAMODB"
if [ "${1:-}" = bench ]; then
  shift
  cargo bench -p connector-tests --bench plain_message "$@"
  exit
fi
[ $# -gt 0 ] || set -- --workspace
echo "building and running the tests (the first build takes a few minutes)"
# The output is kept to end with one total: cargo prints a line per test binary.
status=0
cargo test "$@" 2>&1 | tee target/test-output.log || status=$?
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' target/test-output.log
exit "$status"
