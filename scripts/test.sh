#!/usr/bin/env bash
# Runs every test: the plugin's own suite and the example app's suite, both under xdist, then
# checks that the example app's real data dir was not written. Sets up the venv if needed.
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

echo "== example suite (random order, 2 workers)"
(cd examples && "$python" -m pytest -n 2 -p randomly -q)

echo "== the example's real data dir is untouched"
unexpected=$(comm -13 <(git ls-files examples/data | sort) <(find examples/data -type f | sort))
if [ -n "$unexpected" ]; then
  echo "FAILED: files appeared under examples/data:" >&2
  echo "$unexpected" >&2
  exit 1
fi
echo "ok: examples/data holds only the files shipped with the app"
