"""Agent goal A1/A2: share of agent outputs that pass a dry run and load in Dagster.

Requests: every entry of tests/data/agent_test_data.json (DataFlow's agent test file; its entries are
plain statements, so the right answer is a refusal) and our own requests in
tests/data/agent_requests.json (each with the operators it must contain, or "refuse"). All run on
agent_test_data.json as input data. Each written file is re-checked independently of the agent:
loaded from disk, dry-run, built into Definitions, and finally all of them together through
`dagster definitions validate` in a subprocess.

Baseline (same run, same model): the model's raw operator pick, in its order, default configs, no
key binding, no dry-run gate, no fallback: what an unguarded NL->pipeline agent hands back.

    python bench/agent.py [--quick] [--no-llm]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dagster import Definitions  # noqa: E402

from dataflow_dagster.agent import AgentRefusal, build_pipeline, parse_intent  # noqa: E402
from dataflow_dagster.agent.planner import Planner  # noqa: E402
from dataflow_dagster.core.dryrun import dry_run  # noqa: E402
from dataflow_dagster.core.pipeline import Pipeline, Source, Step  # noqa: E402
from dataflow_dagster.core.yaml_loader import load_pipeline_file  # noqa: E402
from dataflow_dagster.defs.factory import build_definitions  # noqa: E402
from operators.core.contract import OperatorError  # noqa: E402
from operators.core.registry import all_operators  # noqa: E402

DATA = REPO / "tests" / "data" / "agent_test_data.json"
OWN = REPO / "tests" / "data" / "agent_requests.json"


def independent_check(path: Path) -> bool:
    try:
        p = load_pipeline_file(path)
        if not dry_run(p).ok:
            return False
        Definitions.validate_loadable(build_definitions([p]))
        return True
    except Exception:
        return False


def baseline_valid(request: str, planner: Planner) -> bool:
    """The unguarded baseline: model pick as-is, default configs, must still pass the dry run."""
    intent = parse_intent(request)
    try:
        cands = planner.candidates(intent) if intent.actions else {}
    except AgentRefusal:
        cands = {}
    if not cands:
        cands = {"any": [(n, 0.0) for n in list(planner.ops)[:8]]}
    sel = planner.llm_choice(intent, cands)
    raw = getattr(planner, "last_llm_answer", None)
    try:
        names = json.loads(raw or "")["operators"]
        steps = [Step(f"s{i}", planner.ops[n]()) for i, n in enumerate(names)]
        p = Pipeline("baseline", Source(str(DATA)), steps)
        return bool(steps) and dry_run(p).ok
    except Exception:
        return False
    finally:
        del sel


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-llm", action="store_true", help="retrieval only (no model)")
    args = ap.parse_args()
    statements = [r["instruction"] for r in json.loads(DATA.read_text(encoding="utf-8"))]
    own = json.loads(OWN.read_text(encoding="utf-8"))
    if args.quick:
        statements, own = statements[:5], own[:3] + own[-1:]
    llm = None
    if not args.no_llm:
        from dataflow_dagster.llm.local import LlamaCppClient

        llm = LlamaCppClient()
    model = llm.model_id if llm is not None else "none(retrieval-only)"
    out = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    (out / "pipelines").mkdir()
    written: list[Path] = []
    refused = correct_own = 0
    started = time.time()
    cases = [(s, None) for s in statements] + [(c["request"], c["expect"]) for c in own]
    for i, (req, expect) in enumerate(cases):
        try:
            res = build_pipeline(req, DATA, out / "pipelines", llm=llm, name=f"req_{i:03d}")
            written.append(res.path)
            ops = {s.op.name for s in res.pipeline.steps}
            ok = expect is not None and expect != "refuse" and set(expect) <= ops
            print(f"[{i:3d}] wrote {res.path.name} by={res.selection} ops={sorted(ops)} :: {req[:60]}")
        except (AgentRefusal, OperatorError) as exc:
            refused += 1
            ok = expect == "refuse"
            print(f"[{i:3d}] refused ({str(exc)[:70]}) :: {req[:60]}")
        if expect is not None:
            correct_own += int(ok)
    valid = [p for p in written if independent_check(p)]
    (out / "workspace.yaml").write_text(
        "load_from:\n  - python_file:\n      relative_path: defs.py\n      working_directory: .\n"
    )
    (out / "defs.py").write_text(
        "from pathlib import Path\nfrom dataflow_dagster.defs.factory import build_definitions\n"
        "from dataflow_dagster.core.yaml_loader import load_pipeline_dir\n"
        "defs = build_definitions(load_pipeline_dir(Path(__file__).parent / 'pipelines'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    dagster_ok = proc.returncode == 0
    if not dagster_ok:
        print(proc.stdout[-2000:], proc.stderr[-2000:])
    elapsed = time.time() - started
    share = (len(valid) / len(written) if written else 1.0) if dagster_ok else 0.0
    own_share = correct_own / len(own)
    base = None
    if llm is not None:
        planner = Planner(all_operators(), llm)
        served = [c["request"] for c in own if c["expect"] != "refuse"]
        base = sum(baseline_valid(r, planner) for r in served) / len(served)
    q = " quick" if args.quick else ""
    size = len(cases)
    lines = [
        f"GOAL A1 measured={share:.3f} target>=0.9 unit=share_valid size={size} written={len(written)} "
        f"refused={refused} dagster_validate={'ok' if dagster_ok else 'FAILED'} model={model}"
        f"{q} {'PASS' if share >= 0.9 else 'SHORT'}",
        f"GOAL A2 measured={own_share:.3f} target>=0.8 unit=share_own_requests_correct size={len(own)} "
        f"model={model}{q} {'PASS' if own_share >= 0.8 else 'SHORT'}",
    ]
    if base is not None:
        lines.append(
            f"BASELINE A1 measured={base:.3f} unit=share_valid_unguarded_model_pick "
            f"size={len(own) - sum(c['expect'] == 'refuse' for c in own)} model={model}{q}"
        )
    print(f"elapsed {elapsed:.1f}s; outputs in {out}")
    for line in lines:
        print(line)
    with open(REPO / "bench" / "RESULTS.md", "a", encoding="utf-8") as fh:
        fh.write(f"\n## bench/agent.py{q} — {date.today()} — {platform.node()} ({os.cpu_count()} cpu)\n\n```\n")
        fh.write("\n".join(lines) + "\n```\n")


if __name__ == "__main__":
    main()
