"""Where the recorded materialisations of an asset are read from: the Dagster event log or the storage.

Audits, diffs and ``gc`` all ask the same question ("which versions of this asset were published,
and with what lineage?"). The storage's append-only history (``Storage.history``) answers it without
Dagster; a Dagster instance's event log answers it with the run ids and tags the UI shows. Both end
up as ``Record`` values here, newest first, so neither audit nor diff needs the other.
"""

from dataclasses import dataclass, field
from typing import Any

from dataflow_dagster.core.storage import Address, AssetAddress, SnapshotRef, Storage


@dataclass
class Version:
    """One materialisation of an asset: where its table lives and where that fact came from."""

    path: str
    content_hash: str
    run_id: str | None = None
    published_at: float | None = None
    origin: str = "history"
    view: dict[str, str | None] | None = None  # select/where of a fused stage's step (SnapshotRef)

    def read_sql(self) -> str:
        """The table as SQL: the whole file, or the step's view over a fused stage's snapshot."""
        return SnapshotRef(self.path, self.content_hash, 0, [], **(self.view or {})).read_sql()


@dataclass
class Record:
    """A materialisation with its lineage (and the Dagster tags, when it came from the event log)."""

    lineage: dict[str, Any]
    version: Version
    tags: dict[str, str] = field(default_factory=dict)


def history_records(storage: Storage, address: Address) -> list[Record]:
    """The storage's own record of ``address``'s publishes, newest first."""
    out = []
    for doc in storage.history(address):
        t = doc["tables"]["table"]
        lin = doc["lineage"]
        view = {"select": t.get("select"), "where": t.get("where")}
        out.append(
            Record(lin, Version(t["path"], t["content_hash"], lin.get("run_id"), doc.get("published_at"), view=view))
        )
    return list(reversed(out))


def _meta_value(v: Any) -> Any:
    for attr in ("data", "value", "path", "text"):
        if hasattr(v, attr):
            return getattr(v, attr)
    return v


def event_records(instance: Any, asset_key: Any, partition: str | None, limit: int = 1000) -> list[Record]:
    """Materialisations of ``asset_key`` in a Dagster instance's event log that carry our lineage, newest first."""
    from dagster import AssetRecordsFilter  # only when an instance is given: the engine stays Dagster-free

    flt = AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition] if partition else None)
    out = []
    for rec in instance.fetch_materializations(flt, limit=limit).records:  # newest first
        mat = rec.asset_materialization
        md = {k: _meta_value(v) for k, v in (mat.metadata or {}).items()}
        if "lineage" not in md:
            continue
        lin = md["lineage"]
        version = Version(
            str(md.get("snapshot")),
            lin.get("content_hash", ""),
            rec.run_id,
            rec.timestamp,
            "event_log",
            lin.get("view"),
        )
        out.append(Record(lin, version, dict(mat.tags or {})))
    return out


def records(storage: Storage, address: Address, instance: Any = None, asset_key: Any = None) -> list[Record]:
    """Newest first: from the event log when an instance and key are given and it has any, else the history."""
    address = AssetAddress.of(address)
    if instance is not None and asset_key is not None:
        found = event_records(instance, asset_key, address.partition)
        if found:
            return found
    return history_records(storage, address)


def versions(storage: Storage, address: Address, instance: Any = None, asset_key: Any = None) -> list[Version]:
    """Every recorded materialisation of ``address``, oldest first."""
    return [r.version for r in reversed(records(storage, address, instance, asset_key))]
