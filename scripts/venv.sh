#!/usr/bin/env bash
# Makes (or refreshes) .venv with the runner's pinned requirements and its
# test tools. Re-running is cheap: it only reinstalls when the pins change.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${GOFAST_PYTHON:-python3}
marker=.venv/.requirements.sha256
want=$(cat runner/requirements.txt runner/requirements-dev.txt scripts/requirements-test.txt | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat "$marker" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "==> making .venv from runner/requirements-dev.txt"
rm -rf .venv
"$python" -m venv .venv
.venv/bin/pip install --disable-pip-version-check --no-input -q -r runner/requirements-dev.txt
.venv/bin/pip install --disable-pip-version-check --no-input -q -r scripts/requirements-test.txt
echo "$want" > "$marker"
