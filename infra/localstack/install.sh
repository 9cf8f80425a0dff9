#!/usr/bin/env bash
# Installs LocalStack 4.14.0 (community, host mode: no Docker) into a cached virtualenv and
# prints the venv's path. Re-running with the same lock file reuses the venv.
#   infra/localstack/install.sh            -> prints e.g. /root/.cache/herald/localstack-4.14.0-<hash>
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
lock="$here/requirements.lock.txt"
hash="$(sha256sum "$lock" | cut -c1-12)"
venv="${HERALD_LOCALSTACK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/herald/localstack-4.14.0-$hash}"

if [[ -f "$venv/.installed" ]]; then
  echo "$venv"
  exit 0
fi

# LocalStack 4.14.0 is built for Python 3.13 (on 3.12 its SNS and SQS plugins fail to load, on
# 3.11 it does not parse). Debian's python3 here is 3.11; pyenv carries newer ones.
python=""
candidates=()
for dir in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[3-9]* 2>/dev/null | sort -rV); do
  [[ -x "$dir/bin/python" ]] && candidates+=("$dir/bin/python")
done
candidates+=(python3.14 python3.13)
for candidate in "${candidates[@]}"; do
  if command -v "$candidate" >/dev/null 2>&1 &&
    "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' 2>/dev/null; then
    python="$(command -v "$candidate")"
    break
  fi
done
if [[ -z "$python" ]]; then
  echo "LocalStack 4.14.0 needs Python >= 3.13; none found (tried ${candidates[*]})" >&2
  exit 1
fi

rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv" >&2
log="$(dirname "$venv")/localstack-install.log"
if ! "$venv/bin/pip" install --disable-pip-version-check -r "$lock" >"$log" 2>&1; then
  echo "installing LocalStack failed; the end of $log:" >&2
  tail -n 40 "$log" >&2
  exit 1
fi
"$venv/bin/python" -c 'import localstack.runtime.main' >&2
touch "$venv/.installed"
echo "$venv"
