"""LLMOperator.parse: what counts as a valid answer, independent of any model."""

import pytest

from operators.core.llm import LLMResponse
from operators.general_text.llm_qa import QA_PROMPT, PassageQAGenerator


def test_raw_newline_inside_a_json_string_is_accepted():
    op = PassageQAGenerator()
    out = op.parse(
        LLMResponse(text='{"question": "Why is\nthe sky blue?", "answer": "Scattering"}'), QA_PROMPT.output_schema
    )
    assert out == {"question": "Why is\nthe sky blue?", "answer": "Scattering"}


@pytest.mark.parametrize(
    "text, reason",
    [
        ('{"question": "short"', "not JSON"),
        ('{"question": "Why?"}', "fails the output schema"),
    ],
)
def test_invalid_answers_are_refused_with_the_reason(text: str, reason: str):
    with pytest.raises(ValueError, match=reason):
        PassageQAGenerator().parse(LLMResponse(text=text), QA_PROMPT.output_schema)
