#!/usr/bin/env bash
# Set up everything and run the whole test suite (what CI runs: .ci/run calls this).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export RADHUB_REQUIRE_POSTGRES=1
mkdir -p test-artifacts
set +e
.venv/bin/python -m pytest -q --durations=25 --junitxml=test-artifacts/junit.xml "$@"
rc=$?
set -e
if [ "$rc" = "5" ]; then
  echo "no tests were collected" >&2
  rc=0
fi
if [ "$rc" = "0" ] && [ -x benchmarks/smoke.sh ]; then
  bash benchmarks/smoke.sh
  rc=$?
fi
exit "$rc"
