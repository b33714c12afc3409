"""Which of DataFlow's operators we offer: the table behind `dataflow-dagster ops dataflow`.

Resolution order is the registry's: an operator registered under DataFlow's class name covers it
(with the fidelity it declares), else an alias in ``operators.core.dataflow_names``, else an
"unsupported" entry with its reason; a name with none of these is reported as ``missing``.
"""

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from dataflow_dagster.core.dataflow_source import DataflowOperator
from operators.core.dataflow_aliases import ALIASES
from operators.core.dataflow_unsupported import UNSUPPORTED
from operators.core.registry import all_operators

COVERED = ("same", "approximated")


@dataclass(frozen=True)
class CoverageRow:
    dataflow: str
    family: str
    status: str  # same | approximated | unsupported | missing
    ours: str | None
    note: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def coverage(dataflow_ops: dict[str, DataflowOperator]) -> list[CoverageRow]:
    ours = all_operators()
    rows = []
    for name, op in sorted(dataflow_ops.items(), key=lambda kv: (kv[1].family, kv[0])):
        if name in ours:
            cls = ours[name]
            rows.append(CoverageRow(name, op.family, cls.dataflow_fidelity, name, cls.dataflow_note))
        elif name in ALIASES and ALIASES[name].ours in ours:
            alias = ALIASES[name]
            rows.append(CoverageRow(name, op.family, alias.fidelity, alias.ours, alias.note))
        elif name in UNSUPPORTED:
            entry = UNSUPPORTED[name]
            rows.append(CoverageRow(name, op.family, "unsupported", None, f"{entry.why}; instead: {entry.instead}"))
        else:
            rows.append(CoverageRow(name, op.family, "missing", None, "no counterpart and no reason recorded yet"))
    return rows


def summary(rows: list[CoverageRow]) -> dict[str, int]:
    counts = Counter(r.status for r in rows)
    return {
        "dataflow_operators": len(rows),
        "covered": sum(counts[s] for s in COVERED),
        **{s: counts[s] for s in ("same", "approximated", "unsupported", "missing")},
    }
