#!/usr/bin/env bash
# Installs the pinned local toolchain into .venv; skips when the pins are unchanged.
#   install-tools.sh       every tool, the tests' included (infra/requirements.txt)
#   install-tools.sh dev   only what `make dev` needs (infra/requirements-dev.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-all}" in
  all) set=all requirements=infra/requirements.txt ;;
  dev) set=dev requirements=infra/requirements-dev.txt ;;
  *) echo "usage: $0 [dev]" >&2; exit 2 ;;
esac
# A set is installed when its stamp holds the current pins of both files; every tool includes dev.
pins=$(cat infra/requirements-dev.txt infra/requirements.txt)
installed() { [ -f ".venv/.installed-$1" ] && [ "$(cat ".venv/.installed-$1")" = "$pins" ]; }
if installed all || { [ "$set" = dev ] && installed dev; }; then
  exit 0
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip==25.3
.venv/bin/python -m pip install --quiet -r "$requirements"
printf '%s' "$pins" >".venv/.installed-$set"
