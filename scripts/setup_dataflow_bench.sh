#!/usr/bin/env bash
# Creates .venv-dataflow: open-dataflow 1.0.13 (the real DataFlow package) for bench/pipeline.py's
# baseline. --no-deps because its full dependency set pulls torch, vllm and friends; the rule filters
# and FileStorage need only the pure-Python packages below. torch is stubbed by the bench itself
# (its CLI helpers import it; no filter of the pipeline uses it). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv-dataflow/bin/python ] || "$PY" -m venv .venv-dataflow
.venv-dataflow/bin/python -m pip install -q --upgrade pip
.venv-dataflow/bin/python -m pip install -q --no-deps "open-dataflow==1.0.13"
# open-dataflow pins pandas 2.3.3, pyarrow 20 and numpy<2; rich, colorama, typer: its registry and CLI helpers
.venv-dataflow/bin/python -m pip install -q "numpy<2" "pandas==2.3.3" "pyarrow==20.0.0" nltk datasketch tqdm loguru \
    colorlog appdirs datasets rich colorama typer
echo "open-dataflow: $(.venv-dataflow/bin/python -m pip show open-dataflow | grep -i '^version')"
