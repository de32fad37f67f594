#!/usr/bin/env bash
# Set up radhub and start it on the embedded default (SQLite + files in ./radhub-data)
# with the demo data from ../shared/data/dicom. Extra arguments go to `radhub demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/radhub demo "$@"
