#!/usr/bin/env bash
# The main job, from a fresh machine: set up, run the example app's suite in parallel with every
# attempt recorded, rerun it nightly-style (varied order and parallelism, suspects confirmed),
# then publish the flakiness report: Markdown on the terminal, HTML/JSON/JUnit under reports/.
# Usage: bash scripts/demo.sh [ROUNDS]   (default 3 nightly rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
venv=${VENV:-.venv}
[ -x "$venv/bin/python" ] || bash scripts/setup.sh
python="$PWD/$venv/bin/python"
tf="$PWD/$venv/bin/tenantfixtures"
reports="$PWD/reports"
history="$reports/history.db"
mkdir -p "$reports"

echo "== the example suite, 2 workers, random order, every attempt recorded in $history"
(cd examples && "$python" -m pytest -n 2 -p randomly -q --tf-history="$history") || \
  echo "(the suite failed: the report below says whether it is flaky or broken)"

echo "== nightly: $rounds rounds in varied order and parallelism, then confirmation of suspects"
(cd examples && "$tf" nightly --rounds "$rounds" --max-minutes 15 --history="$history" \
  --format md --output "$reports/nightly.md" -- -q)

for format in html json junit; do
  "$tf" report --history="$history" --format "$format" --output "$reports/flaky.$format"
done
"$tf" report --history="$history" --format md | tee "$reports/flaky.md"
"$tf" durations --history="$history" --output "$reports/.test_durations"
echo "== reports: $reports/flaky.{md,html,json,junit}; pytest-split durations: $reports/.test_durations"
echo "== replay a failure exactly as it ran: the 'Replay:' command under each test above"
