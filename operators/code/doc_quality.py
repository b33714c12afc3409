"""DataFlow's DocQualityFilter as SQL: size, repetition, bracket, capitals and entropy rules.

Words are ``\\w+`` runs (Unicode letters, digits, underscore), lines are ``splitlines()`` lines, as
in DataFlow. Per-row statistics that need counting within a row (duplicate lines, duplicate
n-grams, unigram entropy) are computed by unnesting into (row, item) pairs and grouping, which
DuckDB does in parallel and out of core; rules whose threshold cannot reject anything (a maximum
fraction of 1.0, a minimum entropy of 0) are skipped, so the defaults cost one pass.
"""

from typing import Any, ClassVar

from operators.core.contract import Kind, OpConfig, Operator, OperatorContext, quote_ident
from operators.core.registry import register
from operators.core.rowids import ID

WORD_RE = r"[\p{L}\p{N}_]+"
LINE_SPLIT_RE = r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\x{2028}\x{2029}]"


Rule = tuple[str, str, str]  # (rule name, SQL keep condition, metric column)


def keep_sql(rules: list[Rule]) -> str:
    return " AND ".join(f"({r})" for _, r, _ in rules)


class DocQualityConfig(OpConfig):
    input_key: str = "text"
    min_num_chars: int = 1
    max_num_chars: int = 100_000
    min_num_words: int = 1
    max_num_words: int = 100_000
    max_frac_duplicate_lines: float = 1.0
    max_frac_duplicate_ngram: dict[int, float] = {}  # n (2..10) -> max fraction of duplicated n-grams
    max_frac_curly_bracket: float = 1.0
    max_frac_all_caps_words: float = 1.0
    min_entropy_unigram: float = 0.0


@register
class DocQualityFilter(Operator):
    """Drops documents failing DataFlow's document-quality rules; the reason names the first rule failed."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = DocQualityConfig
    domain = "code"
    tags = ("code", "document", "quality", "repetition", "heuristic")

    def input_columns(self) -> list[str]:
        return [self.config.input_key]

    def output_columns(self) -> list[str]:
        return []

    def stats(self, ctx: OperatorContext, every_metric: bool = False) -> tuple[str, dict[str, str], list[Rule]]:
        """The input joined with per-row statistics (``__<metric>`` columns), the metrics and the
        rules (name, SQL, metric); ``every_metric`` computes the skippable ones too (the evaluator
        writes them all, as DataFlow's does)."""
        c = self.config
        col, src = quote_ident(c.input_key), quote_ident(ctx.source or "")
        words = f"regexp_extract_all(coalesce({col}, ''), '{WORD_RE}')"
        ctes = [f"base AS (SELECT {ID}, coalesce({col}, '') AS t, {words} AS w FROM {src})"]
        joins, metrics = (
            [],
            {
                "chars": "length(b.t)",
                "words": "len(b.w)",
                "curly": "(length(b.t) - length(replace(replace(b.t, '{', ''), '}', ''))) / greatest(length(b.t), 1)",
                "caps": "len(list_filter(b.w, lambda x: length(x) > 1 AND x = upper(x) AND x <> lower(x))) "
                "/ greatest(len(b.w), 1)",
            },
        )
        if every_metric or c.max_frac_duplicate_lines < 1.0:
            ctes.append(self._dup_cte("dl", f"unnest(regexp_split_to_array(t, '{LINE_SPLIT_RE}'))", "trim(x)"))
            joins.append("dl")
            metrics["dup_lines"] = "coalesce(dl.frac, 0)"
        for n, limit in sorted(c.max_frac_duplicate_ngram.items()):
            if limit < 1.0:
                grams = (
                    f"unnest(list_transform(range(1, greatest(len(w) - {int(n)} + 2, 1)), "
                    f"lambda i: array_to_string(w[i:i + {int(n) - 1}], ' ')))"
                )
                ctes.append(self._dup_cte(f"ng{int(n)}", grams, "x", min_items=f"len(w) >= {int(n)}"))
                joins.append(f"ng{int(n)}")
                metrics[f"dup_{int(n)}gram"] = f"coalesce(ng{int(n)}.frac, 0)"
        if every_metric or c.min_entropy_unigram > 0:
            ctes.append(
                "ent AS (SELECT id, -sum(p * log2(p)) AS e FROM (SELECT id, count(*) / "
                "sum(count(*)) OVER (PARTITION BY id) AS p FROM (SELECT _id AS id, unnest(w) AS x FROM base) "
                "GROUP BY id, x) GROUP BY id)"
            )
            joins.append("ent")
            metrics["entropy"] = "coalesce(ent.e, 0)"
        join_sql = " ".join(f"LEFT JOIN {j} ON {j}.id = b.{ID}" for j in joins)
        stats_cols = ", ".join(f"{expr} AS __{name}" for name, expr in metrics.items())
        ctx.con.execute(
            f"CREATE OR REPLACE TABLE __doc_stats AS WITH {', '.join(ctes)} "
            f"SELECT b.{ID}, {stats_cols} FROM base b {join_sql}"
        )
        rules = [
            ("num_chars", f"__chars BETWEEN {int(c.min_num_chars)} AND {int(c.max_num_chars)}", "__chars"),
            ("num_words", f"__words BETWEEN {int(c.min_num_words)} AND {int(c.max_num_words)}", "__words"),
        ]
        if "dup_lines" in metrics:
            rules.append(("frac_duplicate_lines", f"__dup_lines <= {c.max_frac_duplicate_lines!r}", "__dup_lines"))
        for n, limit in sorted(c.max_frac_duplicate_ngram.items()):
            if limit < 1.0:
                m = f"__dup_{int(n)}gram"
                rules.append((f"frac_duplicate_{int(n)}gram", f"{m} <= {float(limit)!r}", m))
        rules += [
            ("frac_curly_bracket", f"__curly <= {c.max_frac_curly_bracket!r}", "__curly"),
            ("frac_all_caps_words", f"__caps <= {c.max_frac_all_caps_words!r}", "__caps"),
        ]
        if "entropy" in metrics:
            rules.append(("entropy_unigram", f"__entropy >= {c.min_entropy_unigram!r}", "__entropy"))
        joined = f"SELECT s.*, d.* EXCLUDE ({ID}) FROM {src} s JOIN __doc_stats d USING ({ID})"
        return joined, metrics, rules

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        joined, metrics, rules = self.stats(ctx)
        keep = keep_sql(rules)
        reason = (
            "CASE "
            + " ".join(
                f"WHEN NOT ({r}) THEN 'DocQualityFilter: {name}=' || round({m}, 4)::VARCHAR" for name, r, m in rules
            )
            + " END"
        )
        drop = ", ".join(f"__{m}" for m in metrics)
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT * EXCLUDE ({drop}) FROM ({joined}) WHERE {keep}"
        )
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.rejected)} AS SELECT * EXCLUDE ({drop}), {reason} AS _reason "
            f"FROM ({joined}) WHERE NOT ({keep})"
        )
        return {"rules": [name for name, _, _ in rules]}

    @staticmethod
    def _dup_cte(name: str, items_sql: str, key: str, min_items: str = "true") -> str:
        """Share of a row's items (lines, n-grams) that occur more than once in that row."""
        return (
            f"{name} AS (SELECT id, sum(n) FILTER (WHERE n > 1) / sum(n) AS frac FROM ("
            f"SELECT id, x, count(*) AS n FROM (SELECT _id AS id, {key} AS x FROM "
            f"(SELECT _id, {items_sql} AS x FROM base WHERE {min_items})) WHERE x <> '' "
            f"GROUP BY id, x) GROUP BY id)"
        )
