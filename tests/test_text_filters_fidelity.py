"""Same kept rows as DataFlow's per-row logic, with the same config, on the same seeded corpus."""

import pytest
from test_text_dataflow_ref import FILTERS, synthetic_texts
from test_text_helpers import run_op

from operators.core.registry import get

pytestmark = pytest.mark.usefixtures("text_engine")

CORPUS = synthetic_texts(3000, seed=7)

# Extra configs that move the thresholds into the corpus's range, so both outcomes occur.
VARIANTS = [
    ("WordNumberFilter", {"min_words": 5, "max_words": 60}),
    ("SentenceNumberFilter", {"min_sentences": 2, "max_sentences": 6}),
    ("CharNumberFilter", {"threshold": 40}),
    ("MeanWordLengthFilter", {"min_length": 4, "max_length": 5}),
    ("CapitalWordsFilter", {"threshold": 0.05}),
    ("UniqueWordsFilter", {"threshold": 0.5}),
    ("AlphaWordsFilter", {"threshold": 0.9}),
    ("StopWordFilter", {"threshold": 0.1}),
    ("BlocklistFilter", {"threshold": 0}),
    ("IDCardFilter", {"threshold": 1}),
    ("NoPuncFilter", {"threshold": 8}),
    ("LineWithJavascriptFilter", {"threshold": 6}),
    ("LineStartWithBulletpointFilter", {"threshold": 0.2}),
    ("LineEndWithEllipsisFilter", {"threshold": 0.1}),
    ("SymbolWordRatioFilter", {"threshold": 0.05}),
    ("CurlyBracketFilter", {"threshold": 0.005}),
    ("WatermarkFilter", {"watermarks": ["Copy(right|cat)", "Confidential"]}),
]
CASES = [(name, {}) for name in FILTERS] + VARIANTS


@pytest.mark.parametrize(("name", "config"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_same_kept_rows_as_dataflow(name: str, config: dict) -> None:
    ref, _ = FILTERS[name]
    ref_config = {
        ("watermarks" if k == "watermarks" else k): (tuple(v) if isinstance(v, list) else v) for k, v in config.items()
    }
    expected = [i for i, t in enumerate(CORPUS) if ref(t, **ref_config)]
    kept, rejected, _ = run_op(get(name)(**config), CORPUS)
    assert len(kept) + len(rejected) == len(CORPUS)
    diff = sorted(set(kept) ^ set(expected))
    assert not diff, f"{name} {config}: {len(diff)} rows differ, e.g. {[CORPUS[i] for i in diff[:3]]!r}"
    # the corpus must exercise both outcomes, or the comparison proves little
    assert 0 < len(kept) < len(CORPUS), f"{name} {config}: kept {len(kept)} of {len(CORPUS)}"
