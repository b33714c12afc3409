"""Counters one client keeps across the batches of a step: what was sent, retried, re-asked, paid.

They are plain numbers so the Dagster layer can put them in materialisation metadata and benches can
read them; nothing here holds a request's content or a credential.
"""

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class DispatchStats:
    requests: int = 0  # logical requests (rows sent to the model)
    attempts: int = 0  # HTTP calls made, retries and re-asks included
    succeeded: int = 0
    failed: int = 0  # rows that failed after every retry
    retries: int = 0
    retry_reasons: Counter = field(default_factory=Counter)
    reasks: int = 0  # answers that failed the schema and were asked again
    format_fallbacks: int = 0  # endpoints that refused json_schema and got json_object instead
    prompt_tokens: int = 0
    completion_tokens: int = 0
    rate_limit_wait_s: float = 0.0
    busy_s: float = 0.0  # wall time spent inside generate()

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["retry_reasons"] = dict(self.retry_reasons)
        d["rate_limit_wait_s"] = round(self.rate_limit_wait_s, 3)
        d["busy_s"] = round(self.busy_s, 3)
        return d
