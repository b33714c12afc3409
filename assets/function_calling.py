"""Function-calling data: chats -> scenarios -> tasks -> functions (JSON-schema tools) -> tool-use
dialogues, every dialogue verified by the tool-call checker before it counts.

load -> scenario -> atom_task -> sequential -> functions -> dialogues -> check -> judge

``check`` (ToolCallCheckFilter) validates every tool call against its function's JSON schema and the
turn structure; its blocking check fails the run if any dialogue is invalid, so the ``check`` and
``judge`` tables only ever hold dialogues that pass. ``judge`` adds DataFlow's 1-5 LLM score.
"""

from pathlib import Path

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from operators.conversations.checker import ToolCallCheckFilter
from operators.conversations.dialogues import FuncCallConversationSampleEvaluator, MultiTurnConversationGenerator
from operators.conversations.functions import FunctionGenerator
from operators.conversations.tasks import AtomTaskGenerator, ScenarioExtractGenerator, SequentialTaskGenerator

DATA_DIR = Path(__file__).parent / "data"


def function_calling_pipeline(source_path: str | Path | None = None, name: str = "function_calling") -> Pipeline:
    return Pipeline(
        name=name,
        description="Chats to function specs and schema-checked multi-turn tool-use dialogues",
        source=Source(path=str(source_path or DATA_DIR / "func_call_chat.jsonl"), required_columns=["chat"]),
        steps=[
            Step("scenario", ScenarioExtractGenerator(input_key="chat")),
            Step("atom_task", AtomTaskGenerator(input_key="scenario")),
            Step("sequential", SequentialTaskGenerator(input_key="atom_task")),
            Step("functions", FunctionGenerator()),
            Step("dialogues", MultiTurnConversationGenerator()),
            Step("check", ToolCallCheckFilter()),
            Step("judge", FuncCallConversationSampleEvaluator(min_parsed_share=0.5)),
        ],
    )
