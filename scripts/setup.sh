#!/usr/bin/env bash
# Install radhub and what it needs on a Debian machine (idempotent).
#   - system packages: dcmtk (DICOM peers used by the tests)
#   - a virtual environment in .venv with radhub and its test dependencies
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for tool in storescu echoscu findscu movescu getscu storescp; do
  [ -x "/usr/bin/$tool" ] || { need_apt+=(dcmtk); break; }
done
if [ "${RADHUB_WITH_BROWSER:-0}" = "1" ] && [ ! -x /usr/bin/chromium ]; then
  need_apt+=(chromium chromium-driver)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "setup: apt-get install ${need_apt[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install ${need_apt[*]} (sudo apt-get install ${need_apt[*]})" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test]"
echo "setup: radhub installed in .venv ($(.venv/bin/python -c 'import radhub; print(radhub.__version__)'))" >&2
