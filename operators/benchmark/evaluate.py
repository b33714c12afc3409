"""UnifiedBenchDatasetEvaluator: score model answers against a benchmark's references.

After DataFlow's evaluator of that name, with its ``eval_type`` names and per-row output columns
(``eval_valid``, ``eval_error``, ``eval_pred``, ``eval_score``); the dataset-level figures
(accuracy over valid rows, counts) are the step's stats, shown in its materialisation metadata, and
``min_accuracy`` makes accuracy a blocking asset check. Metrics:
  * key2_qa: ``math_verify`` (default; math-verify equivalence, exact string match as fallback),
    ``exact`` or ``contains`` (normalised text);
  * key2_q_ma: the same, true when any of the references matches;
  * key3_q_choices_a: the predicted option (first letter, or 1-based number) equals the label;
  * key3_q_choices_as: exact set match as the score, micro precision/recall/F1 in the stats;
  * key1_text_score: perplexity of the text; key3_q_a_rejected: 1 when the model's mean token
    log-likelihood of the better answer beats the rejected one's (given the question). Both read
    log-probabilities from the embedded model or ``base_url`` (see ``operators.scoring``).
DataFlow's default for single choice scores choices by log-likelihood when it has a model; here the
generated answer is parsed, which is DataFlow's behaviour without one.
"""

import json
import re
from typing import Any, ClassVar, Literal

from pydantic import Field

from operators.benchmark.answers import LETTERS, EvalType
from operators.core.batches import insert_rows
from operators.core.contract import CheckSpec, Kind, Operator, OperatorContext, OperatorError, quote_ident
from operators.core.judge_filter import join_columns
from operators.core.registry import register
from operators.core.rowids import ID
from operators.reasoning.verify import answers_equivalent
from operators.scoring.logprobs import mean_nll, perplexity
from operators.scoring.source import ModelSourceConfig

OUT_COLS = {"valid": "BOOLEAN", "error": "VARCHAR", "pred": "VARCHAR", "score": "DOUBLE"}


def norm_text(x: Any) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", str(x or "").lower())).strip()


def qa_match(pred: Any, ref: Any, metric: str) -> bool:
    if metric == "exact":
        return norm_text(pred) == norm_text(ref)
    if metric == "contains":
        return bool(norm_text(ref)) and norm_text(ref) in norm_text(pred)
    return bool(answers_equivalent(str(ref), str(pred)))


def parse_choice(text: Any, n: int) -> int | None:
    t = str(text or "").strip()
    m = re.search(r"\b([A-Za-z])\b", t)
    if m and 0 <= ord(m.group(1).upper()) - 65 < n:
        return ord(m.group(1).upper()) - 65
    m = re.search(r"\b(\d+)\b", t)
    if m and 1 <= int(m.group(1)) <= n:
        return int(m.group(1)) - 1
    return None


def parse_choice_set(text: Any, n: int) -> set[int]:
    return {ord(ch) - 65 for ch in re.findall(r"\b([A-J])\b", str(text or "").upper()) if ord(ch) - 65 < n}


def unjson(value: Any) -> Any:
    """A value from a JSON-typed column (mixed types in a JSONL source) arrives as JSON text."""
    if isinstance(value, str) and value[:1] in ('"', "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def label_index(label: Any, n: int) -> int | None:
    """A reference label as a 0-based option index, as DataFlow reads it: a number is 0-based when
    in range (else 1-based), a single letter is A = 0."""
    label = unjson(label)
    if label is None or isinstance(label, bool):
        return None
    text = str(label).strip()
    if isinstance(label, int) or text.isdigit():
        v = int(text)
        return v if 0 <= v < n else v - 1 if 1 <= v <= n else None
    if len(text) == 1 and text.isalpha():
        idx = ord(text.upper()) - 65
        return idx if 0 <= idx < n else None
    return None


class UnifiedBenchConfig(ModelSourceConfig):
    eval_type: EvalType = "key2_qa"
    metric_type: Literal["math_verify", "exact", "contains"] = "math_verify"
    input_text_key: str | None = None
    input_question_key: str | None = "question"
    input_target_key: str | None = None
    input_targets_key: str | None = None
    input_choices_key: str | None = None
    input_label_key: str | None = None
    input_labels_key: str | None = None
    input_better_key: str | None = None
    input_rejected_key: str | None = None
    input_pred_key: str = "generated_ans"
    output_eval_valid_key: str = "eval_valid"
    output_eval_error_key: str = "eval_error"
    output_eval_pred_key: str = "eval_pred"
    output_eval_score_key: str = "eval_score"
    min_accuracy: float | None = Field(None, ge=0, le=1)  # blocking check on mean eval_score


_NEEDS: dict[str, tuple[str, ...]] = {
    "key1_text_score": ("input_text_key",),
    "key2_qa": ("input_question_key", "input_target_key", "input_pred_key"),
    "key2_q_ma": ("input_question_key", "input_targets_key", "input_pred_key"),
    "key3_q_choices_a": ("input_question_key", "input_choices_key", "input_label_key", "input_pred_key"),
    "key3_q_choices_as": ("input_question_key", "input_choices_key", "input_labels_key", "input_pred_key"),
    "key3_q_a_rejected": ("input_question_key", "input_better_key", "input_rejected_key"),
}


@register
class UnifiedBenchDatasetEvaluator(Operator):
    """Scores answers against references per ``eval_type`` (eval_* columns) and reports accuracy."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = UnifiedBenchConfig
    domain = "core_text"
    tags = ("benchmark", "evaluation", "accuracy", "math_verify")

    def _cols(self) -> dict[str, str]:
        c = self.config
        return {
            "valid": c.output_eval_valid_key,
            "error": c.output_eval_error_key,
            "pred": c.output_eval_pred_key,
            "score": c.output_eval_score_key,
        }

    def input_columns(self) -> list[str]:
        c = self.config
        missing = [k for k in _NEEDS[c.eval_type] if not getattr(c, k)]
        if missing:
            raise OperatorError(f"{self.name}: eval_type {c.eval_type} needs {', '.join(missing)} to be set")
        return [getattr(c, k) for k in _NEEDS[c.eval_type]]

    def output_columns(self) -> list[str]:
        return list(self._cols().values())

    def checks(self) -> list[CheckSpec]:
        if self.config.min_accuracy is None:
            return []
        s, v = quote_ident(self._cols()["score"]), quote_ident(self._cols()["valid"])
        return [
            CheckSpec(
                name="accuracy",
                metric_sql=f"avg(CASE WHEN t.{v} THEN t.{s} END)",
                op=">=",
                threshold=self.config.min_accuracy,
                description="mean eval_score over valid rows",
            )
        ]

    def score_rows(self, rows: list[dict[str, Any]]) -> list[tuple[bool, str | None, str | None, float | None]]:
        c, t = self.config, self.config.eval_type
        if t == "key1_text_score":
            nll = mean_nll(c, [("", r.get(c.input_text_key) or "") for r in rows])
            return [(x is not None, None if x is not None else "empty text", None, perplexity(x)) for x in nll]
        if t == "key3_q_a_rejected":
            qs = [str(r.get(c.input_question_key) or "") + "\n" for r in rows]
            better = mean_nll(c, [(q, r.get(c.input_better_key) or "") for q, r in zip(qs, rows, strict=True)])
            worse = mean_nll(c, [(q, r.get(c.input_rejected_key) or "") for q, r in zip(qs, rows, strict=True)])
            return [
                (False, "empty answer", None, None) if b is None or w is None else (True, None, None, float(b < w))
                for b, w in zip(better, worse, strict=True)
            ]
        return [self._score_one(r) for r in rows]

    def _score_one(self, r: dict[str, Any]) -> tuple[bool, str | None, str | None, float | None]:
        c, t = self.config, self.config.eval_type
        pred = r.get(c.input_pred_key)
        if pred is None or not str(pred).strip():
            return (False, "empty prediction", None, None)
        if t == "key2_qa":
            return (True, None, str(pred), float(qa_match(pred, r.get(c.input_target_key), c.metric_type)))
        if t == "key2_q_ma":
            refs = unjson(r.get(c.input_targets_key)) or []
            refs = refs if isinstance(refs, list) else [refs]
            return (True, None, str(pred), float(any(qa_match(pred, ref, c.metric_type) for ref in refs)))
        choices = unjson(r.get(c.input_choices_key)) or []
        n = len(choices) if isinstance(choices, list) else 0
        if not n:
            return (False, "no choices", None, None)
        if t == "key3_q_choices_a":
            got, gold = parse_choice(pred, n), label_index(r.get(c.input_label_key), n)
            if got is None or gold is None:
                return (False, "unparsable prediction" if got is None else "label out of range", None, None)
            return (True, None, LETTERS[got], float(got == gold))
        labels = unjson(r.get(c.input_labels_key)) or []
        gold_set = {i for i in (label_index(x, n) for x in labels) if i is not None}
        got_set = parse_choice_set(pred, n)
        return (True, None, ",".join(LETTERS[i] for i in sorted(got_set)), float(got_set == gold_set))

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        cols = self._cols()
        out = f"{ctx.target}__eval"
        defs = ", ".join(f"{quote_ident(cols[k])} {typ}" for k, typ in OUT_COLS.items())
        ctx.con.execute(f"CREATE TABLE {quote_ident(out)} ({ID} VARCHAR, {defs})")
        needed = sorted({ID, *self.input_columns()})
        reader = ctx.con.cursor().sql(
            f"SELECT {', '.join(quote_ident(x) for x in needed)} FROM {quote_ident(ctx.source or '')}"
        )
        total, done = ctx.count(), 0
        for batch in reader.to_arrow_reader(256):
            rows = batch.to_pylist()
            scored = self.score_rows(rows)
            data: dict[str, list[Any]] = {ID: [r[ID] for r in rows]}
            for j, k in enumerate(OUT_COLS):
                data[cols[k]] = [s[j] for s in scored]
            insert_rows(ctx, out, data)
            done += len(rows)
            ctx.progress(done, total)
        join_columns(ctx, out, {v: f"o.{quote_ident(v)}" for v in cols.values()})
        s, v = quote_ident(cols["score"]), quote_ident(cols["valid"])
        n_valid, acc = ctx.con.execute(
            f"SELECT count(*) FILTER (WHERE {v}), avg({s}) FILTER (WHERE {v}) FROM {quote_ident(out)}"
        ).fetchall()[0]
        return {
            "eval_type": self.config.eval_type,
            "total_samples": done,
            "valid_samples": int(n_valid),
            "accuracy": None if acc is None else round(float(acc), 6),
        }
