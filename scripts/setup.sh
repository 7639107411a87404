#!/usr/bin/env bash
# Set up a fresh machine for mlcheck: a Python virtual environment in .venv with mlcheck
# (editable) and its development tools. Safe to run again: it reuses what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; raise SystemExit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup: $PYTHON is missing or older than 3.11; install Python 3.11+ or set PYTHON=/path/to/python3.11" >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
echo "setup: installing mlcheck and its dependencies into .venv (a few minutes on a fresh machine)"
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[all,dev]'
echo "setup: done; .venv/bin/mlcheck --help lists the commands"
