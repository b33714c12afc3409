"""The engine: pipeline model, runner, storage, row memo, diff, audit, plan, dry run, YAML model.

Nothing in this package imports Dagster (a test checks it in a fresh interpreter): step
subprocesses and the CLI import it without paying Dagster's start-up, and the engine can be driven
by anything, Dagster being one orchestrator of it.
"""
