"""Reference pipelines loaded by workspace.yaml as a Dagster code location."""
