#!/usr/bin/env bash
# Start LocalStack (community, localstack-core 4.14.0) in host mode -- no Docker -- on loopback,
# in the background, write its pid to a file and wait until SNS, SQS and SES report healthy.
#
# Usage: start-localstack.sh PORT VENV [PIDFILE] [LOGFILE]
#   PORT     loopback port for the gateway (must be free)
#   VENV     virtualenv with localstack-core[runtime]==4.14.0 on Python >= 3.12 (3.13 recommended)
#   PIDFILE  default: /tmp/localstack-PORT.pid
#   LOGFILE  default: next to PIDFILE, localstack-PORT.log
# Environment overrides:
#   LS_SERVICES     default sns,sqs,ses
#   LS_FS_ROOT      LocalStack's private filesystem root, default: next to PIDFILE, localstack-fs-PORT
#                   (use one per instance: shutdown does rm -rf LS_FS_ROOT/tmp/localstack)
#   LS_GATEWAY      hypercorn (default, binds 127.0.0.1 only) or twisted (LocalStack's default,
#                   but it ignores the host part of GATEWAY_LISTEN and binds 0.0.0.0)
#   LS_WAIT_SECONDS default 120
# Stop:  kill -TERM "$(cat PIDFILE)"   (exits in ~2-5 s; spawns no child processes for sns/sqs/ses)
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 PORT VENV [PIDFILE] [LOGFILE]" >&2
  exit 2
fi
PORT=$1
VENV=${2%/}
PIDFILE=${3:-/tmp/localstack-$PORT.pid}
LOGFILE=${4:-$(dirname "$PIDFILE")/localstack-$PORT.log}
FS_ROOT=${LS_FS_ROOT:-$(dirname "$PIDFILE")/localstack-fs-$PORT}
SERVICES_LIST=${LS_SERVICES:-sns,sqs,ses}
GATEWAY=${LS_GATEWAY:-hypercorn}
WAIT=${LS_WAIT_SECONDS:-120}
PY="$VENV/bin/python"

[[ $PORT =~ ^[0-9]+$ ]] || { echo "PORT must be a number: $PORT" >&2; exit 2; }
[[ -x $PY ]] || { echo "no python in venv: $PY" >&2; exit 2; }
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)'; then
  echo "$PY is $("$PY" -V 2>&1): localstack-core 4.14.0 needs Python >= 3.12 (uses PEP 695 syntax)" >&2
  exit 2
fi
"$PY" -c 'import localstack.runtime.main' 2>/dev/null || { echo "localstack-core not importable from $VENV" >&2; exit 2; }
if "$PY" - "$PORT" <<'EOF'
import socket, sys
s = socket.socket()
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
EOF
then
  echo "port $PORT on 127.0.0.1 is already in use" >&2
  exit 1
fi

mkdir -p "$FS_ROOT" "$(dirname "$PIDFILE")" "$(dirname "$LOGFILE")"

# OVERRIDE_IN_DOCKER=0 matters: this machine has /.dockerenv, so LocalStack would otherwise think it
# runs in its own container, ignore FILESYSTEM_ROOT and write to /var/lib/localstack and /tmp/localstack.
env \
  OVERRIDE_IN_DOCKER=0 \
  FILESYSTEM_ROOT="$FS_ROOT" \
  GATEWAY_LISTEN="127.0.0.1:$PORT" \
  LOCALSTACK_HOST="127.0.0.1:$PORT" \
  GATEWAY_SERVER="$GATEWAY" \
  SERVICES="$SERVICES_LIST" \
  EAGER_SERVICE_LOADING=1 \
  STRICT_SERVICE_LOADING=1 \
  DNS_ADDRESS=0 \
  SQS_ENDPOINT_STRATEGY=path \
  PERSISTENCE=0 \
  DISABLE_EVENTS=1 \
  SKIP_SSL_CERT_DOWNLOAD=1 \
  setsid "$PY" -m localstack.runtime.main >"$LOGFILE" 2>&1 </dev/null &
PID=$!
echo "$PID" >"$PIDFILE"

fail() {
  echo "LocalStack did not become healthy: $1 (log: $LOGFILE)" >&2
  tail -n 30 "$LOGFILE" >&2 || true
  if kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$PID" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  exit 1
}

deadline=$((SECONDS + WAIT))
while true; do
  kill -0 "$PID" 2>/dev/null || fail "process $PID exited"
  if "$PY" - "$PORT" "$SERVICES_LIST" <<'EOF' 2>/dev/null
import json, sys, urllib.request
port, services = sys.argv[1], sys.argv[2].split(",")
with urllib.request.urlopen(f"http://127.0.0.1:{port}/_localstack/health", timeout=2) as r:
    state = json.load(r)["services"]
sys.exit(0 if all(state.get(s) in ("running", "available") for s in services) else 1)
EOF
  then
    break
  fi
  ((SECONDS < deadline)) || fail "timed out after ${WAIT}s"
  sleep 0.25
done

echo "LocalStack ready: pid $PID, http://127.0.0.1:$PORT (services: $SERVICES_LIST), pidfile $PIDFILE, log $LOGFILE"
