#!/usr/bin/env bash
# Runs the example app's suite (2 workers, random order) with any extra pytest arguments, then
# checks that the example's real data dir is exactly what the repository ships.
# Usage: bash scripts/examples.sh [pytest args]   (VENV=.venv-313 to use another virtualenv)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
[ -x "$venv/bin/python" ] || bash scripts/setup.sh
python="$PWD/$venv/bin/python"

echo "== example suite (random order, 2 workers) $*"
(cd examples && "$python" -m pytest -n 2 -p randomly -q "$@")

echo "== the example's real data dir is untouched"
unexpected=$(comm -3 <(git ls-files examples/data | sort) <(find examples/data -type f | sort))
if [ -n "$unexpected" ]; then
  echo "FAILED: files appeared under, or vanished from, examples/data:" >&2
  echo "$unexpected" >&2
  exit 1
fi
if ! git diff --quiet -- examples/data; then
  echo "FAILED: shipped files under examples/data changed:" >&2
  git diff --stat -- examples/data >&2
  exit 1
fi
echo "ok: examples/data holds exactly the files shipped with the app"
