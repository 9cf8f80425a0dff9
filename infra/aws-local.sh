#!/usr/bin/env bash
# Creates Herald's AWS resources on a local emulator and prints how to use them.
#   infra/aws-local.sh [ENDPOINT] [CONFIG]
# ENDPOINT defaults to LocalStack's http://127.0.0.1:4566; CONFIG to examples/aws-local.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
endpoint="${1:-${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}}"
config="${2:-examples/aws-local.yaml}"
export AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
if curl -sf "$endpoint/moto-api/" >/dev/null 2>&1; then export AWS_ACCOUNT_ID="${AWS_ACCOUNT_ID:-123456789012}"; fi
node packages/cli/bin/herald.js infra up --config "$config"
cat <<MSG

Ready. In each terminal:
  export AWS_ENDPOINT_URL=$endpoint AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY${AWS_ACCOUNT_ID:+ AWS_ACCOUNT_ID=$AWS_ACCOUNT_ID}
then
  pnpm herald run --config $config                                              # terminal 1
  pnpm herald publish --config $config --event examples/events/failed.json      # terminal 2
Sent mail: curl -s $endpoint/_aws/ses (LocalStack) or $endpoint/moto-api/data.json (moto)
MSG
