"""Prompt templates: text with ``{field}`` slots, an optional system message and output schema.

The content hash covers everything that changes what the model is asked, so the Dagster layer can
fold it into ``code_version`` and mark exactly the affected assets stale when a prompt is edited.
"""

import hashlib
import json
import string
from dataclasses import dataclass
from typing import Any

from operators.core.contract import OperatorError


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    template: str
    system: str = ""
    output_schema: dict[str, Any] | None = None

    def fields(self) -> list[str]:
        return [f for _, f, _, _ in string.Formatter().parse(self.template) if f]

    def render(self, values: dict[str, Any]) -> str:
        try:
            return self.template.format(**{k: "" if v is None else v for k, v in values.items()})
        except KeyError as exc:
            raise OperatorError(
                f"prompt '{self.name}' needs field {exc} but the row only has {sorted(values)}; "
                "map it with the operator's input keys or edit the template"
            ) from exc

    @property
    def content_hash(self) -> str:
        payload = json.dumps(
            {"template": self.template, "system": self.system, "schema": self.output_schema},
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def with_text(self, template: str) -> "PromptTemplate":
        return PromptTemplate(self.name, template, self.system, self.output_schema)
