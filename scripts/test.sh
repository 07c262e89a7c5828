#!/usr/bin/env bash
# Runs every test: the plugin's own suite and the example app's suite, both under xdist, then
# checks that the example app's real data dir was not changed. Sets up the venv if needed.
# Usage: bash scripts/test.sh   (VENV=.venv-313 to use another virtualenv)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
[ -x "$venv/bin/python" ] || bash scripts/setup.sh
python="$PWD/$venv/bin/python"

if [ -z "${TENANTFIXTURES_TEST_PG_URL:-}" ] && [ "$(id -u)" = 0 ]; then
  TENANTFIXTURES_TEST_PG_URL=$(bash scripts/postgres.sh) && export TENANTFIXTURES_TEST_PG_URL
fi

echo "== plugin tests ($("$python" --version))"
"$python" -m pytest -n 2 tests "$@"

VENV="$venv" bash scripts/examples.sh
