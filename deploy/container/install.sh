#!/usr/bin/env bash
# Second stage of the container build, and what CI runs to prove it: installs the packed
# `herald` command with its production dependencies only, as `npm install -g` would, under
# PREFIX (PREFIX/bin/herald, PREFIX/lib/node_modules/@herald/cli).
#   deploy/container/install.sh TARBALL PREFIX
set -euo pipefail
tarball="${1:?usage: install.sh TARBALL PREFIX}"
prefix="${2:?usage: install.sh TARBALL PREFIX}"
npm install --global --prefix "$prefix" --omit=dev --no-audit --no-fund --loglevel=error "$tarball"

"$prefix/bin/herald" --version
