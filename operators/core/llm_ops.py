"""Base class for prompted operators (generators, LLM judges, LLM refiners).

The loop is the same for all of them: stream the input in batches, render one request per row,
dispatch the batch through the client (which the Dagster layer wraps in the response cache, so an
interrupted step resumes where it stopped), validate each answer against the output schema, and keep
answers that fail validation or transport as rows of the ``errors`` table rather than as NULLs.
"""

import json
from typing import Any, ClassVar

import jsonschema
import pyarrow as pa
from pydantic import Field

from operators.core.contract import (
    CheckSpec,
    Kind,
    OpConfig,
    Operator,
    OperatorContext,
    OperatorError,
    quote_ident,
)
from operators.core.llm import LLMRequest, LLMResponse, SamplingParams, generate_judged
from operators.core.prompt import PromptTemplate
from operators.core.rowids import ID, PARENTS, derived_id_sql

_DUCK_TYPES = {"integer": "BIGINT", "number": "DOUBLE", "string": "VARCHAR", "boolean": "BOOLEAN"}


class LLMConfig(OpConfig):
    input_key: str = "text"
    temperature: float = 0.0
    max_tokens: int = 256
    seed: int = 0
    min_parsed_share: float = 0.8
    max_error_share: float = 0.1  # asset check: rows that failed for good / rows sent
    # answers that arrive but are unusable (not JSON, off-schema, degenerate) are asked again this many
    # times, sampled with a seed per attempt (see operators.core.llm.reask_request)
    reask_unusable: int = Field(default=1, ge=0, le=5)


class LLMOperator(Operator):
    """A prompted step. Subclasses set ``kind``, ``default_prompt`` (with an output schema) and
    ``outputs`` (schema property -> output column); the rest is shared."""

    Config: ClassVar[type[OpConfig]] = LLMConfig
    tags: ClassVar[tuple[str, ...]] = ("llm",)
    row_local: ClassVar[bool] = True  # one request per row; the answer depends on that row only

    # a one-answer operator names its schema property here; it is written to ``output_key``
    output_property: ClassVar[str | None] = None

    def outputs(self) -> dict[str, str]:
        """JSON property -> output column name."""
        if self.output_property:
            return {self.output_property: self.config.output_key}  # type: ignore[attr-defined]
        schema = (self.default_prompt.output_schema or {}) if self.default_prompt else {}
        return {p: p for p in schema.get("properties", {})}

    def input_columns(self) -> list[str]:
        return [self.config.input_key]  # type: ignore[attr-defined]

    def output_columns(self) -> list[str]:
        return list(self.outputs().values())

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        """Bind template fields to row values: a one-field template takes ``input_key``."""
        fields = prompt.fields()
        if len(fields) == 1:
            return {fields[0]: row.get(self.config.input_key)}  # type: ignore[attr-defined]
        return {f: row.get(f) for f in fields}

    def request_columns(self, ctx: OperatorContext) -> list[str]:
        """Columns of ``ctx.source`` read to build each request (operators whose requests are rows
        of a table they derive first override this)."""
        return self.input_columns()

    def request_where_sql(self) -> str | None:
        """SQL predicate over the input naming the rows worth a request (None: every row). Rows left out
        get no answer: evaluators keep them with NULL scores, refiners keep their text, generators
        make nothing from them, so an empty input never costs a call."""
        return None

    def sampling(self) -> SamplingParams:
        c = self.config
        return SamplingParams(temperature=c.temperature, max_tokens=c.max_tokens, seed=c.seed)  # type: ignore[attr-defined]

    def request_schema(self, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        """The schema sent with each request: the template's, narrowed by settings where an operator
        knows more (an exact number of rounds), so a schema-constrained model cannot answer otherwise."""
        return schema

    def parse(self, resp: LLMResponse, schema: dict[str, Any] | None) -> dict[str, Any]:
        """Validated output columns from one response; raises ValueError with the reason."""
        if schema is None:
            return {next(iter(self.outputs().values())): resp.text}
        try:
            obj = json.loads(resp.text or "", strict=False)  # llama.cpp may emit raw newlines in strings
        except json.JSONDecodeError as exc:
            raise ValueError(f"response is not JSON: {exc.msg} at char {exc.pos}") from None
        try:
            jsonschema.validate(obj, schema)
        except jsonschema.ValidationError as exc:
            raise ValueError(f"response fails the output schema: {exc.message}") from None
        return {col: obj.get(prop) for prop, col in self.outputs().items()}

    def answer_problem(self, row: dict[str, Any], values: dict[str, Any], prompt: PromptTemplate) -> str | None:
        """Why a schema-valid answer is still unusable (e.g. a rewrite that parrots the prompt); None
        when it is fine. Such rows go to the errors table like unparsable ones."""
        return None

    def error_share_check(self) -> CheckSpec:
        """Share of rows that still failed after retries; generators' tables hold only successes."""
        sent = "count(*) + (SELECT count(*) FROM errors)" if self.kind == Kind.GENERATE else "count(*)"
        return CheckSpec(
            name="error_share",
            metric_sql=f"coalesce((SELECT count(*) FROM errors)::DOUBLE / nullif({sent}, 0), 0.0)",
            op="<=",
            threshold=self.config.max_error_share,  # type: ignore[attr-defined]
            description="share of rows whose LLM call failed after all retries (see the step's __errors table)",
            parts=("errors",),
        )

    def checks(self) -> list[CheckSpec]:
        first = next(iter(self.outputs().values()), None)
        if first is None or self.kind == Kind.GENERATE:
            return [self.error_share_check()]
        return [
            self.error_share_check(),
            CheckSpec(
                name="parsed_share",
                metric_sql=f"avg(CASE WHEN t.{quote_ident(first)} IS NOT NULL THEN 1.0 ELSE 0.0 END)",
                op=">=",
                threshold=self.config.min_parsed_share,  # type: ignore[attr-defined]
                description=f"share of rows whose LLM answer parsed and filled `{first}`",
            ),
        ]

    def _column_types(self, schema: dict[str, Any] | None) -> dict[str, str]:
        props = (schema or {}).get("properties", {})
        return {
            col: _DUCK_TYPES.get(props.get(p, {}).get("type", "string"), "VARCHAR") for p, col in self.outputs().items()
        }

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        prompt = ctx.prompt or self.default_prompt
        if prompt is None:
            raise OperatorError(f"operator {self.name} needs a prompt template but none was given")
        if ctx.llm is None:
            raise OperatorError(f"operator {self.name} needs an LLM resource but none is configured")
        schema = self.request_schema(prompt.output_schema)
        types = self._column_types(schema)
        con, out, err = ctx.con, quote_ident(f"{ctx.target}__out"), quote_ident(ctx.errors)
        col_defs = ", ".join(f"{quote_ident(c)} {t}" for c, t in types.items())
        con.execute(f"CREATE TABLE {out} ({ID} VARCHAR, {col_defs})")
        con.execute(f"CREATE TABLE {err} ({ID} VARCHAR, _error VARCHAR, _raw VARCHAR)")
        total, done, reasked = ctx.count(), 0, 0
        needed = sorted({ID, *self.request_columns(ctx), *[f for f in prompt.fields() if f in ctx.columns()]})
        select = ", ".join(quote_ident(c) for c in needed)
        reader = con.cursor()  # its own cursor: the loop below writes through ``con`` meanwhile
        where = self.request_where_sql()
        query = f"SELECT {select} FROM {quote_ident(ctx.source or '')}" + (f" WHERE {where}" if where else "")
        arrow_reader = reader.sql(query).to_arrow_reader(
            max(ctx.batch_size, int(getattr(ctx.llm, "preferred_batch", 0) or 0))
        )  # keep every slot busy
        params = self.sampling()
        for batch in arrow_reader:
            rows = batch.to_pylist()
            requests = [
                LLMRequest.chat(prompt.render(self.prompt_values(r, prompt)), prompt.system or None, params, schema)
                for r in rows
            ]

            def judge(i: int, resp: LLMResponse) -> tuple[dict[str, Any] | None, str, str | None]:
                try:
                    if not resp.ok:
                        raise ValueError(resp.error or "no response")
                    values = self.parse(resp, schema)
                    problem = self.answer_problem(rows[i], values, prompt)  # noqa: B023 (called in this batch)
                    if problem:
                        raise ValueError(problem)
                except ValueError as exc:
                    return None, str(exc), resp.text
                return values, "", resp.text

            verdicts, again = generate_judged(
                ctx.llm,
                requests,
                judge,
                lambda v: v[0] is not None,
                self.config.reask_unusable,  # type: ignore[attr-defined]
            )
            reasked += again
            good: dict[str, list[Any]] = {ID: [], **{c: [] for c in types}}
            bad: dict[str, list[Any]] = {ID: [], "_error": [], "_raw": []}
            for row, (values, error, raw) in zip(rows, verdicts, strict=True):
                if values is None:
                    bad[ID].append(row[ID])
                    bad["_error"].append(error)
                    bad["_raw"].append(raw)
                    continue
                good[ID].append(row[ID])
                for c in types:
                    good[c].append(values.get(c))
            for table, data in ((out, good), (err, bad)):
                if data[ID]:
                    con.register("__batch", pa.table(data))
                    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM __batch")
                    con.unregister("__batch")
            done += len(rows)
            ctx.progress(done, total)
        if done < total:  # rows the where clause left out are done too
            ctx.progress(total, total)
        self.assemble(ctx, list(types))
        n_err = con.execute(f"SELECT count(*) FROM {err}").fetchall()[0][0]
        return {"llm_rows": done, "llm_failed_rows": int(n_err), "llm_reasked_rows": reasked}

    def assemble(self, ctx: OperatorContext, cols: list[str]) -> None:
        """Join answers back onto the input rows according to the operator's kind."""
        src, out, tgt = quote_ident(ctx.source or ""), quote_ident(f"{ctx.target}__out"), quote_ident(ctx.target)
        existing = set(ctx.columns())
        clash = [c for c in cols if c in existing]
        excl = f" EXCLUDE ({', '.join(quote_ident(c) for c in clash)})" if clash else ""
        new_cols = ", ".join(f"o.{quote_ident(c)}" for c in cols)
        if self.kind == Kind.EVALUATE:
            sql = f"SELECT s.*{excl}, {new_cols} FROM {src} s LEFT JOIN {out} o USING ({ID})"
        elif self.kind == Kind.REFINE and clash:
            repl = ", ".join(f"coalesce(o.{quote_ident(c)}, s.{quote_ident(c)}) AS {quote_ident(c)}" for c in clash)
            sql = f"SELECT s.* REPLACE ({repl}) FROM {src} s LEFT JOIN {out} o USING ({ID})"
        elif self.kind == Kind.REFINE:
            sql = f"SELECT s.*, {new_cols} FROM {src} s LEFT JOIN {out} o USING ({ID})"
        else:
            drop = [ID, *[c for c in (PARENTS,) if c in existing], *clash]
            new_id = derived_id_sql(f"s.{ID}", self.fingerprint())
            sql = (
                f"SELECT {new_id} AS {ID}, [s.{ID}] AS {PARENTS}, "
                f"s.* EXCLUDE ({', '.join(quote_ident(c) for c in drop)}), {new_cols} "
                f"FROM {src} s JOIN {out} o USING ({ID})"
            )
        ctx.con.execute(f"CREATE VIEW {tgt} AS {sql}")


def create_filter_views(ctx: OperatorContext, joined: str, keep: str, reason: str, hidden: list[str]) -> None:
    """An LLM filter's two outputs from the input joined with its answers: rows passing ``keep`` (NULL
    counts as reject) and the others with ``_reason``; ``hidden`` helper columns appear in neither."""
    excl = f" EXCLUDE ({', '.join(hidden)})" if hidden else ""
    kept = f"coalesce(({keep}), false)"
    ctx.con.execute(f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT *{excl} FROM ({joined}) WHERE {kept}")
    ctx.con.execute(
        f"CREATE VIEW {quote_ident(ctx.rejected)} AS SELECT *{excl}, ({reason})::VARCHAR AS _reason "
        f"FROM ({joined}) WHERE NOT {kept}"
    )
