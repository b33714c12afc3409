"""General text operators: heuristic filters, refiners, deduplication and passage-level LLM steps."""
