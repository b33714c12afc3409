# ruff: noqa: RUF001  (confusable characters are test input on purpose)
"""The C text kernels against Python's own str methods, row by row, on crafted and random unicode.

Every kernel is called the way the filters call it (a DuckDB function over a real table), so the
Arrow hand-over, NULLs and the Python answer for rows with U+0130/U+03A3 are exercised too.
"""

import os
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from test_text_dataflow_ref import _paragraphs, synthetic_texts

from operators.core.contract import OperatorError
from operators.general_text import native
from operators.general_text.heuristics_content import HTML_ENTITIES
from operators.general_text.wordlists import load_list

REPO = Path(__file__).resolve().parents[1]


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _symbols(t: str) -> float | None:
    return _ratio(t.count("#") + t.count("...") + t.count("…"), len(re.findall(r"\w+|[^\w\s]+", t)))


def _ellipsis(t: str) -> float | None:
    lines = _paragraphs(t)
    return _ratio(sum(x.rstrip().endswith(("...", "…")) for x in lines), len(lines))


STOP = load_list(None, "stopwords_en.txt")
STOP_SET = set(STOP)

# metric -> Python's definition (DataFlow's per-row expression)
PYTHON: dict[str, Callable[[str], Any]] = {
    "words": lambda t: len(t.split()),
    "mean_word_length": lambda t: _ratio(sum(map(len, t.split())), len(t.split())),
    "char_number": lambda t: len(t.strip().replace(" ", "").replace("\n", "").replace("\t", "")),
    "sentences": lambda t: len(re.findall(r"\b[^.!?\n]+[.!?]*", t)),
    "symbol_ratio": _symbols,
    "capital_ratio": lambda t: (sum(map(str.isupper, t.split())) / len(t.split())) if t.split() else 0.0,
    "unique_ratio": lambda t: _ratio(len(set(t.lower().split())), len(t.split())),
    "ellipsis_ratio": _ellipsis,
    "curly_ratio": lambda t: (t.count("{") + t.count("}")) / max(len(t), 1),
    "html_entity": lambda t: int(re.search("[&＆](?:" + "|".join(HTML_ENTITIES) + ")", t) is not None),
}

CRAFTED = [
    "",
    " ",
    "\n",
    "\t\n \u3000\xa0",
    "a",
    "A",
    "_",
    "...",
    "…",
    ". . .",
    "a...\n",
    "x ...  \n\ny…\u3000",
    "Hello World. NASA is OK...",
    "ΟΔΟΣ Οδός ΣΑΣ σας",
    "İstanbul İSTANBUL istanbul",
    "ǅemal ǄEMAL ǆemal",
    "Ⓐⓑ ⒶⒷ ABC123 123 _X_ ÉCOLE école",
    "数据流是一个数据准备系统。它可以清洗文本！它支持中文吗？支持。",
    "a.b!c?d\ne",
    "!!!",
    "?a",
    "word,word;word",
    "__init__ x_y",
    "#tag ## ###",
    "The end.\n\n\n",
    "<div>Tom &amp; Jerry</div>&nbsp;<p>more</p>",
    "def f(x):\n    return {x: x}\n",
    "a\x1cb\x1dc\x1ed\x1fe\x85f\u2028g\u2029h\u202fi\u205fj",
    "\u200b\u200bzero width",
    "🙂 emoji 🙂🙂 ok",
    "ﬁnance ß STRASSE straße",
    "&amp;&＆lt；&&nbs ＆ndash &ap",
    "{{x}}é{",
    "{",
    "ㄱ한국어 テスト Ｆｕｌｌｗｉｄｔｈ ＡＢＣ",
    "x" * 5000,
    "word " * 3000,
    # a multi-byte character, a token or a run of dots straddling a 16- or 64-byte block edge
    *[
        pad * k + tail
        for k in (13, 14, 15, 16, 61, 62, 63, 64, 127)
        for pad in ("a", "A", " ")
        for tail in ("......", "é ÉÉ", "\u3000x", "…#", "ΣΑΣ", "ABC def", ". . .", "数据 x")
    ],
]

POOL = [
    *"aAzZ09_ .!?,;:#…&{}\n\t\r\xa0\u3000\u2003\x1c",
    "Σ",
    "σ",
    "ς",
    "İ",
    "ı",
    "ǅ",
    "Ǆ",
    "ǆ",
    "Ⓐ",
    "ⓐ",
    "É",
    "é",
    "ß",
    "ẞ",
    "ﬁ",
    "数",
    "据",
    "한",
    "Ｆ",
    "ｆ",
    "🙂",
    "\u0301",
    "\u200b",
    "١",
    "Ⅻ",
    "ⅻ",
    "ǈ",
    "ꭰ",
    "Ꭰ",
    "ﬀ",
    "ŉ",
    "\u0345",
    "Ω",
    "ω",
    "K",
    "Å",
    "＆",
    "amp",
    "nbsp",
    "lt",
    "...",
    "..",
]


def random_texts(n: int, seed: int, longest: int = 40) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(POOL) for _ in range(rng.randint(0, longest))) for _ in range(n)]


# short texts hit every class at the edges; long ones put multi-byte characters, tokens and '.'
# runs across the 16- and 64-byte blocks the kernels work in
TEXTS: list[str | None] = [
    *CRAFTED,
    None,
    *random_texts(3000, seed=11),
    *random_texts(600, seed=12, longest=400),
    *[t for t in synthetic_texts(1500, seed=3) if t is not None],
]


@pytest.fixture(scope="module")
def con() -> Any:
    os.environ["DATAFLOW_NATIVE"] = "require"
    try:
        assert native.enabled()
        c = duckdb.connect()
        native.register(c)
        c.execute("CREATE TABLE t (i INTEGER, x VARCHAR)")
        c.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(TEXTS)))
        yield c
    finally:
        os.environ.pop("DATAFLOW_NATIVE", None)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return a == b  # exact: the kernels divide the same integers Python divides


@pytest.mark.parametrize("metric", sorted(PYTHON))
def test_kernel_equals_python(con: Any, metric: str) -> None:
    got = dict(con.execute(f"SELECT i, df_{metric}(x) FROM t").fetchall())
    bad = [
        (TEXTS[i], got[i], PYTHON[metric](TEXTS[i]))
        for i in range(len(TEXTS))
        if TEXTS[i] is not None and not _same(got[i], PYTHON[metric](TEXTS[i]))
    ]
    assert not bad, f"df_{metric}: {len(bad)} rows differ, e.g. (text, kernel, python) {bad[:3]!r}"
    assert got[TEXTS.index(None)] is None


def test_word_set_count_equals_python(con: Any) -> None:
    expr = native.count_in("x", STOP)
    native.register(con)
    got = dict(con.execute(f"SELECT i, {expr} FROM t").fetchall())
    for i, t in enumerate(TEXTS):
        if t is not None:
            assert got[i] == sum(w in STOP_SET for w in t.lower().split()), repr(t)


def test_special_lowercase_rows_take_pythons_answer(con: Any) -> None:
    # 'ΣΑΣ'.lower() is 'σας' (final sigma) and 'İ'.lower() is two code points: the kernel flags these
    texts = ["ΣΑΣ σας", "İx i̇x", "ΟΔΟΣ οδος οδοσ"]
    got = [con.execute("SELECT df_unique_ratio(?)", [t]).fetchall()[0][0] for t in texts]
    assert got == [PYTHON["unique_ratio"](t) for t in texts] == [0.5, 0.5, 2 / 3]


def test_kernels_run_on_duckdb_threads_over_a_large_table(con: Any) -> None:
    con.execute("SET threads = 2")
    n = con.execute(
        "SELECT sum(df_words(x)) FROM (SELECT 'one two three ' || i::VARCHAR AS x FROM range(300000) r(i))"
    ).fetchall()[0][0]
    assert n == 4 * 300_000


def _child(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )


PROBE = (
    "from operators.general_text import native; from operators.core.registry import get; "
    "import operators.builtin as b; b.register_all(); "
    "print('enabled', native.enabled()); print(get('UniqueWordsFilter')().metrics_sql()['unique_ratio'][:40])"
)


def test_without_a_compiler_filters_fall_back_to_sql(tmp_path: Path) -> None:
    res = _child(
        {"DATAFLOW_NATIVE_CACHE": str(tmp_path), "CC": str(tmp_path / "no-such-cc"), "DATAFLOW_NATIVE": "auto"}, PROBE
    )
    assert res.returncode == 0, res.stderr
    assert "enabled False" in res.stdout and "df_unique_ratio" not in res.stdout
    assert "native text kernels unavailable" in res.stderr and "no-such-cc" in res.stderr


def test_require_without_a_compiler_is_a_clear_error(tmp_path: Path) -> None:
    code = (
        "from operators.general_text import native\n"
        "try:\n    native.enabled()\nexcept Exception as e:\n    print(type(e).__name__, e)"
    )
    res = _child(
        {"DATAFLOW_NATIVE_CACHE": str(tmp_path), "CC": str(tmp_path / "no-such-cc"), "DATAFLOW_NATIVE": "require"}, code
    )
    assert OperatorError.__name__ in res.stdout and "C compiler" in res.stdout, res.stdout + res.stderr


def test_fresh_cache_builds_the_library_once(tmp_path: Path) -> None:
    res = _child({"DATAFLOW_NATIVE_CACHE": str(tmp_path), "DATAFLOW_NATIVE": "auto"}, PROBE)
    assert res.returncode == 0, res.stderr
    assert "enabled True" in res.stdout and "df_unique_ratio" in res.stdout
    built = sorted(p.name for p in tmp_path.iterdir())
    assert any(n.startswith("textkern-") for n in built) and any(n.startswith("unicode-") for n in built)
    assert not [n for n in built if n.endswith(".tmp")]
    again = _child({"DATAFLOW_NATIVE_CACHE": str(tmp_path), "DATAFLOW_NATIVE": "auto"}, PROBE)
    assert "enabled True" in again.stdout and sorted(p.name for p in tmp_path.iterdir()) == built


def test_one_very_long_row_equals_python(con: Any) -> None:
    # scratch space follows the tokens of the longest row; 3 MB of text in one value
    rng = random.Random(5)
    words = ["Alpha", "beta", "GAMMA", "數據", "the", "a...", "x#y", "\u3000", "unusually-long-token"]
    for extra in ([], ["İi"]):  # without / with a row the kernel hands to Python
        text = " ".join(rng.choice(words + extra) for _ in range(400_000))
        for metric in ("words", "unique_ratio", "capital_ratio", "symbol_ratio", "char_number", "sentences"):
            got = con.execute(f"SELECT df_{metric}(?)", [text]).fetchall()[0][0]
            assert got == PYTHON[metric](text), (metric, extra)


def test_unusable_home_cache_builds_under_the_temp_dir(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".cache").write_text("a file where the cache folder would go")  # unusable even for root
    code = "from operators.general_text.native import build; print(build.cache_dir())"
    res = _child({"HOME": str(home), "XDG_CACHE_HOME": "", "DATAFLOW_NATIVE_CACHE": ""}, code)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().startswith(tempfile.gettempdir()), res.stdout
