"""BLEU and CIDEr-D against a reference column, as set-wise DuckDB SQL (no Python per row).

Both metrics are n-gram counts over whitespace tokens (``str.split()``, as DataFlow's copies of the
COCO caption scorers do): each text and reference is unnested into (row, n, gram, count) once, and
the scores are joins and sums over that table, which DuckDB runs in parallel and out of core.

sacrebleu was considered for BLEU and not used: DataFlow's BleuScore is the COCO scorer's BLEU-1
(``compute_score()[0][0]``: clipped unigram precision with the 1e-15/1e-9 guards, times the brevity
penalty) on raw whitespace tokens, while sacrebleu computes BLEU-4 with its own tokeniser and
smoothing, a different number. The formula is four lines of SQL; tests compare it with DataFlow's scorer.
"""

from typing import Any, ClassVar, Literal

from pydantic import Field

from operators.core.contract import Kind, OpConfig, Operator, OperatorContext, quote_ident
from operators.core.registry import register
from operators.core.sql_ops import POS
from operators.general_text.textsql import words

TINY, SMALL = 1e-15, 1e-9  # the COCO scorer's guards, kept so scores match to the last digit


class ReferenceConfig(OpConfig):
    input_key: str = "text"
    input_reference_key: str = "reference"


class ReferenceMetric(Operator):
    """Subclasses write ``scores_sql(grams, lengths)`` (a SELECT of ``p`` and the score per row)."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    row_local: ClassVar[bool] = False  # CIDEr's document frequencies span the dataset
    domain = "general"
    max_n: ClassVar[int] = 1

    def input_columns(self) -> list[str]:
        return [self.config.input_key, self.config.input_reference_key]

    def output_columns(self) -> list[str]:
        return [self.config.output_key]

    def scores_sql(self, ctx: OperatorContext, grams: str, lengths: str) -> str:
        raise NotImplementedError

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c, src = self.config, quote_ident(ctx.source or "")
        grams, lengths = quote_ident(f"{ctx.target}__grams"), quote_ident(f"{ctx.target}__lengths")
        sides = (("t", quote_ident(c.input_key)), ("r", quote_ident(c.input_reference_key)))
        tokens = " UNION ALL ".join(
            f"SELECT {POS} AS p, '{side}' AS side, {words(col)} AS w FROM {src} "
            f"WHERE {quote_ident(c.input_key)} IS NOT NULL AND {quote_ident(c.input_reference_key)} IS NOT NULL"
            for side, col in sides
        )
        ctx.con.execute(f"CREATE TABLE {lengths} AS SELECT p, side, len(w) AS nw, w FROM ({tokens})")
        per_n = " UNION ALL ".join(
            f"SELECT p, side, {n} AS n, unnest(list_transform(range(1, greatest(len(w) - {n} + 2, 1)), "
            f"lambda i: array_to_string(w[i:i + {n - 1}], ' '))) AS g FROM {lengths}"
            for n in range(1, self.max_n + 1)
        )
        ctx.con.execute(f"CREATE TABLE {grams} AS SELECT p, side, n, g, count(*) AS c FROM ({per_n}) GROUP BY ALL")
        out = quote_ident(c.output_key)
        existing = set(ctx.columns())
        excl = f" EXCLUDE ({out})" if c.output_key in existing else ""
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT s.*{excl}, sc.score AS {out} FROM {src} s "
            f"LEFT JOIN ({self.scores_sql(ctx, grams, lengths)}) sc ON sc.p = s.{POS}"
        )
        return {}


class BleuConfig(ReferenceConfig):
    output_key: str = "BleuScore"
    n: int = Field(default=4, ge=1, le=10)  # DataFlow's n: the score it writes is BLEU-1 whatever n is
    eff: Literal["average", "shortest", "closest"] = "average"  # one reference: all three are its length
    special_reflen: float | None = None


@register
class BleuSampleEvaluator(ReferenceMetric):
    """Writes BleuScore: DataFlow's per-row BLEU (the COCO scorer's first, unigram, value with the
    brevity penalty) of ``input_key`` against ``input_reference_key``; NULL where either is NULL."""

    Config = BleuConfig
    tags = ("metric", "reference", "bleu")
    dataflow_note = "same COCO BLEU formula and whitespace tokens, computed in SQL for all rows at once"

    def scores_sql(self, ctx: OperatorContext, grams: str, lengths: str) -> str:
        reflen = "r.nw" if self.config.special_reflen is None else repr(float(self.config.special_reflen))
        ratio = f"((t.nw + {TINY!r}) / ({reflen} + {SMALL!r}))"
        return f"""
            SELECT t.p, (coalesce(m.correct, 0) + {TINY!r}) / (t.nw + {SMALL!r})
                   * CASE WHEN {ratio} < 1 THEN exp(1 - 1 / {ratio}) ELSE 1 END AS score
            FROM {lengths} t JOIN {lengths} r ON r.p = t.p AND r.side = 'r'
            LEFT JOIN (SELECT a.p, sum(least(a.c, b.c)) AS correct FROM {grams} a JOIN {grams} b
                       ON a.p = b.p AND a.g = b.g AND b.side = 'r' WHERE a.side = 't' GROUP BY a.p) m ON m.p = t.p
            WHERE t.side = 't'
        """


class CiderConfig(ReferenceConfig):
    output_key: str = "CiderScore"
    n: int = Field(default=4, ge=1, le=6)
    sigma: float = Field(default=6.0, gt=0)
    df_mode: Literal["corpus"] = "corpus"
    idf_path: str | None = None


@register
class CiderSampleEvaluator(ReferenceMetric):
    """Writes CiderScore: CIDEr-D of ``input_key`` against its reference, with document frequencies
    taken from the dataset's own references (all rows), so rare shared n-grams weigh more."""

    Config = CiderConfig
    tags = ("metric", "reference", "cider")
    dataflow_fidelity = "approximated"
    dataflow_note = (
        "document frequencies come from this dataset's references (all rows, ref_len = ln rows), not COCO's "
        "coco-val-df.p (a download); DataFlow's 'corpus' mode scores each row alone, where every weight is 0"
    )

    @property
    def max_n(self) -> int:  # type: ignore[override]
        return self.config.n

    def scores_sql(self, ctx: OperatorContext, grams: str, lengths: str) -> str:
        c = self.config
        return f"""
            WITH df AS (SELECT n, g, count(DISTINCT p) AS df FROM {grams} WHERE side = 'r' GROUP BY n, g),
            docs AS (SELECT ln(greatest(count(DISTINCT p), 1)) AS ref_len FROM {grams} WHERE side = 'r'),
            vec AS (SELECT x.p, x.side, x.n, x.g, x.c * (docs.ref_len - ln(greatest(1, coalesce(df.df, 0)))) AS v
                    FROM {grams} x CROSS JOIN docs LEFT JOIN df USING (n, g)),
            norms AS (SELECT p, side, n, sqrt(sum(v * v)) AS norm FROM vec GROUP BY ALL),
            lens AS (SELECT p, side, coalesce(sum(c) FILTER (WHERE n = 2), 0) AS len FROM {grams} GROUP BY ALL),
            dots AS (SELECT t.p, t.n, sum(least(t.v, r.v) * r.v) AS dot FROM vec t JOIN vec r
                     ON r.p = t.p AND r.n = t.n AND r.g = t.g AND r.side = 'r' WHERE t.side = 't' GROUP BY ALL),
            per_n AS (SELECT d.p, d.n, CASE WHEN nt.norm <> 0 AND nr.norm <> 0 THEN d.dot / (nt.norm * nr.norm)
                             ELSE d.dot END AS val
                      FROM dots d JOIN norms nt ON nt.p = d.p AND nt.n = d.n AND nt.side = 't'
                      JOIN norms nr ON nr.p = d.p AND nr.n = d.n AND nr.side = 'r')
            SELECT l.p, 10.0 * coalesce(sum(per_n.val), 0) / {int(c.n)}
                   * exp(-power(coalesce(lt.len, 0) - coalesce(lr.len, 0), 2) / (2 * {float(c.sigma)!r} ^ 2)) AS score
            FROM (SELECT DISTINCT p FROM {lengths}) l LEFT JOIN per_n ON per_n.p = l.p
            LEFT JOIN lens lt ON lt.p = l.p AND lt.side = 't' LEFT JOIN lens lr ON lr.p = l.p AND lr.side = 'r'
            GROUP BY l.p, lt.len, lr.len
        """
