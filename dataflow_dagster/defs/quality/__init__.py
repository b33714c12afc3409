"""Data-quality checks beyond evaluator thresholds: Great Expectations suites and column schemas.

Both run inside Dagster asset checks on a step's published snapshot (read through DuckDB), so they
gate downstream steps exactly like evaluator thresholds do.
"""
