"""Shared machinery for operators that hold a conversation with the model over several calls.

A one-call LLM operator renders one request per row; a dialogue needs several rounds (user turn,
assistant turn, tool turn, ...). ``MultiRoundOperator`` keeps the parts every prompted operator has
(the response cache through ``ctx.llm``, the ``__errors`` table with the raw answer, the error-share
check, row lineage) and lets a subclass build each batch's answers round by round: each round is one
batched ``generate`` call over all rows still talking, so an endpoint stays busy and a re-run is
answered from the cache.
"""

import json
from dataclasses import dataclass
from typing import Any

import jsonschema

from operators.core.batches import insert_rows
from operators.core.contract import Kind, OperatorContext, OperatorError, quote_ident
from operators.core.llm import LLMClient, LLMRequest, LLMResponse, SamplingParams, generate_judged
from operators.core.llm_ops import LLMOperator
from operators.core.prompt import PromptTemplate
from operators.core.rowids import ID


@dataclass
class Answer:
    """One parsed answer, or why there is none (``raw`` is what the model said, for ``__errors``)."""

    value: dict[str, Any] | None
    error: str | None = None
    raw: str | None = None


def ask_json(llm: LLMClient, requests: list[LLMRequest], reasks: int = 1) -> list[Answer]:
    """Send a batch; parse every answer as JSON and validate it against its request's schema. An
    answer that arrives unusable is asked again ``reasks`` times (operators.core.llm.generate_judged)."""

    def judge(i: int, resp: LLMResponse) -> Answer:
        if not resp.ok:
            return Answer(None, resp.error or "no response", resp.text)
        try:
            obj = json.loads(resp.text or "", strict=False)
            schema = requests[i].schema_dict()
            if schema is not None:
                jsonschema.validate(obj, schema)
        except json.JSONDecodeError as exc:
            return Answer(None, f"response is not JSON: {exc.msg} at char {exc.pos}", resp.text)
        except jsonschema.ValidationError as exc:
            return Answer(None, f"response fails the output schema: {exc.message}", resp.text)
        return Answer(obj, None, resp.text)

    return generate_judged(llm, requests, judge, lambda a: a.value is not None, reasks)[0]


class MultiRoundOperator(LLMOperator):
    """Subclasses implement ``answer_batch(rows, llm)`` returning one Answer per row whose value maps
    output columns to values (lists and dicts are stored as JSON text)."""

    prompt: PromptTemplate

    def answer_batch(self, rows: list[dict[str, Any]], llm: LLMClient) -> list[Answer]:
        raise NotImplementedError

    def optional_columns(self) -> list[str]:
        """Input columns read when the input has them."""
        return []

    def params(self, **overrides: Any) -> SamplingParams:
        c = self.config
        base = {"temperature": c.temperature, "max_tokens": c.max_tokens, "seed": c.seed}  # type: ignore[attr-defined]
        return SamplingParams(**{**base, **overrides})

    def request(
        self, prompt: PromptTemplate, values: dict[str, Any], schema: dict[str, Any] | None = None
    ) -> LLMRequest:
        """One chat request from a template; ``schema`` replaces the template's own output schema."""
        return LLMRequest.chat(
            prompt.render(values), prompt.system or None, self.params(), schema or prompt.output_schema
        )

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        if ctx.llm is None:
            raise OperatorError(f"operator {self.name} needs an LLM resource but none is configured")
        prompt = ctx.prompt or self.default_prompt
        if prompt is None:
            raise OperatorError(f"operator {self.name} needs a prompt template but none was given")
        self.prompt = prompt  # the step's prompt resource, if one is set, replaces the default
        cols = self.output_columns()
        out, err = f"{ctx.target}__out", ctx.errors
        defs = ", ".join(f"{quote_ident(c)} VARCHAR" for c in cols)
        ctx.con.execute(f"CREATE TABLE {quote_ident(out)} ({ID} VARCHAR, {defs})")
        ctx.con.execute(f"CREATE TABLE {quote_ident(err)} ({ID} VARCHAR, _error VARCHAR, _raw VARCHAR)")
        present = set(ctx.columns())
        needed = sorted({ID, *self.input_columns(), *(c for c in self.optional_columns() if c in present)})
        select = ", ".join(quote_ident(c) for c in needed)
        reader = ctx.con.cursor().sql(f"SELECT {select} FROM {quote_ident(ctx.source or '')}")
        total, done = ctx.count(), 0
        for batch in reader.to_arrow_reader(ctx.batch_size):
            rows = batch.to_pylist()
            good: dict[str, list[Any]] = {ID: [], **{c: [] for c in cols}}
            bad: dict[str, list[Any]] = {ID: [], "_error": [], "_raw": []}
            for row, ans in zip(rows, self.answer_batch(rows, ctx.llm), strict=True):
                if ans.value is None:
                    bad[ID].append(row[ID])
                    bad["_error"].append(ans.error)
                    bad["_raw"].append(ans.raw)
                    continue
                good[ID].append(row[ID])
                for c in cols:
                    v = ans.value.get(c)
                    good[c].append(json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v)
            insert_rows(ctx, out, good)
            insert_rows(ctx, err, bad)
            done += len(rows)
            ctx.progress(done, total)
        if self.kind == Kind.GENERATE or self.kind == Kind.EVALUATE:
            self.assemble(ctx, cols)
        n_err = ctx.con.execute(f"SELECT count(*) FROM {quote_ident(err)}").fetchall()[0][0]
        return {"llm_rows": done, "llm_failed_rows": int(n_err)}
