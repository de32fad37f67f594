#!/usr/bin/env bash
# Set up everything and run the whole test suite (what CI runs: .ci/run calls this).
set -euo pipefail
cd "$(dirname "$0")/.."
export RADHUB_WITH_BROWSER=1  # the pages are tested in Debian's Chromium (Playwright)
bash scripts/setup.sh
export RADHUB_REQUIRE_POSTGRES=1
# the shared test data (../shared/data beside the checkout; /work/shared/data for clones elsewhere)
if [ -z "${RADHUB_SHARED_DATA:-}" ]; then
  for d in "$PWD/../shared/data" /work/shared/data; do
    if [ -d "$d" ]; then export RADHUB_SHARED_DATA="$(cd "$d" && pwd)"; break; fi
  done
fi
if [ -n "${RADHUB_SHARED_DATA:-}" ]; then
  export RADHUB_BENCH_DICOM_DIR="${RADHUB_BENCH_DICOM_DIR:-$RADHUB_SHARED_DATA/dicom}"
else
  echo "test: ../shared/data not found; tests that need it are skipped" >&2
fi
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
