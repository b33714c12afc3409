"""Answer verification by mathematical equivalence, and pseudo answers by majority vote.

After DataFlow's ReasoningAnswerGroundTruthFilter (``math_verify`` against the golden answer) and
ReasoningPseudoAnswerGenerator (the most frequent of n sampled answers stands in for a missing
golden answer). Equality of normalised strings is tested first, in SQL, for every row; only pairs
whose strings differ go to ``math-verify`` (sympy), which decides ``1/2 = 0.5 = \\frac{2}{4}``,
interval bounds and units. Symbolic equivalence has no vectorised form, so that remainder is a
Python pass over Arrow batches of just those pairs.
"""

import threading
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import Field

from operators.core.contract import CheckSpec, Kind, OpConfig, Operator, OperatorContext, quote_ident
from operators.core.registry import register
from operators.core.rowids import ID
from operators.core.sql_ops import POS, SQLFilter
from operators.reasoning.answers import normalize_sql


def _parse(text: str, timeout: int | None) -> list[Any]:
    from math_verify import parse

    candidates = [text] if "$" in text or "\\boxed" in text else [f"${text}$", text]
    for cand in candidates:
        got = parse(cand, parsing_timeout=timeout)  # type: ignore[arg-type]
        if got:
            return got
    return []


def answers_equivalent(gold: str | None, pred: str | None, timeout_s: int = 5) -> bool | None:
    """True/False by mathematical equivalence (math-verify); None when either side is missing.

    math-verify's timeouts use SIGALRM, which only the main thread may set; elsewhere it runs
    without one (the operator runs in the main thread of its step process).
    """
    if gold is None or pred is None or not str(gold).strip() or not str(pred).strip():
        return None
    from math_verify import verify

    timeout = timeout_s if threading.current_thread() is threading.main_thread() else None
    try:
        g, p = _parse(str(gold), timeout), _parse(str(pred), timeout)
        if not g or not p:
            return str(gold).strip() == str(pred).strip()
        return bool(verify(g, p, timeout_seconds=timeout))  # type: ignore[arg-type]
    except Exception:
        return False


class VerifyConfig(OpConfig):
    answer_key: str = "extracted_answer"
    reference_key: str = "golden_answer"
    fallback_reference_key: str | None = "pseudo_answer"  # used where the golden answer is missing
    output_key: str = "answer_correct"
    source_key: str = "reference_source"
    min_correct_share: float = 0.0
    timeout_s: int = 5


@register
class AnswerVerifier(Operator):
    """Marks each answer correct/incorrect against the golden (else pseudo) answer; NULL without one."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = VerifyConfig
    domain = "reasoning"
    tags = ("math", "verify", "math-verify", "answer")

    def input_columns(self) -> list[str]:
        c = self.config
        return [c.answer_key, c.reference_key, *([c.fallback_reference_key] if c.fallback_reference_key else [])]

    def output_columns(self) -> list[str]:
        return [self.config.output_key, self.config.source_key]

    def checks(self) -> list[CheckSpec]:
        c = self.config
        col = quote_ident(c.output_key)
        return [
            CheckSpec(
                "verified_share",
                f"coalesce(avg(CASE WHEN t.{col} THEN 1.0 ELSE 0.0 END) FILTER (WHERE t.{col} IS NOT NULL), 0)",
                ">=",
                c.min_correct_share,
                "share of answers (with a reference) equivalent to it",
                blocking=False,
            ),
            CheckSpec(
                "reference_coverage",
                f"avg(CASE WHEN t.{quote_ident(c.source_key)} IS NULL THEN 0.0 ELSE 1.0 END)",
                ">=",
                0.0,
                "share of rows with a golden or pseudo reference",
                blocking=False,
            ),
        ]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        con, src = ctx.con, quote_ident(ctx.source or "")
        gold = f"nullif(trim(CAST({quote_ident(c.reference_key)} AS VARCHAR)), '')"
        ref = gold
        if c.fallback_reference_key:
            ref = f"coalesce({gold}, nullif(trim(CAST({quote_ident(c.fallback_reference_key)} AS VARCHAR)), ''))"
        ans = f"CAST({quote_ident(c.answer_key)} AS VARCHAR)"
        con.execute(f"""CREATE TABLE __pairs AS SELECT {ID}, {ans} AS __ans, {ref} AS __ref,
                        CASE WHEN {gold} IS NOT NULL THEN 'golden' WHEN {ref} IS NOT NULL THEN 'pseudo' END AS __src,
                        CASE WHEN {ans} IS NULL OR {ref} IS NULL THEN NULL
                             WHEN {normalize_sql(ans)} = {normalize_sql(ref)} THEN true END AS __fast
                        FROM {src}""")
        con.execute("CREATE TABLE __slow (_id VARCHAR, __ok BOOLEAN)")
        todo = (
            con.cursor()
            .sql(
                "SELECT _id, __ans, __ref FROM __pairs WHERE __fast IS NULL AND __ans IS NOT NULL AND __ref IS NOT NULL"
            )
            .to_arrow_reader(256)
        )
        checked = 0
        for batch in todo:
            cols = batch.to_pydict()
            ok = [answers_equivalent(r, a, c.timeout_s) for a, r in zip(cols["__ans"], cols["__ref"], strict=True)]
            checked += len(ok)
            con.execute("SELECT 1").fetchall()  # register() refuses to run beside a pending result
            con.register("__b", pa.table({"_id": cols["_id"], "__ok": pa.array(ok, pa.bool_())}))
            con.execute("INSERT INTO __slow SELECT * FROM __b")
            con.unregister("__b")
            ctx.progress(checked, None)
        existing = set(ctx.columns())
        clash = [x for x in self.output_columns() if x in existing]
        excl = f" EXCLUDE ({', '.join(quote_ident(x) for x in clash)})" if clash else ""
        con.execute(f"""CREATE VIEW {quote_ident(ctx.target)} AS
            SELECT s.*{excl}, coalesce(p.__fast, w.__ok) AS {quote_ident(c.output_key)},
                   p.__src AS {quote_ident(c.source_key)}
            FROM {src} s JOIN __pairs p USING ({ID}) LEFT JOIN __slow w USING ({ID})""")
        return {"symbolic_checks": checked}


class PseudoAnswerConfig(OpConfig):
    answer_key: str = "extracted_answer"
    normalized_key: str = "normalized_answer"
    group_key: str = "question_id"
    output_key: str = "pseudo_answer"
    votes_key: str = "pseudo_answer_votes"
    share_key: str = "pseudo_answer_share"
    min_share: float = 0.0  # below this agreement no pseudo answer is given
    # A pseudo answer needs a real majority: at least ``min_votes`` samples agreeing, and more than half
    # of the question's samples. One surviving sample would otherwise "win" alone and then verify
    # itself (share 1.0), which is how a single wrong answer became a verified training row.
    min_votes: int = Field(default=2, ge=1)


@register
class PseudoAnswerGenerator(Operator):
    """Majority vote over each question's sampled answers (by normalised form; ties go to the first
    sample); adds the winning answer, its vote count and its share of the samples. No pseudo answer
    (NULL) unless the winner has ``min_votes`` votes and more than half of the question's samples:
    the rows without one are unverifiable downstream, never self-verified."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = PseudoAnswerConfig
    domain = "reasoning"
    tags = ("math", "self-consistency", "majority-vote", "pseudo-answer")

    def input_columns(self) -> list[str]:
        c = self.config
        return [c.answer_key, c.normalized_key, c.group_key]

    def output_columns(self) -> list[str]:
        c = self.config
        return [c.output_key, c.votes_key, c.share_key]

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        g, n, a = quote_ident(c.group_key), quote_ident(c.normalized_key), quote_ident(c.answer_key)
        src = quote_ident(ctx.source or "")
        existing = set(ctx.columns())
        clash = [x for x in self.output_columns() if x in existing]
        excl = f" EXCLUDE ({', '.join(quote_ident(x) for x in clash)})" if clash else ""
        ctx.con.execute(f"""CREATE VIEW {quote_ident(ctx.target)} AS
            WITH votes AS (
                SELECT {g} AS __g, {n} AS __n, count(*) AS __votes, min({POS}) AS __first,
                       arg_min({a}, {POS}) AS __rep
                FROM {src} WHERE {n} IS NOT NULL GROUP BY ALL),
            ranked AS (
                SELECT *, sum(__votes) OVER (PARTITION BY __g) AS __total,
                       row_number() OVER (PARTITION BY __g ORDER BY __votes DESC, __first) AS __rank
                FROM votes),
            samples AS (SELECT {g} AS __g, count(*) AS __samples FROM {src} GROUP BY ALL),
            best AS (SELECT r.__g, __rep, __votes, __votes / __total AS __share FROM ranked r JOIN samples USING (__g)
                     WHERE __rank = 1 AND __votes / __total >= {float(c.min_share)!r}
                       AND __votes >= {int(c.min_votes)} AND 2 * __votes > __samples)
            SELECT s.*{excl}, b.__rep AS {quote_ident(c.output_key)}, b.__votes::INTEGER AS {quote_ident(c.votes_key)},
                   b.__share::DOUBLE AS {quote_ident(c.share_key)}
            FROM {src} s LEFT JOIN best b ON s.{g} = b.__g""")
        return {}


class VerifiedConfig(OpConfig):
    input_key: str = "answer_correct"


@register
class VerifiedAnswerFilter(SQLFilter):
    """Keeps rows whose answer was verified correct; the reason says whether it was wrong or unverifiable."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = VerifiedConfig
    domain = "reasoning"
    tags = ("math", "verify", "filter")

    def keep_sql(self) -> str:
        return f"{self.col()} IS TRUE"

    def reason_sql(self) -> str:
        return (
            f"'VerifiedAnswerFilter: ' || CASE WHEN {self.col()} IS NULL THEN 'no reference answer to verify' "
            "ELSE 'answer not equivalent to the reference' END"
        )
