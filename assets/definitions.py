"""Code location for `dagster dev -w workspace.yaml`: the reference pipeline on the embedded model.

Set DATAFLOW_LLM_BASE_URL (+ DATAFLOW_LLM_MODEL, and OPENAI_API_KEY if the server wants one) to send
the LLM steps to an OpenAI-compatible server such as `vllm serve` instead.

Freshness: each pipeline gets a schedule (DATAFLOW_REFRESH_CRON, default 03:00 daily) and a sensor on
its source file, both STOPPED until turned on in the UI; steps carry AutomationCondition.eager() so
downstream assets follow their upstream. Refreshes are incremental: only new rows are processed.
"""

import os

from dagster import EnvVar

from assets.reference import reference_pipeline
from dataflow_dagster.automation import AutomationOptions
from dataflow_dagster.factory import build_definitions
from dataflow_dagster.resources import LLMResource, LocalLLMResource, OpenAIResource


def _llm() -> LLMResource:
    base_url = os.environ.get("DATAFLOW_LLM_BASE_URL")
    if not base_url:
        return LocalLLMResource()
    key = EnvVar("OPENAI_API_KEY") if os.environ.get("OPENAI_API_KEY") else "not-needed"
    return OpenAIResource(base_url=base_url, model=os.environ.get("DATAFLOW_LLM_MODEL", "default"), api_key=key)


AUTOMATION = AutomationOptions(eager=True, sensor=True,
                               schedule_cron=os.environ.get("DATAFLOW_REFRESH_CRON", "0 3 * * *"))
defs = build_definitions([reference_pipeline()], llm=_llm(), automation=AUTOMATION)
