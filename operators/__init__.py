"""The operator library: pure Python over DuckDB and an LLM protocol. Never imports Dagster."""
