"""ANN selection against the exact algorithms, and the selection steps on embedding columns of a
real DuckDB snapshot (hand-made vectors, no model)."""

from pathlib import Path

import numpy as np
import pytest

from operators.core.contract import OperatorError
from operators.general_text.dedup_resolve import greedy_resolve
from operators.general_text.dedup_semantic import similar_pairs_exact
from operators.selection.ann import kcenter_greedy, kcenter_greedy_exact, knn_pairs
from operators.selection.kcenter import KCenterGreedyFilter
from operators.selection.semdedup_ann import ANNSemDeduplicateFilter
from operators.selection.vendi import VendiDatasetEvaluator, vendi_score
from tests.helpers import run_steps


def clustered(n: int, d: int = 32, seed: int = 0, dup_share: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((20, d))
    x = centers[rng.integers(20, size=n)] + 0.5 * rng.standard_normal((n, d))
    dup = rng.random(n) < dup_share
    dup[0] = False
    src = (rng.random(n) * np.arange(n)).astype(int)
    x[dup] = x[src[dup]] + 0.001 * rng.standard_normal((int(dup.sum()), d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize(("n", "k"), [(500, 50), (3000, 300), (3000, 5)])
def test_kcenter_ann_selects_what_the_exact_algorithm_selects(n: int, k: int):
    emb = clustered(n)
    ann, ann_d = kcenter_greedy(emb, k, seed=3)
    exact, exact_d = kcenter_greedy_exact(emb, k, seed=3)
    assert len(ann) == k == len(set(ann.tolist()))
    assert len(set(ann.tolist()) & set(exact.tolist())) >= 0.95 * k
    assert ann_d.max() == pytest.approx(exact_d.max(), rel=0.05)


def test_kcenter_edges():
    emb = clustered(10)
    assert sorted(kcenter_greedy(emb, 10)[0].tolist()) == list(range(10))
    assert len(kcenter_greedy(emb, 0)[0]) == 0


def test_ann_dedup_pairs_find_the_exact_duplicates():
    emb = clustered(4000, dup_share=0.2)
    a, b, d = knn_pairs(emb, 16)
    close = d <= 0.01
    ann = greedy_resolve(len(emb), a[close], b[close])
    ea, eb = similar_pairs_exact(emb, 0.01)
    exact = greedy_resolve(len(emb), ea, eb)
    assert (exact != -1).sum() > 500
    assert np.array_equal(ann != -1, exact != -1)
    assert np.allclose(d, 1 - (emb[a] * emb[b]).sum(axis=1), atol=1e-5)  # distances are exact


def test_vendi_score_bounds():
    eye = np.eye(8, dtype=np.float32)
    assert vendi_score(eye) == pytest.approx(8)
    assert vendi_score(np.repeat(eye[:1], 5, axis=0)) == pytest.approx(1)
    assert 1 < vendi_score(clustered(200)) < 200


def test_selection_steps_on_an_embedding_column(tmp_path: Path):
    emb = clustered(60, d=8, dup_share=0.3, seed=5)
    rows = [{"n": i, "vec": v.tolist()} for i, v in enumerate(emb)]
    ops = [
        ANNSemDeduplicateFilter(embedding_key="vec", eps=0.01),
        KCenterGreedyFilter(embedding_key="vec", num_samples=10, seed=2),
        VendiDatasetEvaluator(embedding_key="vec"),
    ]
    out = run_steps(tmp_path, rows, ops)
    ea, eb = similar_pairs_exact(emb, 0.01)
    dup = greedy_resolve(len(emb), ea, eb)
    kept = [r["n"] for r in out["s0"]["table"]]
    assert kept == [i for i in range(60) if dup[i] == -1] and len(kept) < 60
    assert all(r["_reason"].startswith("ANNSemDeduplicateFilter: cosine similarity") for r in out["s0"]["rejected"])
    ref, _ = kcenter_greedy_exact(emb[kept], 10, seed=2)
    assert sorted(r["n"] for r in out["s1"]["table"]) == sorted(kept[i] for i in ref)
    assert len(out["s1"]["rejected"]) == len(kept) - 10
    assert out["s2"]["_stats"][0]["VendiScore"] == pytest.approx(
        vendi_score(emb[sorted(kept[i] for i in ref)]), rel=1e-3
    )
    bad = [{"n": 0, "vec": [1.0, 0.0]}, {"n": 1, "vec": [1.0, 0.0, 0.0]}]
    with pytest.raises(OperatorError, match="embeddings have different sizes"):
        run_steps(tmp_path / "bad", bad, [KCenterGreedyFilter(embedding_key="vec", num_samples=1)])


def test_mmd_matches_the_full_kernel_formula_and_runs_against_a_reference_file(tmp_path: Path):
    import json

    from operators.selection.mmd import MMDDatasetEvaluator, mmd

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((300, 4)), rng.standard_normal((200, 4)) + 0.5

    def k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / 2)

    biased = k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()
    assert mmd(x, y, 1.0, True) == pytest.approx(np.sqrt(biased), rel=1e-6)
    kxx, kyy = k(x, x), k(y, y)
    unbiased = (
        (kxx.sum() - np.trace(kxx)) / (300 * 299) + (kyy.sum() - np.trace(kyy)) / (200 * 199) - 2 * k(x, y).mean()
    )
    assert mmd(x, y, 1.0, False) == pytest.approx(np.sqrt(max(unbiased, 0)), rel=1e-6)
    assert mmd(x, x, 1.0, True) == pytest.approx(0, abs=1e-6)

    ref = tmp_path / "ref.jsonl"
    ref.write_text("".join(json.dumps({"input": f"Add {i} and {i}.", "output": str(2 * i)}) + "\n" for i in range(3)))
    rows = [
        {"instruction": "Write a poem about the sea.", "output": "Waves roll in."},
        {"instruction": "Add 5 and 5.", "output": "10"},
    ]
    out = run_steps(tmp_path / "run", rows, [MMDDatasetEvaluator(ref_path=str(ref), max_sample_num=2)])["s0"]
    stats = out["_stats"][0]
    assert stats["n_eval"] == 2 and stats["n_ref"] == 2 and stats["MMD"] > 0
    assert [r["instruction"] for r in out["table"]] == [r["instruction"] for r in rows]
    with pytest.raises(OperatorError, match="has no column"):
        run_steps(tmp_path / "bad", rows, [MMDDatasetEvaluator(ref_path=str(ref), ref_output_key="answer")])
