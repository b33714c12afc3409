"""Math reasoning operators (after DataFlow ReasoningPipeline)."""
