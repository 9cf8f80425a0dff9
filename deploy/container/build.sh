#!/usr/bin/env bash
# First stage of the container build (deploy/container/Dockerfile), and what CI runs to prove
# it: installs the workspace from its lockfile, builds it and packs the `herald` command as one
# npm tarball, OUT/herald-cli.tgz.
#   deploy/container/build.sh OUT
set -euo pipefail
out="$(mkdir -p "${1:?usage: build.sh OUT}" && cd "$1" && pwd)"
cd "$(dirname "$0")/../.."
if ! command -v pnpm >/dev/null 2>&1 || [[ "$(pnpm --version)" != 10.* ]]; then
  npm install --global --no-audit --no-fund --loglevel=error pnpm@10
fi
# Never stop to ask (pnpm asks before it rebuilds a node_modules made with other settings).
pnpm install --frozen-lockfile --reporter=silent --config.confirmModulesPurge=false
tarball="$(node packages/cli/scripts/pack.mjs --out "$out" | tail -n 1)"
mv "$tarball" "$out/herald-cli.tgz"
echo "$out/herald-cli.tgz"
