"""``croissant.json``: MLCommons Croissant 1.0 metadata of an export, built with ``mlcroissant``.

The metadata is built through mlcroissant's own node classes rather than by hand-writing JSON-LD, so
what we write is what its validator accepts. Each shard is a ``FileObject`` with its sha256, each
split a ``FileSet`` + ``RecordSet``; provenance goes in the Responsible-AI properties Croissant 1.0
defines: the raw data (source file and sha256), the preprocessing protocol (one line per step:
operator, version, config, rows in/kept/rejected, content hash), the annotation protocol (prompt
names and hashes) and the machine annotation tools (models with their sampling parameters).
"""

import datetime
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dataflow_dagster.core.export_options import ExportOptions
from dataflow_dagster.core.pipeline import Pipeline

if TYPE_CHECKING:
    from dataflow_dagster.core.export import ExportResult


def _data_type(mlc: Any, t: pa.DataType) -> tuple[Any, bool]:
    """(Croissant data type, repeated) of an Arrow column type."""
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner, _ = _data_type(mlc, t.value_type)
        return inner, True
    if pa.types.is_boolean(t):
        return mlc.DataType.BOOL, False
    if pa.types.is_integer(t):
        return mlc.DataType.INTEGER, False
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return mlc.DataType.FLOAT, False
    if pa.types.is_timestamp(t):
        return mlc.DataType.DATETIME, False
    if pa.types.is_date(t):
        return mlc.DataType.DATE, False
    return mlc.DataType.TEXT, False


def provenance(result: "ExportResult") -> dict[str, Any]:
    """The lineage facts Croissant's RAI properties carry (also used by tests to compare)."""
    source = result.chain[0].lineage
    steps, prompts, tools = [], [], []
    for rec in result.chain[1:]:
        lin = rec.lineage
        steps.append(
            f"{rec.asset}: {lin.get('operator')}@{lin.get('operator_version')} "
            f"config={json.dumps(lin.get('config', {}), sort_keys=True, default=str)}; "
            f"rows in {lin.get('rows_in')}, kept {lin.get('rows_out')}, rejected {lin.get('rejected_rows', 0)}, "
            f"errors {lin.get('error_rows', 0)}; content sha256 {rec.content_hash}"
        )
        if lin.get("prompt"):
            prompts.append(f"{rec.asset}: prompt '{lin['prompt'].get('name')}' sha256 {lin['prompt'].get('hash')}")
        if lin.get("model"):
            params = json.dumps(lin["model"].get("params", {}), sort_keys=True)
            tools.append(f"{rec.asset}: {lin['model'].get('id')} {params}")
    return {
        "raw": f"{source.get('source_file')} (sha256 {source.get('source_sha256')}, {source.get('rows_out')} rows)",
        "preprocessing": steps,
        "annotation": prompts,
        "tools": tools,
    }


def build_croissant(result: "ExportResult", pipeline: Pipeline, options: ExportOptions) -> dict[str, Any]:
    import mlcroissant as mlc

    from dataflow_dagster.core.export import is_internal

    schema = pa.schema([pa.field(k, v) for k, v in _arrow_types(result).items()])
    distribution: list[Any] = []
    record_sets = []
    for split in result.splits:
        for f in split.files:
            distribution.append(
                mlc.FileObject(
                    id=f,
                    name=f,
                    content_url=f,
                    content_size=f"{result.file_size[f]} B",
                    encoding_formats=[mlc.EncodingFormat.PARQUET],
                    sha256=result.file_sha256[f],
                )
            )
        files_id = f"{split.name}-files"
        distribution.append(
            mlc.FileSet(
                id=files_id,
                name=files_id,
                description=f"the {split.name} split's Parquet shards",
                encoding_formats=[mlc.EncodingFormat.PARQUET],
                includes=[f"data/{split.name}-*.parquet"],
            )
        )
        fields = []
        for col in schema:
            dtype, repeated = _data_type(mlc, col.type)
            fields.append(
                mlc.Field(
                    id=f"{split.name}/{col.name}",
                    name=col.name,
                    description="internal lineage column" if is_internal(col.name) else None,
                    data_types=[dtype],
                    repeated=repeated or None,
                    source=mlc.Source(file_set=files_id, extract=mlc.Extract(column=col.name)),
                )
            )
        record_sets.append(
            mlc.RecordSet(id=split.name, name=split.name, description=f"{split.rows} rows", fields=fields)
        )
    prov = provenance(result)
    made = result.chain[-1].lineage.get("finished_at")
    name = options.pretty_name or f"{pipeline.name}-{result.chain[-1].step}"
    metadata = mlc.Metadata(
        name=name,
        # The materialisation's own time and hash, never the export's: re-exports stay byte-identical.
        date_published=datetime.datetime.fromtimestamp(made, datetime.UTC) if made else None,
        cite_as=f"{name}, dataflow-dagster pipeline {pipeline.name}, content sha256 {result.content_hash}",
        description=pipeline.description
        or f"Rows of {result.asset} made by the dataflow-dagster pipeline {pipeline.name}",
        url=f"https://huggingface.co/datasets/{options.push_repo}" if options.push_repo else None,
        license=[_license_url(options.license)] if options.license else None,
        in_language=options.language or None,
        keywords=["dataflow-dagster", *options.tags],
        version=f"0.0.0+{result.content_hash[:12]}",
        distribution=distribution,
        record_sets=record_sets,
        data_collection=(
            f"Made by the dataflow-dagster pipeline '{pipeline.name}' ({len(result.chain) - 1} steps from the "
            f"source to {result.asset}); final content sha256 {result.content_hash}. "
            f"Audit: {result.audit_command}"
        ),
        data_collection_raw_data=prov["raw"],
        data_preprocessing_protocol=prov["preprocessing"] or None,
        data_annotation_protocol=prov["annotation"] or None,
        machine_annotation_tools=prov["tools"] or None,
    )
    return metadata.to_json()


def _arrow_types(result: "ExportResult") -> dict[str, pa.DataType]:
    from datasets import Features

    schema = Features.from_dict(result.features).arrow_schema
    return {f.name: f.type for f in schema}


def _license_url(license_id: str) -> str:
    """SPDX licenses as their spdx.org URL (what Croissant validators expect); other ids as given."""
    return license_id if "://" in license_id else f"https://spdx.org/licenses/{_spdx(license_id)}.html"


def _spdx(hub_id: str) -> str:
    known = {
        "apache-2.0": "Apache-2.0",
        "mit": "MIT",
        "cc-by-4.0": "CC-BY-4.0",
        "cc-by-sa-4.0": "CC-BY-SA-4.0",
        "cc0-1.0": "CC0-1.0",
        "odc-by": "ODC-By-1.0",
        "cc-by-nc-4.0": "CC-BY-NC-4.0",
    }
    return known.get(hub_id.lower(), hub_id)


def write_croissant(path: Path, result: "ExportResult", pipeline: Pipeline, options: ExportOptions) -> None:
    """Write ``croissant.json`` next to the shards (``result.out_dir`` is where they will end up)."""
    doc = build_croissant(result, pipeline, options)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
