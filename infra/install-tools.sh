#!/usr/bin/env bash
# Installs the pinned local toolchain into .venv (idempotent: skips when the pins are unchanged).
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.requirements-installed
if [ -f "$stamp" ] && cmp -s infra/requirements.txt "$stamp"; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip==25.3
.venv/bin/python -m pip install --quiet -r infra/requirements.txt
cp infra/requirements.txt "$stamp"
