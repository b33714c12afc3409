"""ChunkedPromptedGenerator: one prompt per chunk of a long text, the answers joined per row.

DataFlow reads each row's file, halves the text until each piece fits ``max_chunk_len`` tokens
(tiktoken's cl100k), sends ``system_prompt + chunk`` per piece and writes the joined answers to a new
file beside the input. Here the text comes from a column (or the file a column names), tokens are
estimated as UTF-8 bytes / 4 (no tokenizer download), and the joined answer is a column of the
output table: the snapshot holds it, so nothing is written beside the user's files.
"""

from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import Field, model_validator

from operators.core.contract import DataflowKey, Kind, OperatorContext, OperatorError, quote_ident, quote_literal
from operators.core.prompt import PromptTemplate
from operators.core.registry import register
from operators.core.rowids import ID, PARENTS, derived_id_sql
from operators.prompted.base import PromptedConfig, PromptedOperator

CHUNK = "__chunk_text"


def estimated_tokens(text: str) -> int:
    return (len(text.encode("utf-8")) + 3) // 4


def split_recursive(text: str, max_tokens: int) -> list[str]:
    """DataFlow's bisection: halve by characters until every piece is within the budget."""
    if estimated_tokens(text) <= max_tokens or len(text) <= 1:
        return [text]
    mid = len(text) // 2
    return split_recursive(text[:mid], max_tokens) + split_recursive(text[mid:], max_tokens)


class ChunkedConfig(PromptedConfig):
    input_key: str = "raw_content"
    input_path_key: str | None = Field(None, description="column naming a UTF-8 text file to read instead")
    output_key: str = "generated_content"
    max_chunk_len: int = Field(128000, ge=16, description="tokens per chunk (estimated as UTF-8 bytes / 4)")
    separator: str = "\n"

    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {
        "output_path_key": DataflowKey(
            "output_key", note="the joined answers are a column of the table, not a file beside the input"
        ),
        "enc": DataflowKey(refuse="tokens are estimated as UTF-8 bytes / 4; remove `enc`"),
    }

    @model_validator(mode="after")
    def _no_template(self) -> "ChunkedConfig":
        if self.template is not None or self.user_prompt or self.input_keys:
            raise ValueError("ChunkedPromptedGenerator sends each chunk as it is: use system_prompt, not a template")
        return self


@register
class ChunkedPromptedGenerator(PromptedOperator):
    """Splits `input_key` (or the file `input_path_key` names) into chunks of at most `max_chunk_len`
    tokens, asks the model once per chunk and joins the answers into `output_key` with `separator`."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = ChunkedConfig
    tags = ("llm", "prompted", "no-code", "generate", "long-context")
    row_local = True
    dataflow_fidelity = "approximated"
    dataflow_note = "tokens estimated as bytes/4 (no tiktoken); joined answers in a column, not a file"

    def user_template(self) -> str:
        return "{" + CHUNK + "}"

    def build_prompt(self) -> PromptTemplate:
        return PromptTemplate(self.name, self.user_template(), self.config.system_prompt, self.config.json_schema)

    _chunking = False  # True while the shared loop reads the chunk table instead of the input

    def input_columns(self) -> list[str]:
        return [CHUNK] if self._chunking else [self.config.input_path_key or self.config.input_key]

    def request_where_sql(self) -> str | None:
        return None

    def outputs(self) -> dict[str, str]:
        return {"": self.config.output_key}

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        return {CHUNK: row.get(CHUNK)}

    def _text(self, row: dict[str, Any]) -> str:
        if self.config.input_path_key is None:
            return row.get(self.config.input_key) or ""
        path = Path(str(row.get(self.config.input_path_key) or ""))
        if not path.is_file():
            raise OperatorError(
                f"{self.name}: row {row[ID]}: file {path} (column {self.config.input_path_key}) not found"
            )
        return path.read_text(encoding="utf-8")

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        chunks = f"{ctx.target}__chunks"
        col = quote_ident(self.input_columns()[0])
        ctx.con.execute(f"CREATE TABLE {quote_ident(chunks)} ({ID} VARCHAR, __row VARCHAR, __idx INT, {CHUNK} VARCHAR)")
        reader = ctx.con.cursor().sql(f"SELECT {ID}, {col} FROM {quote_ident(ctx.source or '')}").to_arrow_reader(256)
        for batch in reader:
            data: dict[str, list[Any]] = {ID: [], "__row": [], "__idx": [], CHUNK: []}
            for row in batch.to_pylist():
                text = self._text(row)
                for i, piece in enumerate(split_recursive(text, self.config.max_chunk_len) if text.strip() else []):
                    data[ID].append(f"{row[ID]}#{i}")
                    data["__row"].append(row[ID])
                    data["__idx"].append(i)
                    data[CHUNK].append(piece)
            if data[ID]:
                ctx.con.register("__chunk_batch", pa.table(data))
                ctx.con.execute(f"INSERT INTO {quote_ident(chunks)} SELECT * FROM __chunk_batch")
                ctx.con.unregister("__chunk_batch")
        original = ctx.source
        self._rows_source = original or ""
        ctx.source, self._chunking = chunks, True  # the shared loop sends one request per chunk row
        try:
            stats = super().run(ctx)  # answers per chunk into {target}__out, then assemble() below
        finally:
            ctx.source, self._chunking = original, False
        stats["chunks"] = ctx.count(chunks)
        return stats

    def assemble(self, ctx: OperatorContext, cols: list[str]) -> None:
        """One output row per input row whose every chunk was answered: the answers joined in order."""
        source = self._rows_source
        src, out = quote_ident(source), quote_ident(f"{ctx.target}__out")
        chunks, key = quote_ident(f"{ctx.target}__chunks"), quote_ident(self.config.output_key)
        existing = set(ctx.columns(source))
        drop = [ID, *[c for c in (PARENTS, self.config.output_key) if c in existing]]
        joined = (
            f"SELECT c.__row, string_agg(o.{key}, {quote_literal(self.config.separator)} ORDER BY c.__idx) AS {key}, "
            f"count(o.{ID}) = count(*) AS __complete FROM {chunks} c LEFT JOIN {out} o USING ({ID}) GROUP BY c.__row"
        )
        ctx.con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT {derived_id_sql(f's.{ID}', self.fingerprint())} AS {ID}, "
            f"[s.{ID}] AS {PARENTS}, s.* EXCLUDE ({', '.join(quote_ident(c) for c in drop)}), a.{key} "
            f"FROM {src} s JOIN ({joined}) a ON a.__row = s.{ID} WHERE a.__complete"
        )
