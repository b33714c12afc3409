"""Function-calling data, first half: chat -> scenario -> atomic task -> follow-up and composed tasks.

After DataFlow's ScenarioExtractGenerator, ScenarioExpandGenerator, AtomTaskGenerator,
SequentialTaskGenerator, ParaSeqTaskGenerator and CompositionTaskFilter. DataFlow asks for free text
and pulls fields out with regexes (``### Composition Task: ...``), writing None when the model strays;
here every answer is a bounded JSON object, so a row either parses completely or lands in the step's
``__errors`` table with the raw answer. Each step is a generator: its output rows link to their parent.
"""

from typing import Any, ClassVar

from pydantic import AliasChoices, Field

from operators.core.contract import CheckSpec, Kind, OperatorContext
from operators.core.judge_filter import assemble_keep
from operators.core.llm_ops import LLMConfig, LLMOperator
from operators.core.prompt import PromptTemplate
from operators.core.registry import register


def _text(max_len: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 4, "maxLength": max_len}


def _prompt(name: str, template: str, props: dict[str, int]) -> PromptTemplate:
    return PromptTemplate(
        name=name,
        system="You design realistic tasks for an assistant that can call software functions. Reply in JSON.",
        template=template,
        output_schema={
            "type": "object",
            "properties": {p: _text(n) for p, n in props.items()},
            "required": list(props),
        },
    )


EXTRACT_SCENARIO = _prompt(
    "func_call_extract_scenario",
    "Conversation:\n{chat}\n\nDescribe in one or two sentences the real-world scenario of this conversation: "
    "who the user is and what they are trying to get done.",
    {"scenario": 160},
)
EXPAND_SCENARIO = _prompt(
    "func_call_expand_scenario",
    "Scenario:\n{scenario}\n\nWrite a different but related scenario: same domain, a new situation or goal.",
    {"modified_scenario": 160},
)
ATOM_TASK = _prompt(
    "func_call_atom_task",
    "Scenario:\n{scenario}\n\nWrite one concrete, self-contained task in this scenario that a single "
    "software function could complete (for example: look something up, book, convert, send).",
    {"atom_task": 120},
)
SEQUENTIAL_TASK = _prompt(
    "func_call_sequential_task",
    "Task:\n{task}\n\nWrite a follow-up task that needs the result of this task, and one composed task that "
    "a user would ask for and that is done by this task followed by the follow-up task.",
    {"subsequent_task": 120, "composition_task": 160},
)
PARA_SEQ_TASK = _prompt(
    "func_call_parallel_sequential_task",
    "Task:\n{task}\n\nWrite a parallel task that can run at the same time as this task, a follow-up task that "
    "needs its result, and one composed task that combines all three.",
    {"parallel_task": 120, "subsequent_task": 120, "composition_task": 160},
)
COMPOSITION_CHECK = PromptTemplate(
    name="func_call_composition_check",
    system="You review tasks for a function-calling dataset. Reply in JSON.",
    template=(
        "Composed task: {task}\nSub-tasks:\n{sub_tasks}\n\nCan the composed task be completed by doing the "
        "sub-tasks, and is every sub-task concrete enough for a software function? Answer yes or no."
    ),
    output_schema={
        "type": "object",
        "properties": {"runnable": {"type": "string", "enum": ["yes", "no"]}},
        "required": ["runnable"],
    },
)


def sub_task_text(row: dict[str, Any], keys: list[str]) -> str:
    """The sub-tasks as numbered lines, in the order of ``keys`` (missing ones skipped)."""
    return "\n".join(f"{i}. {row[k]}" for i, k in enumerate((k for k in keys if row.get(k)), 1))


def _input(default: str, dataflow_key: str) -> Any:
    """``input_key``, also accepted under DataFlow's run() keyword for it (imported pipelines)."""
    return Field(default, validation_alias=AliasChoices("input_key", dataflow_key))


class ScenarioExtractConfig(LLMConfig):
    input_key: str = _input("chat", "input_chat_key")
    output_key: str = "scenario"
    max_tokens: int = 160


@register
class ScenarioExtractGenerator(LLMOperator):
    """Describes the real-world scenario behind a conversation (``input_key``) into ``output_key``."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = ScenarioExtractConfig
    default_prompt = EXTRACT_SCENARIO
    domain = "conversations"
    tags = ("llm", "function_calling", "scenario")
    output_property = "scenario"


class ScenarioExpandConfig(LLMConfig):
    input_key: str = _input("scenario", "input_scenario_key")
    output_key: str = "modified_scenario"
    max_tokens: int = 160


@register
class ScenarioExpandGenerator(LLMOperator):
    """Writes a new related scenario from each scenario, to widen the set of situations."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = ScenarioExpandConfig
    default_prompt = EXPAND_SCENARIO
    domain = "conversations"
    tags = ("llm", "function_calling", "scenario")
    output_property = "modified_scenario"


class AtomTaskConfig(LLMConfig):
    input_key: str = _input("scenario", "input_scenario_key")
    output_key: str = "atom_task"
    max_tokens: int = 120


@register
class AtomTaskGenerator(LLMOperator):
    """Derives one atomic task (doable by a single function) from each scenario."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = AtomTaskConfig
    default_prompt = ATOM_TASK
    domain = "conversations"
    tags = ("llm", "function_calling", "task")
    output_property = "atom_task"


class SequentialTaskConfig(LLMConfig):
    input_key: str = _input("atom_task", "input_task_key")
    output_subsequent_task_key: str = "subsequent_task"
    output_composition_task_key: str = "composition_task"
    max_tokens: int = 220


@register
class SequentialTaskGenerator(LLMOperator):
    """From an atomic task: a follow-up task that needs its result, and the composed task of both."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = SequentialTaskConfig
    default_prompt = SEQUENTIAL_TASK
    domain = "conversations"
    tags = ("llm", "function_calling", "task")

    def outputs(self) -> dict[str, str]:
        c = self.config
        return {"subsequent_task": c.output_subsequent_task_key, "composition_task": c.output_composition_task_key}


class ParaSeqTaskConfig(SequentialTaskConfig):
    output_parallel_task_key: str = "parallel_task"
    max_tokens: int = 300


@register
class ParaSeqTaskGenerator(LLMOperator):
    """From an atomic task: a parallel task, a follow-up task and the composed task of all three."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = ParaSeqTaskConfig
    default_prompt = PARA_SEQ_TASK
    domain = "conversations"
    tags = ("llm", "function_calling", "task")

    def outputs(self) -> dict[str, str]:
        c = self.config
        return {
            "parallel_task": c.output_parallel_task_key,
            "subsequent_task": c.output_subsequent_task_key,
            "composition_task": c.output_composition_task_key,
        }


class SubTasksConfig(LLMConfig):
    """Shared by the steps that read a composed task plus its sub-tasks (DataFlow's key names)."""

    input_composition_task_key: str = "composition_task"
    input_sub_tasks_keys: list[str] = Field(default_factory=lambda: ["atom_task", "subsequent_task"], min_length=1)


class SubTasksOperator(LLMOperator):
    def input_columns(self) -> list[str]:
        c = self.config
        return [c.input_composition_task_key, *c.input_sub_tasks_keys]

    def prompt_values(self, row: dict[str, Any], prompt: PromptTemplate) -> dict[str, Any]:
        c = self.config
        return {"task": row.get(c.input_composition_task_key), "sub_tasks": sub_task_text(row, c.input_sub_tasks_keys)}


class CompositionFilterConfig(SubTasksConfig):
    output_key: str = "runable_label"  # DataFlow's spelling, kept so imported pipelines line up
    max_tokens: int = 16


@register
class CompositionTaskFilter(SubTasksOperator):
    """Keeps composed tasks an LLM judges feasible from their sub-tasks; ``runable_label`` is 1 on kept rows.

    Rows whose judgement failed are rejected (DataFlow labels them 0); the raw answer is in ``__errors``.
    """

    kind: ClassVar[Kind] = Kind.FILTER
    Config = CompositionFilterConfig
    default_prompt = COMPOSITION_CHECK
    domain = "conversations"
    tags = ("llm", "function_calling", "task", "filter")

    def outputs(self) -> dict[str, str]:
        return {"runnable": "__runnable"}

    def output_columns(self) -> list[str]:
        return [self.config.output_key]

    def checks(self) -> list[CheckSpec]:
        return [self.error_share_check()]

    def assemble(self, ctx: OperatorContext, cols: list[str]) -> None:
        assemble_keep(ctx, self.name, "o.__runnable = 'yes'", {self.config.output_key: "1"}, "'judged not runnable'")
