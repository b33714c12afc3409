"""What a domain recipe returns, and the column lookup recipes share.

A recipe is an ordered, key-bound operator chain for one domain; ``claims`` says which words of a
request the recipe itself serves, so that the builder can compose the recipe with retrieval: clean-up
clauses the request puts *before* the domain work ("drop empty documents, then write multi-hop QA")
become retrieval-chosen steps in front of the chain, bound to the recipe's main column.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from dataflow_dagster.agent.profile import DataProfile
from dataflow_dagster.core.pipeline import Step


@dataclass
class RecipePlan:
    recipe: str
    steps: list[Step]
    source_columns: list[str]
    notes: list[str] = field(default_factory=list)
    source: Path | None = None  # a source the recipe built (e.g. database seeds), else the request's data
    claims: re.Pattern[str] | None = None  # a leading clause matching this is the recipe's, not a prefix
    composable: bool = True  # False: the recipe replaces the source, so source-level clean-up cannot precede it


def column(data: DataProfile, names: tuple[str, ...]) -> str:
    """The first of ``names`` the data has, else the data's main text column."""
    return next((c for c in names if c in data.columns), data.text_column)


def has(text: str, pattern: str) -> bool:
    return re.search(pattern, text, re.I) is not None
