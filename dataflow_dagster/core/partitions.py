"""Partitioned pipelines: one corpus split into shards that run (and refresh) independently.

Two ways to split, both carried through every step as Dagster partitions of every asset:
- ``HashShards(n, key=...)``: one source file, rows assigned to ``n`` static partitions by a hash of
  ``key`` (or of the whole row). Rows with the same key always share a shard, so exact dedup on that
  key inside a shard equals dedup over the whole corpus, and the union of the shards' tables equals
  the unpartitioned result (same content hash).
- ``FilePartitions(pattern)``: the source path is a folder and each matching file is a dynamic
  partition; a sensor adds new files as partitions, so a new drop is processed alone.

Each partition's snapshots are published as ``<asset>@<partition>`` refs; the catalog's view of an
asset is the union of its partitions' files. Nothing here imports a Dagster executor: scale-out is a
matter of running partitions as concurrent runs (multiprocess, celery, k8s), see docs/scale_out.md.
"""

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

from operators.core.contract import OperatorError, quote_ident

if TYPE_CHECKING:
    from dataflow_dagster.core.pipeline import Pipeline


@dataclass(frozen=True)
class HashShards:
    count: int
    key: str | None = None  # column whose value picks the shard; None: the whole row

    def __post_init__(self) -> None:
        if self.count < 1:
            raise OperatorError(f"HashShards needs count >= 1, got {self.count}")

    def partition_keys(self) -> list[str]:
        width = len(str(self.count - 1))
        return [f"shard{i:0{width}d}" for i in range(self.count)]

    def index(self, partition: str) -> int:
        try:
            return self.partition_keys().index(partition)
        except ValueError:
            keys = self.partition_keys()
            raise OperatorError(f"unknown shard '{partition}'; shards are {keys[0]}..{keys[-1]}") from None

    def filter_sql(self, relation: str, partition: str) -> str:
        """SELECT of the rows of ``relation`` (raw imported rows) that belong to ``partition``."""
        rel = quote_ident(relation)
        what = f"coalesce(r.{quote_ident(self.key)}::VARCHAR, '')" if self.key else "to_json(r)::VARCHAR"
        return f"SELECT r.* FROM {rel} r WHERE md5_number_lower({what}) % {self.count} = {self.index(partition)}"


@dataclass(frozen=True)
class FilePartitions:
    pattern: str = "*.jsonl"
    name: str | None = None  # Dagster's dynamic partitions name; default "<pipeline>_files"

    def files(self, folder: Path) -> list[str]:
        if not folder.is_dir():
            raise OperatorError(f"partitioned source {folder} must be a folder of '{self.pattern}' files")
        return sorted(p.name for p in folder.iterdir() if p.is_file() and fnmatch.fnmatch(p.name, self.pattern))

    def path(self, folder: Path, partition: str) -> Path:
        if Path(partition).name != partition or not fnmatch.fnmatch(partition, self.pattern):
            raise OperatorError(f"partition '{partition}' is not a '{self.pattern}' file name in {folder}")
        return folder / partition


PartitionSpec = Union[HashShards, FilePartitions]


def dynamic_name(pipeline: "Pipeline") -> str:
    spec = pipeline.partitions
    return (spec.name if isinstance(spec, FilePartitions) and spec.name else None) or f"{pipeline.name}_files"


def require_partition(pipeline: "Pipeline", partition: str | None) -> None:
    """Partitioned pipelines need a key, unpartitioned ones refuse one: say which, and how to fix."""
    if pipeline.partitions is not None and partition is None:
        raise OperatorError(
            f"pipeline '{pipeline.name}' is partitioned ({type(pipeline.partitions).__name__}); "
            "materialise one partition (Dagster: pick a partition or launch a backfill; CLI: --partition)"
        )
    if pipeline.partitions is None and partition is not None:
        raise OperatorError(f"pipeline '{pipeline.name}' is not partitioned but partition '{partition}' was given")
