"""Benchmark evaluation: answer generation and dataset-level scoring against references."""
