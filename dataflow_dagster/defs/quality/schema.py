"""Column schemas of step outputs, checked with dagster-pandas column constraints.

A step declares the columns its output must have (``Step(..., schema=...)``) either as dagster-pandas
``PandasColumn`` objects or as a plain dict (easy to write in YAML). The check reads those columns of
the published snapshot through DuckDB into pandas and evaluates every constraint separately, so one
run reports every offending column (with a few offending row ids), not just the first.
"""

import itertools
from dataclasses import dataclass, field
from typing import Any

from dagster_pandas import PandasColumn, create_dagster_pandas_dataframe_type
from dagster_pandas.constraints import ColumnConstraintViolationException, ConstraintViolationException

from operators.core.contract import OperatorError
from operators.core.rowids import ID

_TYPES = {
    "string": PandasColumn.string_column,
    "integer": PandasColumn.integer_column,
    "float": PandasColumn.float_column,
    "numeric": PandasColumn.numeric_column,
    "boolean": PandasColumn.boolean_column,
    "any": PandasColumn.exists,
}
_RANGED = {"integer", "float", "numeric"}


def to_pandas_columns(schema: list[Any] | dict[str, dict[str, Any]], where: str) -> list[PandasColumn]:
    """``PandasColumn`` objects from either form of ``Step.schema``; errors name the step and key."""
    if isinstance(schema, list):
        bad = [c for c in schema if not isinstance(c, PandasColumn)]
        if bad:
            raise OperatorError(
                f"{where}: schema list entries must be dagster_pandas.PandasColumn, got {bad!r}; "
                "or pass a dict {column: {'type': ..., ...}}"
            )
        return list(schema)
    columns = []
    for name, spec in schema.items():
        spec = dict(spec or {})
        kind = spec.pop("type", "any")
        categories = spec.pop("categories", None)
        if categories is None and kind not in _TYPES:
            raise OperatorError(f"{where}: column '{name}' has type '{kind}'; use one of {sorted(_TYPES)}")
        if kind not in _RANGED and ({"min_value", "max_value"} & set(spec)):
            raise OperatorError(f"{where}: column '{name}': min_value/max_value need type integer, float or numeric")
        try:
            if categories is not None:
                columns.append(PandasColumn.categorical_column(name, {str(c) for c in categories}, **spec))
            else:
                columns.append(_TYPES[kind](name, **spec))
        except Exception as exc:  # TypeError for unknown keys, dagster's CheckError for bad values
            raise OperatorError(f"{where}: column '{name}': invalid schema entry {spec!r}: {exc}") from exc
    return columns


def dataframe_type(name: str, columns: list[PandasColumn]) -> Any:
    """The dagster-pandas type for the schema; its markdown description documents the check."""
    return create_dagster_pandas_dataframe_type(name=name, columns=columns, description=f"Output schema of `{name}`")


@dataclass
class Violation:
    column: str
    constraint: str
    description: str
    offending_ids: list[Any] = field(default_factory=list)
    offending_values: list[Any] = field(default_factory=list)


def validate(df: Any, columns: list[PandasColumn]) -> list[Violation]:
    """Every (column, constraint) that fails, with up to five offending row ids and values."""
    out: list[Violation] = []
    ids = df[ID] if ID in df.columns else None
    for col in columns:
        if col.name not in df.columns:
            if col.is_required:
                out.append(
                    Violation(
                        col.name,
                        "required",
                        f"column '{col.name}' is missing from the output (columns: {[c for c in df.columns]})",
                    )
                )
            continue
        for constraint in col.constraints:
            try:
                constraint.validate(df, col.name)
            except ColumnConstraintViolationException as exc:
                pairs = _offending_pairs(exc)
                idx = [p[0] for p in pairs if isinstance(p, tuple | list) and p]
                vals = [p[1] for p in pairs if isinstance(p, tuple | list) and len(p) > 1]
                out.append(
                    Violation(
                        exc.column_name,
                        exc.constraint_name,
                        exc.constraint_description.strip(),
                        [ids.loc[i] for i in idx] if ids is not None else idx,
                        vals,
                    )
                )
            except ConstraintViolationException as exc:
                out.append(Violation(col.name, type(constraint).__name__, str(exc)))
    return out


def _offending_pairs(exc: ColumnConstraintViolationException) -> list[tuple[Any, Any]]:
    """(index, value) pairs: dagster-pandas hands over either such pairs or the offending rows' frame."""
    rows = exc.offending_rows
    if rows is None:
        return []
    if hasattr(rows, "index") and hasattr(rows, "columns"):
        head = rows.head(5)
        return list(zip(head.index.tolist(), head[exc.column_name].tolist(), strict=True))
    return list(itertools.islice(rows, 5))
