"""Perplexity, IFD (Superfiltering) and embeddings from the embedded model, on a real DuckDB, and
prompt log-probabilities from a real llama.cpp server on 127.0.0.1.

The local log-probabilities are checked against llama.cpp's own sampler: the log-probability our
forward pass gives the token the model generates must equal the one llama.cpp reports for it.
"""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from operators.general_text.dedup_semantic import SemDeduplicateFilter
from operators.scoring.local import _scorer, continuation_logprobs, resolve_model_path
from operators.scoring.logprobs import _endpoint_logprobs
from operators.scoring.source import ModelSourceConfig
from operators.selection.ann import kcenter_greedy_exact
from operators.selection.embedding_step import EmbeddingGenerator
from operators.selection.kcenter import KCenterGreedyFilter
from operators.selection.semdedup_ann import ANNSemDeduplicateFilter
from operators.text_pt.perplexity import PerplexityFilter, PerplexitySampleEvaluator
from operators.text_sft.superfiltering import SuperfilteringFilter, SuperfilteringSampleEvaluator
from tests.helpers import run_steps

FLUENT = "The cat sat on the mat and looked out of the window at the rain."
NOISE = "qx zvv jjk wpq ploof zzr kkq vvx qqj wwz fffp xxq"


def test_local_logprobs_agree_with_llamacpp_sampler():
    llm = _scorer(str(resolve_model_path(None)), 512)
    res = llm.create_completion("The cat sat on", max_tokens=1, logprobs=3, temperature=0)
    top = res["choices"][0]["logprobs"]["top_logprobs"][0]
    for token, lp in top.items():
        ours = continuation_logprobs(None, 512, "The cat sat on", token)
        assert len(ours) == 1 and ours[0] == pytest.approx(float(lp), abs=1e-3)


def test_perplexity_and_ifd_steps(tmp_path: Path):
    rows = [{"raw_content": FLUENT}, {"raw_content": NOISE}, {"raw_content": ""}]
    out = run_steps(tmp_path, rows, [PerplexitySampleEvaluator(), PerplexityFilter(min_score=1, max_score=200)])
    ppl = {r["raw_content"]: r["PerplexityScore"] for r in out["s0"]["table"]}
    assert ppl[""] is None and 1 < ppl[FLUENT] < ppl[NOISE]
    assert ppl[FLUENT] == pytest.approx(math.exp(-continuation_logprobs(None, 512, "", FLUENT).mean()))
    kept = [r["raw_content"] for r in out["s1"]["table"]]
    rejected = {r["raw_content"]: r["_reason"] for r in out["s1"]["rejected"]}
    assert (ppl[NOISE] > 200) == (NOISE in rejected) and FLUENT in kept
    assert "nothing to score" in rejected[""]

    sentence = "the quick brown fox jumps over the lazy dog"
    sft = [
        {"instruction": f"Repeat this sentence exactly: {sentence}", "output": sentence},
        {"instruction": "What is the capital of France?", "output": sentence},
    ]
    res = run_steps(tmp_path / "ifd", sft, [SuperfilteringSampleEvaluator(), SuperfilteringFilter()])
    ifd = [r["SuperfilteringScore"] for r in res["s0"]["table"]]
    assert 0 < ifd[0] < 1 and ifd[0] < ifd[1]
    assert [r["output"] for r in res["s1"]["table"]] == [r["output"] for r, s in zip(sft, ifd, strict=True) if s <= 1]


def test_embedding_step_feeds_ann_dedup_and_kcenter(tmp_path: Path):
    texts = [
        "How do I reset my router password?",
        "Best pasta recipe with tomatoes and basil",
        "How do I reset my router password?",
        "Explain the theory of relativity in simple words",
        "Tips for training a puppy to sit",
    ]
    rows = [{"text": t, "n": i} for i, t in enumerate(texts)]
    ops = [
        EmbeddingGenerator(),
        ANNSemDeduplicateFilter(embedding_key="embeddings", eps=0.02),
        KCenterGreedyFilter(embedding_key="embeddings", num_samples=2, seed=1),
    ]
    out = run_steps(tmp_path, rows, ops)
    vecs = np.asarray([r["embeddings"] for r in out["s0"]["table"]], dtype=np.float32)
    assert vecs.shape[0] == 5 and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-4)
    exact = run_steps(tmp_path / "exact", rows, [SemDeduplicateFilter(eps=0.02)])
    assert sorted(r["n"] for r in out["s1"]["table"]) == sorted(r["n"] for r in exact["s0"]["table"])
    assert [r["n"] for r in out["s1"]["rejected"]] == [2]
    kept = [r["n"] for r in out["s1"]["table"]]
    ref, _ = kcenter_greedy_exact(vecs[kept], 2, seed=1)
    assert sorted(r["n"] for r in out["s2"]["table"]) == sorted(kept[i] for i in ref)
    assert all("nearest center" in r["_reason"] for r in out["s2"]["rejected"])


def test_endpoint_scoring_against_llama_server(tmp_path: Path, llama_scoring_server: str):
    """Prompt log-probabilities from the llama.cpp server select exactly the continuation's tokens.

    The values are not compared: llama-cpp-python 0.3.36 reports each echoed prompt token's
    log-probability from the logits one position late (its generated-token log-probabilities are
    right, see the first test), so use vLLM or another server with correct ``echo`` for scores.
    """
    cfg = ModelSourceConfig(base_url=llama_scoring_server, model="smollm2")
    for prefix, text in [("", FLUENT), ("Repeat: hello there. ", "hello there"), ("Q: 2+2? A:", " 4")]:
        remote = _endpoint_logprobs(cfg, prefix, text)
        local = continuation_logprobs(None, 512, prefix, text)
        assert len(remote) == len(local) > 0 and np.isfinite(remote).all()
    step = PerplexitySampleEvaluator(base_url=llama_scoring_server, model="smollm2")
    out = run_steps(tmp_path, [{"raw_content": FLUENT}, {"raw_content": ""}], [step])["s0"]
    scores = [r["PerplexityScore"] for r in out["table"]]
    assert scores[0] > 1 and scores[1] is None
    down = PerplexitySampleEvaluator(base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(Exception, match=re.escape("cannot reach http://127.0.0.1:9/v1/completions")):
        run_steps(tmp_path / "down", [{"raw_content": FLUENT}], [down])
