"""Editing an operator's code changes its lineage: code_version, Dagster staleness and the row memo.

Written as the attack of the engine/translator issue: on the code before code identity, the edited
rule kept the same code_version, Dagster reported the asset fresh and the refresh reused the old
verdicts (mode=delta, 3 rows reused, ``abcdef`` still kept).
"""

import importlib
import json
import sys
import uuid
from pathlib import Path

from dagster import AssetKey, DagsterInstance
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.core.runner import run_source, run_step
from dataflow_dagster.core.storage import Storage
from dataflow_dagster.defs.factory import build_definitions
from dataflow_dagster.defs.resources import StorageResource

RULE = '''from operators.core.sql_ops import SQLFilter


class MinLength(SQLFilter):
    """Test filter (unregistered): keeps texts of at least N characters."""

    def keep_sql(self) -> str:
        return f"length({{self.col()}}) >= {n}"
'''


def _load_rule(folder: Path, package: str, n: int):
    (folder / package).mkdir(exist_ok=True)
    (folder / package / "__init__.py").write_text("")
    (folder / package / "rules.py").write_text(RULE.format(n=n))
    importlib.invalidate_caches()
    name = f"{package}.rules"
    module = importlib.reload(sys.modules[name]) if name in sys.modules else importlib.import_module(name)
    return module.MinLength


def _pipe(src: Path, op_cls) -> Pipeline:
    return Pipeline("ident", Source(str(src), required_columns=["text"]), [Step("minlen", op_cls())])


def _kept(storage: Storage, asset: str) -> set[str]:
    ref = storage.current_ref(asset)
    import duckdb

    return {r[0] for r in duckdb.sql(f"SELECT text FROM read_parquet('{ref.path}')").fetchall()}


def test_editing_a_rule_changes_code_version_staleness_and_memo(tmp_path: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    package = f"identpkg_{uuid.uuid4().hex[:8]}"
    src = tmp_path / "src.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["abc", "abcdef", "abcdefghijklm"]))
    root = tmp_path / "store"
    instance = DagsterInstance.ephemeral()
    key = AssetKey(["ident", "minlen"])

    old_cls = _load_rule(tmp_path, package, 5)
    old_defs = build_definitions([_pipe(src, old_cls)], storage=StorageResource(root=str(root)))
    assert old_defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance).success
    old_version = old_defs.resolve_asset_graph().get(key).code_version

    storage = Storage(root)
    first = run_step(storage, _pipe(src, old_cls), "minlen", incremental=True)
    assert _kept(storage, "ident__minlen") == {"abcdef", "abcdefghijklm"}
    assert first.lineage["incremental"]["mode"] in ("delta", "full")

    new_cls = _load_rule(tmp_path, package, 12)  # the user edits the keep rule: >= 5 becomes >= 12
    new_defs = build_definitions([_pipe(src, new_cls)], storage=StorageResource(root=str(root)))
    graph = new_defs.resolve_asset_graph()
    assert graph.get(key).code_version != old_version
    resolver = CachingStaleStatusResolver(instance, graph, LoadingContextForTest(instance))
    assert resolver.get_status(key) == StaleStatus.STALE
    assert any("code version" in c.reason for c in resolver.get_stale_causes(key))

    run_source(storage, _pipe(src, new_cls))
    refreshed = run_step(storage, _pipe(src, new_cls), "minlen", incremental=True)
    inc = refreshed.lineage["incremental"]
    assert inc["mode"] == "full", inc  # nothing remembered is reused: every row judged by the new rule
    assert inc.get("rows_reused", 0) == 0
    assert _kept(storage, "ident__minlen") == {"abcdefghijklm"}


def test_derived_evaluators_inherit_their_filters_identity():
    from operators.core.code_identity import implementation_hash
    from operators.general_text.evaluators import DERIVED
    from operators.general_text.heuristics import WordNumberFilter

    derived = next(c for c in DERIVED.values() if WordNumberFilter in getattr(c, "delegates_to", ()))
    before = implementation_hash(derived)

    class EditedWordNumber(WordNumberFilter):  # stands for an edit of the filter's code
        def keep_sql(self) -> str:
            return "true"

    edited = type(derived.__name__, (derived,), {"delegates_to": (EditedWordNumber,), "__module__": __name__})
    assert implementation_hash(edited) != before


def test_native_kernel_sources_are_part_of_the_identity_of_filters_using_them(tmp_path: Path, monkeypatch):
    from operators.core import code_identity
    from operators.general_text.heuristics import WordNumberFilter

    before = code_identity.implementation_hash(WordNumberFilter)
    native = Path(sys.modules["operators.general_text.native"].__file__).parent
    assert (native / "textkern.c").is_file()
    copy = tmp_path / "native"
    copy.mkdir()
    for p in native.iterdir():
        if p.suffix in (".c", ".h"):
            (copy / p.name).write_bytes(p.read_bytes())
    (copy / "textkern.c").write_text((native / "textkern.c").read_text() + "\n/* edited */\n")
    monkeypatch.setattr(code_identity, "_native_sources", lambda: sorted(str(p) for p in copy.iterdir()))
    code_identity.implementation_hash.cache_clear()
    try:
        assert code_identity.implementation_hash(WordNumberFilter) != before
    finally:
        code_identity.implementation_hash.cache_clear()
