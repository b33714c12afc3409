#!/usr/bin/env bash
# System packages some tests need beyond the Python install (run by .ci/run after scripts/install.sh).
# Idempotent: installs only what is missing. The Celery test starts redis-server itself on 127.0.0.1
# (the package's service is never started or enabled here).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "ci extras: redis-server $(redis-server --version | awk '{print $3}')"
