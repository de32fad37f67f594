#!/usr/bin/env bash
# One command per figure: installs what is missing (Orthanc, PostgreSQL, dcmtk,
# radhub), then runs `python -m benchmarks.archive run "$@"` from the repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash benchmarks/archive/setup.sh
PY=${PYTHON:-python3}
if [ -x .venv/bin/python ]; then
  PY=.venv/bin/python
elif ! "$PY" -c "import radhub" >/dev/null 2>&1; then
  bash scripts/setup.sh
  PY=.venv/bin/python
fi
exec "$PY" -m benchmarks.archive run "$@"
