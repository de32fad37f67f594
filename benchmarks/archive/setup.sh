#!/usr/bin/env bash
# Install what the archive benchmark needs on a Debian machine (idempotent):
#   Orthanc 1.10 + DICOMweb plugin + PostgreSQL index plugin, PostgreSQL, dcmtk.
# The Debian orthanc package starts a system Orthanc on 8042/4242 where
# services run; it is stopped so that it does not take CPU during the runs
# (the benchmark starts its own servers on free loopback ports).
set -euo pipefail
need=()
[ -x /usr/sbin/Orthanc ] || need+=(orthanc)
[ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || need+=(orthanc-dicomweb)
[ -e /usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so ] || need+=(orthanc-postgresql)
command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/dcmsend ] || need+=(dcmtk)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = "0" ] || SUDO="sudo"
  echo "benchmark setup: apt-get install ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet orthanc 2>/dev/null; then
  systemctl stop orthanc || true
fi
echo "benchmark setup: $(/usr/sbin/Orthanc --version 2>/dev/null | head -1), $(ls /usr/lib/postgresql 2>/dev/null | sed 's/^/PostgreSQL /' | head -1), dcmtk $(/usr/bin/dcmsend --version 2>/dev/null | head -1 | awk '{print $3}')" >&2
