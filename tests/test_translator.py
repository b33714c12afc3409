"""A subclassed DataflowTranslator decides keys, groups, tags and owners: in the Definitions, in a
materialisation, in the checks and job, and for audits that read the event log by asset key."""

import json
from pathlib import Path

from dagster import AssetKey, DagsterInstance

from dataflow_dagster.cli.lineage_cmds import audit_definitions
from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.defs.factory import build_definitions, dataflow_assets
from dataflow_dagster.defs.resources import StorageResource
from dataflow_dagster.defs.translator import DataflowTranslator, Node
from operators.general_text.heuristics import WordNumberFilter
from tests.helpers import check_results, materialized, run_job

TEXTS = ["one two three four five six", "too short", "seven eight nine ten eleven twelve thirteen"]


class TeamTranslator(DataflowTranslator):
    def get_asset_key(self, pipeline: Pipeline, node: Node) -> AssetKey:
        return super().get_asset_key(pipeline, node).with_prefix("team_a")

    def get_group_name(self, pipeline: Pipeline, node: Node) -> str | None:
        return "curated"

    def get_tags(self, pipeline: Pipeline, node: Node) -> dict[str, str]:
        return {**super().get_tags(pipeline, node), "team": "a"}

    def get_owners(self, pipeline: Pipeline, node: Node) -> list[str]:
        return ["team:data-a"]


def _pipe(tmp_path: Path) -> Pipeline:
    src = tmp_path / "texts.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    return Pipeline(
        "tr",
        Source(str(src), required_columns=["text"]),
        [Step("words", WordNumberFilter(min_words=5), schema={"text": {"type": "string", "non_nullable": True}})],
    )


def test_translator_decides_keys_groups_tags_in_definitions_and_runs(tmp_path: Path):
    pipe = _pipe(tmp_path)
    defs = build_definitions(
        [pipe], storage=StorageResource(root=str(tmp_path / ".dataflow")), translator=TeamTranslator()
    )
    graph = defs.resolve_asset_graph()
    words, load = AssetKey(["team_a", "tr", "words"]), AssetKey(["team_a", "tr", "load"])
    assert set(graph.get_all_asset_keys()) == {words, load}
    node = graph.get(words)
    assert node.group_name == "curated"
    assert node.tags["team"] == "a" and node.tags["dataflow/operator"] == "WordNumberFilter"
    assert node.owners == ["team:data-a"]
    assert set(node.parent_keys) == {load}  # deps follow the translator's keys
    assert {c.asset_key for c in graph.asset_check_keys} == {words}

    instance = DagsterInstance.ephemeral()
    result = run_job(defs, "tr_job", instance=instance)
    assert result.success
    mats = materialized(result)
    assert set(mats) == {"team_a/tr/load", "team_a/tr/words"}
    assert mats["team_a/tr/words"]["dagster/row_count"] == 2
    assert check_results(result) == {"team_a/tr/words:output_schema": True}

    # The audit reads the event log under the translator's key (not [pipeline, step]).
    audit = audit_definitions(defs, "tr/words", instance=instance)
    assert audit.ok, audit.summary()
    assert {s.origin for s in audit.steps} == {"event_log"}


def test_dataflow_assets_uses_the_translator_spec(tmp_path: Path):
    assets = dataflow_assets(_pipe(tmp_path), TeamTranslator())
    specs = [spec for a in assets for spec in a.specs]
    assert [s.key for s in specs] == [AssetKey(["team_a", "tr", "load"]), AssetKey(["team_a", "tr", "words"])]
    assert all(s.group_name == "curated" for s in specs)
    default = dataflow_assets(_pipe(tmp_path))
    assert [s.key for a in default for s in a.specs] == [AssetKey(["tr", "load"]), AssetKey(["tr", "words"])]
