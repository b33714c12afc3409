"""Cost accounting from a configurable price table ($ per 1M tokens, input and output, per model).

Prices change and differ per contract, so none are built in: the table comes from the LLM resource's
``prices`` config (or ``$DATAFLOW_LLM_PRICES``, a JSON file ``{"model": [in, out]}``). A model that is
not in the table is reported as unpriced, never as free.
"""

import json
import os
from dataclasses import dataclass
from typing import Any

PRICES_ENV = "DATAFLOW_LLM_PRICES"


@dataclass(frozen=True)
class Price:
    input_per_1m: float
    output_per_1m: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_1m + completion_tokens * self.output_per_1m) / 1e6


def load_price_table(table: dict[str, Any] | None = None) -> dict[str, Price]:
    """Merge ``$DATAFLOW_LLM_PRICES`` (if set) with ``table``; values are [in, out] or {input_per_1m, ...}."""
    merged: dict[str, Any] = {}
    path = os.environ.get(PRICES_ENV)
    if path:
        with open(path, encoding="utf-8") as fh:
            merged.update(json.load(fh))
    merged.update(table or {})
    out = {}
    for model, value in merged.items():
        if isinstance(value, dict):
            out[model] = Price(float(value["input_per_1m"]), float(value["output_per_1m"]))
        else:
            pin, pout = value
            out[model] = Price(float(pin), float(pout))
    return out


def price_for(table: dict[str, Price], *model_names: str) -> Price | None:
    """First match among the names a model goes by (served name, model id)."""
    for name in model_names:
        if name and name in table:
            return table[name]
    return None


def lineage_cost(lineage: dict[str, Any]) -> float | None:
    """Dollars paid by one materialisation (cache misses only), from its lineage; None if unpriced."""
    model = lineage.get("model") or {}
    price = model.get("price_per_1m")
    tokens = lineage.get("tokens") or {}
    if not price:
        return None
    p = Price(float(price["input"]), float(price["output"]))
    return round(p.cost(int(tokens.get("prompt", 0)), int(tokens.get("completion", 0))), 6)
