"""`python -m dataflow_dagster.cli` = `dataflow-dagster`."""

from dataflow_dagster.cli import main

main()
