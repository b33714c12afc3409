"""Prompted operators whose prompt, output schema and output columns are configuration, not code.

A built-in LLM operator is a class with a prompt constant; these are one class per kind whose prompt
is built from the step's config (DataFlow's ``system_prompt`` / ``user_prompt`` / ``json_schema``, or
our ``template`` with ``{column}`` fields). The instance's prompt takes the place of the class prompt,
so everything a built-in LLM operator has (prompt resource and hash in ``code_version``, response
cache, ``__errors``, parsed/error-share checks, plan estimates) applies unchanged.
"""

import json
from typing import Any, ClassVar

from pydantic import Field, model_validator

from operators.core.contract import quote_ident
from operators.core.llm import LLMResponse
from operators.core.llm_ops import LLMConfig, LLMOperator
from operators.core.prompt import PromptTemplate

# The class-level prompt only says "this operator is prompted" to the registry, schema and agent;
# every instance replaces it with the prompt its config describes.
PLACEHOLDER = PromptTemplate("prompted", "{raw_content}")


class PromptedConfig(LLMConfig):
    input_key: str = "raw_content"
    output_key: str = "generated_content"
    system_prompt: str = Field("You are a helpful agent.", description="system message")
    user_prompt: str = Field("", description="DataFlow style: text put before the input value")
    template: str | None = Field(
        None, description="user message with {field} slots (columns, or fields mapped by input_keys)"
    )
    input_keys: dict[str, str] = Field(default_factory=dict, description="template field -> column")
    json_schema: dict[str, Any] | None = Field(None, description="JSON schema the answer must satisfy")
    output_columns: list[str] | dict[str, str] | None = Field(
        None, description="schema properties written as columns (list, or property -> column)"
    )

    format_template: ClassVar[bool] = True  # template is str.format text (literal braces doubled)

    @model_validator(mode="after")
    def _consistent(self) -> "PromptedConfig":
        if self.template is not None and self.user_prompt:
            raise ValueError("set either `template` (with {fields}) or DataFlow's `user_prompt` (a prefix), not both")
        if self.output_columns and not self.json_schema:
            raise ValueError("`output_columns` names JSON properties, so it needs `json_schema`")
        props = (self.json_schema or {}).get("properties", {})
        wanted = list(self.output_columns or [])
        missing = [p for p in wanted if p not in props]
        if missing:
            raise ValueError(f"`output_columns` {missing} are not properties of `json_schema` ({sorted(props)})")
        if self.template is not None and type(self).format_template:
            try:
                PromptTemplate("check", self.template).fields()
            except ValueError as exc:
                raise ValueError(
                    f"`template` is not a valid format string ({exc}); write braces as {{{{ }}}}"
                ) from None
        return self


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


class PromptedOperator(LLMOperator):
    """Shared by the prompted kinds: the prompt and the outputs come from the config."""

    Config: ClassVar = PromptedConfig
    domain: ClassVar[str] = "core_text"
    tags: ClassVar[tuple[str, ...]] = ("llm", "prompted", "no-code")
    default_prompt = PLACEHOLDER

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.default_prompt = self.build_prompt()  # type: ignore[misc]  # instance prompt replaces the class one

    # ---- prompt --------------------------------------------------------------------------------
    def answer_schema(self) -> dict[str, Any] | None:
        return self.config.json_schema

    def user_template(self) -> str:
        c = self.config
        if c.template is not None:
            return c.template
        return _escape(c.user_prompt) + "{" + c.input_key + "}"

    def build_prompt(self) -> PromptTemplate:
        return PromptTemplate(f"{self.name}", self.user_template(), self.config.system_prompt, self.answer_schema())

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        keys = self.config.input_keys
        return {f: row.get(keys.get(f, f)) for f in prompt.fields()}

    def input_columns(self) -> list[str]:
        fields = self.default_prompt.fields() if self.default_prompt else []
        keys = self.config.input_keys
        cols = [self.config.input_key, *(keys.get(f, f) for f in fields)]
        return list(dict.fromkeys(cols))

    def request_where_sql(self) -> str | None:
        """DataFlow sends only rows whose input is non-empty; the others keep their place without a call."""
        col = quote_ident(self.config.input_key)
        return f"{col} IS NOT NULL AND trim({col}::VARCHAR) <> ''"

    # ---- outputs -------------------------------------------------------------------------------
    def outputs(self) -> dict[str, str]:
        cols = self.config.output_columns
        if isinstance(cols, dict):
            return dict(cols)
        if cols:
            return {p: p for p in cols}
        return {"": self.config.output_key}  # the whole answer (text, or the JSON document) in one column

    def _column_types(self, schema: dict[str, Any] | None) -> dict[str, str]:
        whole = self.outputs().get("")
        return {whole: "VARCHAR"} if whole else super()._column_types(schema)

    def parse(self, resp: LLMResponse, schema: dict[str, Any] | None) -> dict[str, Any]:
        whole = self.outputs().get("")
        if schema is None:
            if not (resp.text or "").strip():
                raise ValueError("empty answer")
            return {whole: resp.text}
        values = super().parse(resp, schema)
        if whole:  # validated by the base; keep the document itself
            return {whole: json.dumps(json.loads(resp.text or "", strict=False), ensure_ascii=False)}
        return values
