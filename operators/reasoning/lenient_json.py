"""Accept raw control characters (newlines, tabs) inside JSON strings from the model.

llama.cpp's JSON grammar lets a model write literal newlines inside long free-text fields
(solutions, code), which strict ``json.loads`` refuses although the answer is complete and
meaningful. Operators whose outputs are long text mix this in; the schema is still enforced.
"""

import contextlib
import json
from dataclasses import replace
from typing import Any

from operators.core.llm import LLMResponse
from operators.core.llm_ops import LLMOperator


class LenientJSONMixin(LLMOperator):
    def parse(self, resp: LLMResponse, schema: dict[str, Any] | None) -> dict[str, Any]:
        if schema is not None and resp.text:
            try:
                json.loads(resp.text)
            except json.JSONDecodeError:
                with contextlib.suppress(json.JSONDecodeError):
                    resp = replace(resp, text=json.dumps(json.loads(resp.text, strict=False)))
        return super().parse(resp, schema)
