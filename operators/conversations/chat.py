"""ConsistentChatGenerator: multi-turn dialogues that stay on one topic and follow one intent path.

After DataFlow's ConsistentChatGenerator (two stages: first all user turns of a dialogue on a topic
and intent, then the assistant's answers to them, so the dialogue is planned as a whole instead of
drifting turn by turn). DataFlow draws topics from a dictionary built into its prompt and takes no
input; here the topics are input rows (``topic`` plus an optional ``intent`` and ``category``), so
what is generated is data the user controls and can version. One dialogue per input row; the turn
count is fixed by the schema (``minItems = maxItems``), so the user and assistant lists pair up.
Output ``conversation`` uses DataFlow's format: ``[{"role": "user"|"assistant", "value": ...}]``.
"""

from typing import Any, ClassVar

from pydantic import Field

from operators.conversations.base import Answer, MultiRoundOperator, ask_json
from operators.core.contract import Kind
from operators.core.llm import LLMClient
from operators.core.llm_ops import LLMConfig
from operators.core.prompt import PromptTemplate
from operators.core.registry import register

QUERY_PROMPT = PromptTemplate(
    name="consistent_chat_queries",
    system="You write the user's side of realistic multi-turn conversations. Reply in JSON.",
    template=(
        "Topic: {topic}\nConversation path: {intent}\n\nWrite the user's messages of one conversation on this "
        "topic, one per turn, each building on the previous one along the conversation path."
    ),
)
RESPONSE_PROMPT = PromptTemplate(
    name="consistent_chat_responses",
    system="You are a helpful assistant answering every message of a conversation. Reply in JSON.",
    template=(
        "Topic: {topic}\nThe user's messages, in order:\n{queries}\n\n"
        "Write the assistant's reply to each message, in order."
    ),
)


def _list_schema(key: str, n: int, max_len: int) -> dict[str, Any]:
    item = {"type": "string", "minLength": 2, "maxLength": max_len}
    return {
        "type": "object",
        "properties": {key: {"type": "array", "minItems": n, "maxItems": n, "items": item}},
        "required": [key],
    }


class ConsistentChatConfig(LLMConfig):
    input_key: str = "topic"
    input_intent_key: str = "intent"  # optional column; missing or NULL means a free conversation path
    input_category_key: str = "category"  # optional column copied to ``category``
    output_key: str = "conversation"
    num_turns_per_dialog: int = Field(3, ge=1, le=12)  # DataFlow: 6; fewer keeps a small model coherent
    temperature: float = 0.9  # DataFlow's default: varied dialogues (still seeded, so reproducible)
    max_tokens: int = 600


@register
class ConsistentChatGenerator(MultiRoundOperator):
    """Plans all user turns of a dialogue on a topic first, then answers them: one consistent
    multi-turn dialogue per input topic row (``conversation`` as JSON, DataFlow's role/value format)."""

    kind: ClassVar[Kind] = Kind.GENERATE
    Config = ConsistentChatConfig
    default_prompt = QUERY_PROMPT
    domain = "conversations"
    tags = ("llm", "dialogue", "multi_turn", "synthesis")

    def input_columns(self) -> list[str]:
        return [self.config.input_key]

    def output_columns(self) -> list[str]:
        return [self.config.output_key, "category"]

    def optional_columns(self) -> list[str]:
        return [self.config.input_intent_key, self.config.input_category_key]

    def answer_batch(self, rows: list[dict[str, Any]], llm: LLMClient) -> list[Answer]:
        c, n = self.config, self.config.num_turns_per_dialog
        q_schema, r_schema = _list_schema("turns", n, 240), _list_schema("responses", n, 480)
        intent = [r.get(c.input_intent_key) or "from a first question to deeper follow-ups" for r in rows]
        q_reqs = [
            self.request(self.prompt, {"topic": r[c.input_key], "intent": it}, q_schema)
            for r, it in zip(rows, intent, strict=True)
        ]
        queries = ask_json(llm, q_reqs)
        ok = [i for i, a in enumerate(queries) if a.value is not None]
        r_reqs = []
        for i in ok:
            turns = "\n".join(f"{k}. {t}" for k, t in enumerate(queries[i].value["turns"], 1))  # type: ignore[index]
            values = {"topic": rows[i][c.input_key], "queries": turns}
            r_reqs.append(self.request(RESPONSE_PROMPT, values, r_schema))
        out: list[Answer] = [Answer(None, f"user turns: {a.error}", a.raw) for a in queries]
        for i, ans in zip(ok, ask_json(llm, r_reqs), strict=True):
            if ans.value is None:
                out[i] = Answer(None, f"assistant turns: {ans.error}", ans.raw)
                continue
            conv = []
            for q, a in zip(queries[i].value["turns"], ans.value["responses"], strict=True):  # type: ignore[index]
                conv += [{"role": "user", "value": q}, {"role": "assistant", "value": a}]
            category = rows[i].get(c.input_category_key) or rows[i][c.input_key]
            out[i] = Answer({c.output_key: conv, "category": category})
        return out
