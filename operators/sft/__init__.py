"""Text SFT data: instruction/response synthesis, LLM quality judging, pretraining text -> SFT pairs."""
