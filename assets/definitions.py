"""Code location for `dagster dev -w workspace.yaml`: the reference pipeline on the embedded model.

Set DATAFLOW_LLM_BASE_URL (+ DATAFLOW_LLM_MODEL, and OPENAI_API_KEY if the server wants one) to send
the LLM steps to an OpenAI-compatible server such as `vllm serve` instead.

Every YAML file in assets/pipelines/ is loaded too; ``PIPELINES`` is what `dataflow-dagster run NAME`
looks names up in.

Freshness: each pipeline gets a schedule (DATAFLOW_REFRESH_CRON, default 03:00 daily) and a sensor on
its source file, both STOPPED until turned on in the UI; steps carry AutomationCondition.eager() so
downstream assets follow their upstream. Refreshes are incremental: only new rows are processed.
"""

import os
from pathlib import Path

from dagster import EnvVar

from assets.agentic_rag import agentic_rag_pipeline
from assets.code import code_pipeline
from assets.function_calling import function_calling_pipeline
from assets.knowledge import knowledge_pipeline
from assets.reasoning import reasoning_pipeline
from assets.reference import reference_pipeline
from assets.text2sql import text2sql_pipeline
from assets.text_sft import text_sft_pipeline
from dataflow_dagster.core.yaml_loader import BrokenPipelineFile, load_pipeline_dir
from dataflow_dagster.defs.automation import AutomationOptions
from dataflow_dagster.defs.factory import build_definitions
from dataflow_dagster.defs.resources import LLMResource, LocalLLMResource, OpenAIResource


def _llm() -> LLMResource:
    base_url = os.environ.get("DATAFLOW_LLM_BASE_URL")
    if not base_url:
        return LocalLLMResource()
    key = EnvVar("OPENAI_API_KEY") if os.environ.get("OPENAI_API_KEY") else "not-needed"
    return OpenAIResource(base_url=base_url, model=os.environ.get("DATAFLOW_LLM_MODEL", "default"), api_key=key)


# A YAML file that does not load (e.g. an agent's draft) becomes a failing placeholder asset with
# its error, instead of taking every other pipeline of this code location down with it.
BROKEN_FILES: list[BrokenPipelineFile] = []
PIPELINES = [
    reference_pipeline(),
    reasoning_pipeline(),
    code_pipeline(),
    text2sql_pipeline(),
    agentic_rag_pipeline(),
    knowledge_pipeline(),
    text_sft_pipeline(),
    function_calling_pipeline(),
    *load_pipeline_dir(Path(__file__).parent / "pipelines", broken=BROKEN_FILES),
]
AUTOMATION = AutomationOptions(
    eager=True, sensor=True, schedule_cron=os.environ.get("DATAFLOW_REFRESH_CRON", "0 3 * * *")
)
defs = build_definitions(PIPELINES, llm=_llm(), automation=AUTOMATION, broken_files=BROKEN_FILES)
