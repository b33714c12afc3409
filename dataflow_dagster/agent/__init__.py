"""The NL -> pipeline agent: intent parsing, retrieval, optional model selection, compile, dry run.

It only ever hands back a YAML file that loaded through the YAML loader, passed a dry run on sample
rows and built into loadable Dagster Definitions; anything else is an ``AgentRefusal``.
"""

from dataflow_dagster.agent.build import AgentResult, build_pipeline
from dataflow_dagster.agent.intent import Intent, parse_intent
from dataflow_dagster.agent.planner import AgentRefusal

__all__ = ["AgentRefusal", "AgentResult", "Intent", "build_pipeline", "parse_intent"]
