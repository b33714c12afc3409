"""Hostile pipeline files: alias bombs, recursive aliases, deep nesting, non-finite numbers.

Each must be refused fast with one PipelineFileError naming the file, never a MemoryError or a
RecursionError traceback at code-location load (the attacks that broke the loader before its bounds).
"""

from pathlib import Path

import pytest

from dataflow_dagster.core.yaml_loader import PipelineFileError, load_pipeline_file

HEADER = "pipeline: bomb\nsource: {path: data.jsonl}\n"


def _laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + f"\nsteps:\n  - name: s\n    op: ContentNullFilter\n    config: {{x: *a{levels - 1}}}\n"


@pytest.mark.parametrize(
    "name,text,words",
    [
        ("billion_laughs", _laughs(), "expands to more than"),
        (
            "recursive_alias",
            HEADER + "steps: &s\n  - name: s\n    op: ContentNullFilter\n    config: {x: *s}\n",
            "deeper",
        ),
        ("deep_nesting", HEADER + "steps: " + "[" * 5000 + "]" * 5000 + "\n", "deep"),
        (
            "nan_threshold",
            HEADER + "steps:\n  - name: w\n    op: WordNumberFilter\n    config: {min_words: .nan}\n",
            "not a finite number",
        ),
        (
            "inf_threshold",
            HEADER + "steps:\n  - name: w\n    op: WordNumberFilter\n    config: {max_words: .inf}\n",
            "not a finite number",
        ),
    ],
)
def test_hostile_yaml_is_refused_fast_with_the_file_named(tmp_path: Path, name: str, text: str, words: str):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    with pytest.raises(PipelineFileError) as err:
        load_pipeline_file(path)
    message = str(err.value)
    assert str(path.name) in message and words in message, message
    assert "\n" not in message.strip()
