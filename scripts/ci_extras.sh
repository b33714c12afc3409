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
