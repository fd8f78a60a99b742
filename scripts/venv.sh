#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install chaosfleet with its test and dev tools.
# Re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "[venv] chaosfleet needs Python >= 3.11 ($PYTHON is $("$PYTHON" --version))" >&2; exit 1; }
if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    echo "[venv] installing python3-venv"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    else sudo apt-get update -qq && sudo apt-get install -y -qq python3-venv >/dev/null; fi
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
  fi
fi
stamp="$VENV/.installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "[venv] installing chaosfleet and its pinned dependencies into $VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -e '.[dev]'
  touch "$stamp"
fi
