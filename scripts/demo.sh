#!/usr/bin/env bash
# Set up radhub and start it on the embedded default (SQLite + files in ./radhub-data)
# with the demo data from ../shared/data/dicom. Extra arguments go to `radhub demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# the shared test data: ../shared/data beside the checkout, else /work/shared/data (as scripts/test.sh)
if [ -z "${RADHUB_SHARED_DATA:-}" ] && [ -z "${RADHUB_DEMO_DATA:-}" ]; then
  for d in "$PWD/../shared/data" /work/shared/data; do
    if [ -d "$d" ]; then export RADHUB_SHARED_DATA="$(cd "$d" && pwd)"; break; fi
  done
fi
exec .venv/bin/radhub demo "$@"
