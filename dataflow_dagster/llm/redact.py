"""Secrets out of every text the project keeps.

Servers echo what they were sent: a 401 body that quotes the bad key, a proxy's HTML error page with
the request headers, a debug server's 200 that repeats the request. Whatever the LLM layer turns
into a row error, a cached answer or a log line passes through ``Redactor.clean`` first, so the key
never reaches ``__errors`` snapshots, the catalog, the response cache or the Dagster run database.
"""

import os
import re
from collections.abc import Iterable

REDACTED = "[redacted]"
# Environment variables whose values are treated as secrets wherever they appear.
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
_MIN_SECRET_LEN = 8  # shorter values ("none", "0") would redact ordinary words


def environment_secrets() -> list[str]:
    return [v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= _MIN_SECRET_LEN]


class Redactor:
    """Replaces each configured secret (and the environment's) by ``[redacted]``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        values = {s for s in (*secrets, *environment_secrets()) if s and len(s) >= _MIN_SECRET_LEN}
        values.discard("not-needed")
        # longest first, so a secret that contains another is replaced whole
        self._pattern = re.compile("|".join(re.escape(s) for s in sorted(values, key=len, reverse=True)))
        self._empty = not values

    def clean(self, text: str | None) -> str | None:
        if text is None or self._empty:
            return text
        return self._pattern.sub(REDACTED, text)
