"""Data selection over embeddings: embedding step, k-center greedy coresets, ANN semantic dedup."""
