#!/usr/bin/env bash
# Runs Herald's AWS integration suite against LocalStack 4.14.0 in host mode: installs it
# (cached), starts it on a free loopback port, runs the suite, stops exactly that process.
#   infra/localstack/run-suite.sh [vitest args...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$("$here/install.sh")"
work="$(mktemp -d "${TMPDIR:-/tmp}/herald-localstack.XXXXXX")"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

stop() {
  if [[ -f "$work/localstack.pid" ]]; then
    pid="$(cat "$work/localstack.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT

LS_FS_ROOT="$work/fs" "$here/start.sh" "$port" "$venv" "$work/localstack.pid" "$work/localstack.log"
cd "$root"
HERALD_TEST_AWS_ENDPOINT="http://127.0.0.1:$port" \
  pnpm exec vitest run --project integration test/aws.test.ts test/aws-cli.test.ts "$@"
