"""The code pipeline (after DataFlow's CodePipeline).

load -> length -> autogen -> encoded_data -> composition -> doc_quality -> file_type   (rule filters, SQL)
     -> instruction (code -> instruction) -> enhance (precise task) -> codegen (task -> code)
     -> quality (LLM score) -> tests (assert statements) -> execute (sandboxed run of code + tests)
     -> keep_passing
The rule filters read DataFlow's file-level records (``text``, ``lines``, ``language``, ``filetype``,
``filename``, ``line_count`` ...); the generated code is judged by an LLM and then by running it.

Sized for the embedded model: 8 source files, 5 pass the rule filters, ~25 calls. ``max_code_chars``
stays 1500 (DataFlow's scale); its JSON grammar is deeper than llama.cpp compiles, so the embedded
model's resource shortens the bound to 1001 characters with a warning instead of crashing
(``dataflow_dagster/llm/grammar_limits.py``). Checks: every LLM step blocks when more than 10% of its
calls fail for good and the LLM refiners/judge when fewer than half of their answers parse;
``execute`` blocks unless every row got an execution verdict (a sandbox that dies is a failure, a
failing test is data). Scale up: ``code_pipeline(source_path=...)`` on your file-level records.
"""

from pathlib import Path

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from operators.code.doc_quality import DocQualityFilter
from operators.code.execution import CodeExecutionEvaluator, ExecutionStatusFilter
from operators.code.filters import (
    AutogenFilter,
    CodeLengthFilter,
    CodeTextQualityFilter,
    DataPatternFilter,
    FileTypeFilter,
)
from operators.code.generators import (
    CodeGenerator,
    CodeInstructionEnhancer,
    CodeInstructionSynthesizer,
    CodeQualityEvaluator,
    CodeTestCaseGenerator,
    code_prompt,
)

DATA_DIR = Path(__file__).parent / "data"
FILE_COLUMNS = ["text", "lines", "language", "filetype", "filename", "line_count"]


def code_pipeline(
    source_path: str | Path | None = None,
    name: str = "code",
    max_code_chars: int = 1500,
    min_parsed_share: float = 0.5,
    exec_workers: int | None = None,
) -> Pipeline:
    """``max_code_chars`` bounds generated code (lower it for quick runs on the embedded model)."""
    return Pipeline(
        name=name,
        description="Source files -> rule-filtered -> instructions -> generated code -> judged, tested, executed",
        source=Source(path=str(source_path or DATA_DIR / "code_input.jsonl"), required_columns=FILE_COLUMNS),
        steps=[
            Step("length", CodeLengthFilter()),
            Step("autogen", AutogenFilter()),
            Step("encoded_data", DataPatternFilter()),
            Step("composition", CodeTextQualityFilter()),
            Step(
                "doc_quality",
                DocQualityFilter(
                    max_frac_duplicate_lines=0.7,
                    max_frac_duplicate_ngram={5: 0.8},
                    max_frac_curly_bracket=0.1,
                    max_frac_all_caps_words=0.5,
                    min_entropy_unigram=1.0,
                ),
            ),
            Step("file_type", FileTypeFilter()),
            Step("instruction", CodeInstructionSynthesizer(input_key="text")),
            Step("enhance", CodeInstructionEnhancer(min_parsed_share=min_parsed_share)),
            Step(
                "codegen",
                CodeGenerator(max_tokens=max_code_chars + 40, min_parsed_share=min_parsed_share),
                prompt=code_prompt(max_code_chars),
            ),
            Step("quality", CodeQualityEvaluator(min_parsed_share=min_parsed_share)),
            Step("tests", CodeTestCaseGenerator(min_parsed_share=min_parsed_share)),
            Step("execute", CodeExecutionEvaluator(workers=exec_workers)),
            Step("keep_passing", ExecutionStatusFilter()),
        ],
    )
