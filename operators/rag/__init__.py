"""Agentic RAG operators: atomic and multi-hop QA synthesis, answer verification, F1/EM."""
