"""``export``: publish an asset as a Hugging Face dataset (Hub layout, card with lineage, Croissant).

Loads the same code location module as ``audit`` (default ``assets.definitions``), so the card's
audit command names the module and storage the data came from and runs as written.
"""

import logging
import sys

import click

from dataflow_dagster.cli.lineage_cmds import load_location
from dataflow_dagster.core.export_options import ExportOptions, parse_size, parse_splits
from operators.core.contract import OperatorError


@click.command("export")
@click.argument("asset")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("-m", "--module", default="assets.definitions", show_default=True, help="code location module")
@click.option("--root", default=None, help="storage root (default: the definitions' storage resource)")
@click.option("--partition", default=None, help="partition key of a partitioned pipeline")
@click.option("--split-column", default=None, help="column whose values name each row's split (dropped from data)")
@click.option(
    "--splits", "splits_text", default="train=1", show_default=True, help="seeded ratio split, e.g. train=0.9,test=0.1"
)
@click.option("--seed", default=0, show_default=True, help="seed of the ratio split")
@click.option("--max-shard-size", default="500MB", show_default=True, help="bound on a shard's Arrow size")
@click.option("--keep-internal", is_flag=True, help="keep _id / _parent_ids in the data (else lineage/row_ids.parquet)")
@click.option("--license", "license_id", default=None, help="Hub license id, e.g. apache-2.0")
@click.option("--task-category", "task_categories", multiple=True, help="Hub task category (repeatable)")
@click.option("--language", "languages", multiple=True, help="ISO 639-1 language code (repeatable)")
@click.option("--pretty-name", default=None, help="title of the dataset card")
@click.option("--push", "push_repo", default=None, help="upload to this Hub dataset repo (token from $HF_TOKEN)")
@click.option("--private", is_flag=True, help="create the Hub repo private (when it does not exist yet)")
def export_command(
    asset: str,
    out_dir: str,
    module: str,
    root: str | None,
    partition: str | None,
    split_column: str | None,
    splits_text: str,
    seed: int,
    max_shard_size: str,
    keep_internal: bool,
    license_id: str | None,
    task_categories: tuple[str, ...],
    languages: tuple[str, ...],
    pretty_name: str | None,
    push_repo: str | None,
    private: bool,
) -> None:
    """Write ASSET (PIPELINE/STEP) to OUT_DIR as a Hugging Face dataset: data/<split>-NNNNN-of-NNNNN.parquet,
    README.md (dataset card with lineage) and croissant.json; with --push, upload it to the Hub.

    `datasets.load_dataset(OUT_DIR)` loads the result.
    """
    from dataflow_dagster.core.export import export_asset

    try:
        options = ExportOptions(
            split_column=split_column,
            splits=parse_splits(splits_text) if split_column is None else {"train": 1.0},
            seed=seed,
            max_shard_bytes=parse_size(max_shard_size),
            keep_internal=keep_internal,
            license=license_id,
            task_categories=list(task_categories),
            language=list(languages),
            pretty_name=pretty_name,
            push_repo=push_repo,
            private=private,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc).splitlines()[-1] if "validation error" in str(exc) else str(exc)) from None
    # Unknown asset, missing materialisation, bad split column: OperatorError, exit 2 (the CLI's rule).
    loc = load_location(module, asset, root)
    log = logging.getLogger("dataflow.cli.export")
    if not log.handlers:  # progress per split / shard on stderr, so stdout stays the summary
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    result = export_asset(
        loc.storage, loc.pipeline, loc.step, out_dir, options, module=module, partition=partition, log=log
    )
    click.echo(
        f"exported {result.asset}: {result.rows} rows "
        f"({', '.join(f'{s.name} {s.rows} in {len(s.files)} shard(s)' for s in result.splits)}) to {result.out_dir}"
    )
    click.echo(f"content hash {result.content_hash}")
    click.echo(f"audit: {result.audit_command}")
    if push_repo:
        from dataflow_dagster.core.export_push import push_export

        message = f"dataflow-dagster export of {result.asset} ({result.content_hash[:12]})"
        try:
            pushed = push_export(result.out_dir, push_repo, private, message, log=log)
        except OperatorError as exc:  # the export is written; only the upload failed: exit 1
            raise click.ClickException(str(exc)) from None
        click.echo(f"pushed {pushed.files} files to {pushed.repo_id}: {pushed.commit_url}")


commands = [export_command]
