"""Dataset-level reasoning statistics: category, difficulty and token-length distributions.

After DataFlow's ReasoningCategoryDatasetEvaluator, ReasoningDifficultyDatasetEvaluator and
ReasoningTokenDatasetEvaluator, which return a dict about the whole dataset and write nothing. Here,
as for VendiDatasetEvaluator and UnifiedBenchDatasetEvaluator, rows pass through unchanged and the
dict is the step's stats (materialisation metadata); counts are one DuckDB aggregate each.
"""

import functools
import json
from typing import Any, ClassVar

from operators.core.contract import DataflowKey, Kind, OpConfig, Operator, OperatorContext, quote_ident
from operators.core.registry import register
from operators.scoring.local import resolve_model_path


class _DatasetStats(Operator):
    """Pass-through evaluator whose result is ``stats(ctx)``."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    domain = "reasoning"

    def output_columns(self) -> list[str]:
        return []

    def stats(self, ctx: OperatorContext) -> dict[str, Any]:
        raise NotImplementedError

    def counts(self, ctx: OperatorContext, *cols: str) -> list[tuple[Any, ...]]:
        keys = ", ".join(f"CAST({quote_ident(c)} AS VARCHAR)" for c in cols)
        return ctx.con.execute(
            f"SELECT {keys}, count(*) FROM {quote_ident(ctx.source or '')} GROUP BY ALL ORDER BY ALL"
        ).fetchall()

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        ctx.con.execute(f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT * FROM {quote_ident(ctx.source or '')}")
        return self.stats(ctx)


class CategoryStatsConfig(OpConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        "input_primary_category_key": DataflowKey("primary_key"),
        "input_secondary_category_key": DataflowKey("secondary_key"),
    }
    primary_key: str = "primary_category"
    secondary_key: str = "secondary_category"


@register
class ReasoningCategoryDatasetEvaluator(_DatasetStats):
    """Per primary category: ``primary_num`` and the count of each secondary category under it.
    DataFlow only counts categories of its fixed math taxonomy; here every label present is counted
    (a NULL label counts as ``"None"``)."""

    Config = CategoryStatsConfig
    tags = ("math", "category", "dataset", "statistics")
    dataflow_fidelity = "approximated"
    dataflow_note = "counts every label present, not only DataFlow's fixed math taxonomy; result in the step stats"

    def input_columns(self) -> list[str]:
        return [self.config.primary_key, self.config.secondary_key]

    def stats(self, ctx: OperatorContext) -> dict[str, Any]:
        out: dict[str, dict[str, int]] = {}
        for primary, secondary, n in self.counts(ctx, self.config.primary_key, self.config.secondary_key):
            entry = out.setdefault(str(primary), {"primary_num": 0})
            entry["primary_num"] += int(n)
            entry[str(secondary)] = entry.get(str(secondary), 0) + int(n)
        return {"category_info": json.dumps(out, sort_keys=True), "categories": len(out)}


class DifficultyStatsConfig(OpConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {"input_diffulty_key": DataflowKey("input_key")}
    input_key: str = "difficulty_score"


@register
class ReasoningDifficultyDatasetEvaluator(_DatasetStats):
    """Number of rows per difficulty value (DataFlow's ``value_counts`` of the difficulty column)."""

    Config = DifficultyStatsConfig
    tags = ("math", "difficulty", "dataset", "statistics")
    dataflow_note = "the result dict is the step's stats (materialisation metadata); rows pass through"

    def input_columns(self) -> list[str]:
        return [self.config.input_key]

    def stats(self, ctx: OperatorContext) -> dict[str, Any]:
        counts = {str(v): int(n) for v, n in self.counts(ctx, self.config.input_key)}
        return {"difficulty_info": json.dumps(counts, sort_keys=True)}


def _tokenizer_path(value: Any) -> dict[str, Any] | None:
    return {"model_path": value} if isinstance(value, str) and value.endswith(".gguf") else None


class TokenStatsConfig(OpConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        "input_question_key": DataflowKey("question_key"),
        "input_answer_key": DataflowKey("answer_key"),
        "model_name_or_path": DataflowKey(
            convert=_tokenizer_path,
            refuse="give a GGUF file as model_path (its tokenizer counts); Hugging Face tokenizers are not downloaded",
        ),
    }
    question_key: str = "instruction"
    answer_key: str = "output"
    model_path: str | None = None  # GGUF whose tokenizer counts; default: the embedded SmolLM2 model


@functools.cache
def _vocab(path: str) -> Any:
    import llama_cpp

    return llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)


@register
class ReasoningTokenDatasetEvaluator(_DatasetStats):
    """Token-length statistics of questions and answers (zero count, min, max, mean, median), with
    DataFlow's keys. Approximation: the tokenizer is a GGUF model's (the embedded SmolLM2 by default,
    or ``model_path``), not a Hugging Face tokenizer by name."""

    Config = TokenStatsConfig
    tags = ("math", "tokens", "dataset", "statistics")
    dataflow_fidelity = "approximated"
    dataflow_note = "tokens of a GGUF model's tokenizer (embedded SmolLM2 by default), not a Hugging Face tokenizer"

    def input_columns(self) -> list[str]:
        return [self.config.question_key]

    def stats(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        vocab = _vocab(str(resolve_model_path(c.model_path)))
        have = set(ctx.columns())
        out: dict[str, Any] = {}
        for side, col in (("questions", c.question_key), ("answers", c.answer_key)):
            lengths: list[int] = []
            if col in have:
                reader = ctx.con.cursor().sql(
                    f"SELECT CAST({quote_ident(col)} AS VARCHAR) FROM {quote_ident(ctx.source or '')}"
                )
                for batch in reader.to_arrow_reader(1024):
                    texts = batch.column(0).to_pylist()
                    lengths += [len(vocab.tokenize((t or "").encode(), add_bos=False, special=False)) for t in texts]
            ordered = sorted(lengths)
            out |= {
                f"{side}_zeros_count": ordered.count(0),
                f"{side}_min": ordered[0] if ordered else 0,
                f"{side}_max": ordered[-1] if ordered else 0,
                f"{side}_mean": sum(ordered) / len(ordered) if ordered else 0,
                f"{side}_median": ordered[len(ordered) // 2] if ordered else 0,
            }
        return out
