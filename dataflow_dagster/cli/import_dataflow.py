"""``import-dataflow PIPELINE.py``: a DataFlow pipeline file as our YAML pipeline, without running it."""

from pathlib import Path

import click

from dataflow_dagster.core.dataflow_import import read_dataflow_pipeline
from dataflow_dagster.core.yaml_loader import dump_pipeline, load_pipeline_file


@click.command("import-dataflow")
@click.argument("pipeline_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML file to write (default: print to stdout).",
)
@click.option(
    "--data-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder with DataFlow's example_data/ contents: a FileStorage path .../example_data/X reads DATA_ROOT/X.",
)
@click.option("--name", default=None, help="Pipeline name (default: the file's stem).")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
def import_dataflow(
    pipeline_file: Path, out: Path | None, data_root: Path | None, name: str | None, force: bool
) -> None:
    """Convert a DataFlow pipeline file (read with ast, never executed) into a YAML pipeline.

    Reads the FileStorage's first_entry_file_name, the operators built in __init__ and their run(...)
    calls in forward. Refuses (exit code 2) naming every DataFlow operator or setting we do not offer.
    """
    converted = read_dataflow_pipeline(pipeline_file.resolve(), data_root.resolve() if data_root else None, name)
    header = [
        f"Converted from DataFlow's {pipeline_file.name} by `dataflow-dagster import-dataflow` (the file was not run).",
        *converted.notes,
    ]
    if out is None:
        click.echo(dump_pipeline(converted.pipeline, header=header), nl=False)
        return
    if out.exists() and not force:
        raise click.ClickException(f"{out} exists; pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dump_pipeline(converted.pipeline, relative_to=out.parent.resolve(), header=header), encoding="utf-8")
    load_pipeline_file(out)  # what we wrote must load as written
    click.echo(f"wrote {out} ({len(converted.pipeline.steps)} steps from {pipeline_file.name})")


commands = [import_dataflow]
