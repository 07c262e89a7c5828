#!/usr/bin/env bash
# Creates the virtualenv (default .venv, Python 3.11) and installs the project with its dev
# dependencies. Idempotent. Usage: [VENV=.venv-313] [PYTHON_VERSION=3.13] bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
version=${PYTHON_VERSION:-3.11}

find_python() {
  for candidate in "$(command -v "python$1" || true)" /root/.pyenv/versions/"$1".*/bin/"python$1" \
                   /usr/bin/"python$1" /usr/local/bin/"python$1"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c 'import venv' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "no Python $1 found: install it or set PYTHON_VERSION" >&2; return 1
}

if [ ! -x "$venv/bin/python" ]; then
  "$(find_python "$version")" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
"$venv/bin/python" -m pip install -q -e ".[dev]" ${EXTRA_REQUIREMENTS:-} 2>&1 | grep -v '^WARNING: Location' || true
"$venv/bin/python" -c 'import tenantfixtures, sqlalchemy; print("ready:", sqlalchemy.__version__)'
