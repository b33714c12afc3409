"""Benchmark contamination filter: drops questions that share too many word n-grams with a benchmark.

Training on benchmark questions inflates evaluation scores, so synthesised and collected questions
are checked against a list of benchmark questions (package data by default). Texts are lower-cased
and reduced to alphanumeric words; a question's contamination is the share of its distinct word
n-grams found in any benchmark question (exact match after normalisation counts as 1.0, so short
questions with fewer than n words are still caught). All of it is one SQL join over n-gram lists.
"""

import json
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import Field

from operators.core.contract import Kind, Operator, OperatorContext, OperatorError, quote_ident
from operators.core.registry import register
from operators.core.rowids import ID
from operators.core.sql_ops import TextConfig

DEFAULT_BENCHMARK = Path(__file__).parent / "data" / "benchmark_questions.jsonl"


def words_sql(col: str) -> str:
    cleaned = f"regexp_replace(lower({col}), '[^a-z0-9]+', ' ', 'g')"
    return f"list_filter(string_split(trim({cleaned}), ' '), lambda w: w <> '')"


def ngrams_sql(words: str, n: int) -> str:
    return (
        f"list_distinct(list_transform(range(1, greatest(len({words}) - {n} + 2, 1)), "
        f"lambda i: array_to_string({words}[i:i + {n - 1}], ' ')))"
    )


def load_benchmark(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise OperatorError(f"cannot read benchmark question list {path}: {exc.strerror}") from None
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)["question"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise OperatorError(f"{path}, line {i}: expected a JSON object with a 'question' field") from None
        out.append(str(q))
    return out


class ContaminationConfig(TextConfig):
    input_key: str = "instruction"
    benchmark_path: str | None = None  # JSONL with a "question" field; default: the shipped list
    n: int = Field(default=5, ge=1, le=32)
    max_overlap: float = Field(default=0.5, ge=0.0, le=1.0)  # reject at or above this share of n-grams


@register
class NgramContaminationFilter(Operator):
    """Drops questions whose word n-grams overlap a benchmark question list by ``max_overlap`` or more."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = ContaminationConfig
    domain = "reasoning"
    tags = ("contamination", "benchmark", "ngram", "decontamination", "filter")

    def input_columns(self) -> list[str]:
        return [self.config.input_key]

    def output_columns(self) -> list[str]:
        return []

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        con, src = ctx.con, quote_ident(ctx.source or "")
        path = Path(c.benchmark_path) if c.benchmark_path else DEFAULT_BENCHMARK
        con.execute("SELECT 1").fetchall()  # finish any pending result: register() refuses to run beside one
        con.register("__bench_in", pa.table({"q": load_benchmark(path)}))
        w = words_sql("q")
        con.execute(f"CREATE TABLE __bench_text AS SELECT DISTINCT array_to_string({w}, ' ') AS t FROM __bench_in")
        con.execute(f"CREATE TABLE __bench_ngrams AS SELECT DISTINCT unnest({ngrams_sql(w, c.n)}) AS g FROM __bench_in")
        con.unregister("__bench_in")
        col = quote_ident(c.input_key)
        wc = words_sql(col)
        con.execute(f"""CREATE TABLE __overlap AS
            WITH grams AS (SELECT {ID}, {ngrams_sql(wc, c.n)} AS gs, array_to_string({wc}, ' ') AS t FROM {src}),
            hits AS (SELECT {ID}, count(*) AS h FROM (SELECT {ID}, unnest(gs) AS g FROM grams)
                     WHERE g IN (SELECT g FROM __bench_ngrams) GROUP BY ALL)
            SELECT gr.{ID}, CASE WHEN gr.t IN (SELECT t FROM __bench_text) AND gr.t <> '' THEN 1.0
                                 ELSE coalesce(h.h, 0) / greatest(len(gr.gs), 1) END AS __overlap
            FROM grams gr LEFT JOIN hits h USING ({ID})""")
        joined = f"SELECT s.*, o.__overlap FROM {src} s JOIN __overlap o USING ({ID})"
        keep = f"__overlap < {float(c.max_overlap)!r}"
        con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT * EXCLUDE (__overlap) FROM ({joined}) WHERE {keep}"
        )
        con.execute(f"""CREATE VIEW {quote_ident(ctx.rejected)} AS SELECT * EXCLUDE (__overlap),
            'NgramContaminationFilter: ' || round(__overlap * 100, 1)::VARCHAR || '% of {c.n}-grams in benchmark'
            AS _reason, __overlap AS _benchmark_overlap FROM ({joined}) WHERE NOT ({keep})""")
        n_bench = con.execute("SELECT count(*) FROM __bench_text").fetchall()[0][0]
        return {"benchmark_questions": int(n_bench), "benchmark": str(path)}
