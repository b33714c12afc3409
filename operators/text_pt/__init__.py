"""Pretraining-data quality: perplexity and model/judge quality scores (DataFlow's text_pt family)."""
