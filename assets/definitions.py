"""Code location for `dagster dev -w workspace.yaml`: the reference pipeline on the embedded model.

Set DATAFLOW_LLM_BASE_URL (+ DATAFLOW_LLM_MODEL, and OPENAI_API_KEY if the server wants one) to send
the LLM steps to an OpenAI-compatible server such as `vllm serve` instead.
"""

import os

from dagster import EnvVar

from assets.code import code_pipeline
from assets.reasoning import reasoning_pipeline
from assets.reference import reference_pipeline
from dataflow_dagster.factory import build_definitions
from dataflow_dagster.resources import LLMResource, LocalLLMResource, OpenAIResource


def _llm() -> LLMResource:
    base_url = os.environ.get("DATAFLOW_LLM_BASE_URL")
    if not base_url:
        return LocalLLMResource()
    key = EnvVar("OPENAI_API_KEY") if os.environ.get("OPENAI_API_KEY") else "not-needed"
    return OpenAIResource(base_url=base_url, model=os.environ.get("DATAFLOW_LLM_MODEL", "default"), api_key=key)


defs = build_definitions([reference_pipeline(), reasoning_pipeline(), code_pipeline()], llm=_llm())
