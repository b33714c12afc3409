"""Prompted generators that make several rows per input row, each from its own seed.

Self-consistency needs n *independent* samples per question, and question synthesis needs several
variants per seed question. The shared LLM loop sends one request per row with one seed, so the
fan-out happens in the data: the input is crossed with ``range(n)`` into rows that already carry
their final ids (parent id + operator + sample index), and each sample index is dispatched as its
own pass with ``seed + k``. The cache key covers the seed, so re-runs replay every sample exactly.
"""

from typing import Any, ClassVar

from pydantic import Field

from operators.core.contract import Kind, OperatorContext, quote_ident
from operators.core.llm_ops import LLMConfig, LLMOperator
from operators.core.rowids import ID, PARENTS, derived_id_sql

PARENT = "__parent"


class FanOutConfig(LLMConfig):
    num_samples: int = Field(default=1, ge=1, le=32)
    sample_key: str = "sample_idx"
    group_key: str | None = None  # if set, a column holding the parent row's id (for votes per parent)


class FanOutLLMOperator(LLMOperator):
    """Base: ``num_samples`` generated rows per input row, sample k drawn with seed ``seed + k``."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = FanOutConfig

    def output_columns(self) -> list[str]:
        c = self.config
        return [*super().output_columns(), c.sample_key, *([c.group_key] if c.group_key else [])]

    def fan_columns(self, k_expr: str) -> dict[str, str]:
        """Extra per-sample columns (name -> SQL over ``k``) that prompts may use; dropped on output."""
        return {}

    def extra_output_sql(self, types: dict[str, str]) -> dict[str, str]:
        """Columns to overwrite on generated rows (name -> SQL over the input row ``s``); ``types``
        maps input column names to their DuckDB types."""
        return {}

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        con, src = ctx.con, quote_ident(ctx.source or "")
        existing = ctx.columns()
        fan = f"{ctx.target}__fan"
        drop = [ID, *[x for x in (PARENTS, c.sample_key, c.group_key) if x and x in existing]]
        extra = "".join(f", {sql} AS {quote_ident(n)}" for n, sql in self.fan_columns("k.range").items())
        con.execute(
            f"CREATE TABLE {quote_ident(fan)} AS SELECT "
            f"{derived_id_sql(f's.{ID}', self.fingerprint(), 'k.range')} AS {ID}, s.{ID} AS {PARENT}, "
            f"k.range::INTEGER AS {quote_ident(c.sample_key)}{extra}, "
            f"s.* EXCLUDE ({', '.join(quote_ident(x) for x in drop)}) "
            f"FROM {src} s CROSS JOIN range({int(c.num_samples)}) k"
        )
        stats: dict[str, Any] = {"llm_rows": 0, "llm_failed_rows": 0}
        parts, errs = [], []
        for k in range(c.num_samples):
            view = f"{fan}__k{k}"
            con.execute(
                f"CREATE VIEW {quote_ident(view)} AS SELECT * FROM {quote_ident(fan)} "
                f"WHERE {quote_ident(c.sample_key)} = {k}"
            )
            sub = type(self)(c.model_copy(update={"seed": c.seed + k}))
            sub_ctx = OperatorContext(
                con=con,
                source=view,
                target=f"{ctx.target}__k{k}",
                rejected=f"{ctx.rejected}__k{k}",
                errors=f"{ctx.errors}__k{k}",
                step=ctx.step,
                llm=ctx.llm,
                prompt=ctx.prompt,
                log=ctx.log,
                progress=ctx.progress,
                batch_size=ctx.batch_size,
            )
            got = LLMOperator.run(sub, sub_ctx)
            for key in stats:
                stats[key] += got.get(key, 0)
            parts.append(f"SELECT * FROM {quote_ident(sub_ctx.target)}")
            errs.append(f"SELECT * FROM {quote_ident(sub_ctx.errors)}")
        generated = " UNION ALL ".join(parts)
        con.execute(f"CREATE VIEW {quote_ident(ctx.target)} AS {self.combine(ctx, generated)}")
        con.execute(f"CREATE TABLE {quote_ident(ctx.errors)} AS {' UNION ALL '.join(errs)}")
        stats["samples_per_row"] = c.num_samples
        return stats

    def combine(self, ctx: OperatorContext, generated_sql: str) -> str:
        """The output relation from the generated rows; generators that keep their inputs override."""
        return generated_sql

    def assemble(self, ctx: OperatorContext, cols: list[str]) -> None:
        src, out, tgt = quote_ident(ctx.source or ""), quote_ident(f"{ctx.target}__out"), quote_ident(ctx.target)
        types = {r[0]: r[1] for r in ctx.con.execute(f"DESCRIBE {src}").fetchall()}
        existing = list(types)
        fan_only = list(self.fan_columns("0"))
        clash = [x for x in cols if x in existing]
        excl = [PARENT, *fan_only, *clash]
        new_cols = ", ".join(f"o.{quote_ident(x)}" for x in cols)
        group = self.config.group_key
        group_sql = f", s.{PARENT} AS {quote_ident(group)}" if group else ""
        overrides = self.extra_output_sql(types)
        repl = [n for n in overrides if n in existing and n not in excl]
        replace = f" REPLACE ({', '.join(f'{overrides[n]} AS {quote_ident(n)}' for n in repl)})" if repl else ""
        ctx.con.execute(
            f"CREATE VIEW {tgt} AS SELECT s.* EXCLUDE ({', '.join(quote_ident(x) for x in excl)}){replace}, "
            f"[s.{PARENT}] AS {PARENTS}{group_sql}, {new_cols} FROM {src} s JOIN {out} o USING ({ID})"
        )
