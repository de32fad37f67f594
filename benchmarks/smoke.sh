#!/usr/bin/env bash
# Seconds-long smoke runs of every benchmark, so that the tools cannot rot.
# CI calls this after the tests (scripts/test.sh). It installs nothing: a
# benchmark whose comparison server (e.g. Orthanc) is absent runs on radhub
# only and says so. One command per line; add yours below.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
SMOKE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/radhub-bench-smoke.XXXXXX")
trap 'rm -rf "$SMOKE_DIR"' EXIT

"$PY" -m benchmarks.archive run --smoke --auth both --root "$SMOKE_DIR/archive"
"$PY" -m benchmarks.radiomics --smoke
"$PY" -m benchmarks.viewer run --smoke
"$PY" -m benchmarks.send_page --smoke
