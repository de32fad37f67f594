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

# the browser side, from the npm registry (not committed): the OHIF Viewer's prebuilt dist
# and tus-js-client (+ js-sha256) for the upload page, unpacked into .web/ where radhub finds them
OHIF_VERSION=3.11.1
TUS_VERSION=4.3.1
SHA256_VERSION=0.11.1
if command -v npm >/dev/null 2>&1; then
  mkdir -p .web
  fetch() {  # fetch NAME VERSION DIR: npm pack (the package's own tarball, none of its dependencies)
    local name=$1 version=$2 dir=$3
    if [ -f ".web/$dir/.version" ] && [ "$(cat ".web/$dir/.version")" = "$version" ]; then return 0; fi
    echo "setup: npm pack $name@$version" >&2
    local tmp; tmp=$(mktemp -d)
    (cd "$tmp" && npm pack -q "$name@$version" >/dev/null 2>&1) || { echo "setup: npm pack $name failed" >&2; rm -rf "$tmp"; return 1; }
    rm -rf ".web/$dir" && mkdir -p ".web/$dir"
    tar xzf "$tmp"/*.tgz -C ".web/$dir" --strip-components=1
    echo "$version" > ".web/$dir/.version"
    rm -rf "$tmp"
  }
  fetch @ohif/app "$OHIF_VERSION" ohif || true
  fetch tus-js-client "$TUS_VERSION" tus || true
  fetch js-sha256 "$SHA256_VERSION" sha256 || true  # checksums where the browser has no Web Crypto (plain http)
else
  echo "setup: npm not found: radhub runs without the OHIF viewer and the upload page's client (install Node.js and rerun)" >&2
fi
echo "setup: radhub installed in .venv ($(.venv/bin/python -c 'import radhub; print(radhub.__version__)'))" >&2
