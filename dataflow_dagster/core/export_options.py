"""What an export of an asset to the Hugging Face datasets layout should look like.

One pydantic model serves the three places that set it: ``Step(export=...)`` in Python, the
``export:`` key of a YAML step (validated with the same rules, ``extra="forbid"``) and the
``dataflow-dagster export`` options. It is kept apart from the writer so that defining a pipeline
never imports pyarrow writers, ``datasets`` or ``huggingface_hub``.
"""

import re
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The Hub's split names: word characters, optionally dotted (datasets' `_split_re`).
SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")
# push_to_hub's default shard bound; the Hub's viewer and `datasets` stream shards this size well.
DEFAULT_MAX_SHARD_BYTES = 500 * 1024 * 1024


class ExportOptions(BaseModel):
    """How to lay out, describe and (optionally) publish one asset as a Hugging Face dataset."""

    model_config = ConfigDict(extra="forbid")

    out_dir: Optional[str] = Field(default=None, description="folder to write (the Step option needs it)")
    split_column: Optional[str] = Field(
        default=None, description="column whose values name each row's split (dropped from the data)"
    )
    splits: dict[str, float] = Field(
        default_factory=lambda: {"train": 1.0},
        description="split name -> share of rows, assigned by a seeded hash of each row's _id",
    )
    seed: int = Field(default=0, description="seed of the ratio split; same seed, same rows in each split")
    max_shard_bytes: int = Field(default=DEFAULT_MAX_SHARD_BYTES, gt=0, description="bound on a shard's Arrow size")
    keep_internal: bool = Field(
        default=False, description="keep _id, _parent_ids and __* columns in the data (else lineage/row_ids.parquet)"
    )
    pretty_name: Optional[str] = None
    license: Optional[str] = Field(default=None, description="Hub license id, e.g. apache-2.0, cc-by-4.0")
    task_categories: list[str] = Field(default_factory=list, description="Hub task categories")
    language: list[str] = Field(default_factory=list, description="ISO 639-1 codes, when known")
    tags: list[str] = Field(default_factory=list)
    audit_module: Optional[str] = Field(
        default=None, description="code location module named in the card's audit command (default: detected)"
    )
    push_repo: Optional[str] = Field(default=None, description="Hub dataset repo id to upload to (token: $HF_TOKEN)")
    private: bool = Field(default=False, description="create the Hub repo private (only when it does not exist)")

    @model_validator(mode="after")
    def _coherent(self) -> "ExportOptions":
        if self.split_column is not None and self.splits != {"train": 1.0}:
            raise ValueError("give either split_column or splits (ratios), not both")
        if not self.splits:
            raise ValueError("splits must name at least one split, e.g. {train: 0.9, test: 0.1}")
        bad = [s for s in self.splits if not SPLIT_NAME.match(s)]
        if bad:
            raise ValueError(f"split names {bad} are not valid Hub split names (letters, digits, _)")
        if any(v < 0 for v in self.splits.values()) or abs(sum(self.splits.values()) - 1.0) > 1e-9:
            raise ValueError(f"split shares must be >= 0 and sum to 1, got {self.splits}")
        return self


def parse_splits(text: str) -> dict[str, float]:
    """``train=0.9,test=0.1`` (the CLI's form) as a mapping."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, share = part.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(share)
        except ValueError:
            raise ValueError(f"split '{part}' is not NAME=SHARE (e.g. train=0.9,test=0.1)") from None
    return out


def parse_size(text: str) -> int:
    """``500MB`` / ``1GiB`` / ``100000`` as bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"'{text}' is not a size (e.g. 500MB, 1GiB, 100000)")
    base = 1024 if m.group(3) else 1000
    power = " KMGT".index(m.group(2).upper() or " ")
    return int(float(m.group(1)) * base**power)
