"""Start-up cost of the CLI and of a step subprocess's engine imports, this tree against a git revision.

Two commands, each run in a fresh interpreter, alternating between the trees so machine load hits
both alike (this machine is shared; read the medians, not single runs):
- ``dataflow-dagster ops list`` (CLI start-up, command discovery and the operator registry);
- the engine imports of a step (``dataflow_dagster.core.storage`` + ``core.runner``; ``storage`` +
  ``runner`` on trees from before the core/defs split).
Each run also reports whether Dagster ended up in ``sys.modules``. The other tree is extracted with
``git archive`` into a temp folder and put first on PYTHONPATH; both use this venv's packages.

    python bench/cli_startup.py [--base 0da960f] [--quick]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, goal

REPORT = "print('DAGSTER=%s' % ('dagster' in sys.modules), file=sys.stderr)\n"
OPS_LIST = (
    "import sys\nsys.argv = ['dataflow-dagster', 'ops', 'list']\nfrom dataflow_dagster.cli import main\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n" + REPORT
)


def step_imports(tree: Path) -> str:
    mods = "dataflow_dagster.core.storage, dataflow_dagster.core.runner"
    if not (tree / "dataflow_dagster" / "core").is_dir():
        mods = "dataflow_dagster.storage, dataflow_dagster.runner"
    return f"import sys\nimport {mods}\n" + REPORT


def run(tree: Path, code: str, cwd: Path) -> tuple[float, bool]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("DATAFLOW_OPERATOR_MODULES", None)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0 or "DAGSTER=" not in out.stderr:
        raise RuntimeError(f"{tree}: command failed ({out.returncode}): {out.stderr[-2000:]}")
    return elapsed, "DAGSTER=True" in out.stderr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="0da960f", help="git revision to compare with (default: main before issue 15)")
    ap.add_argument("--quick", action="store_true", help="3 runs per command and tree instead of 7")
    args = ap.parse_args()
    repeats = 3 if args.quick else 7
    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        base = tmp / "base"
        base.mkdir()
        archive = subprocess.run(["git", "archive", args.base], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        trees = {f"base {args.base}": base, "this tree": REPO}
        cwd = tmp / "cwd"  # no workspace.yaml or pipelines/ here
        cwd.mkdir()
        times: dict[tuple[str, str], list[float]] = {}
        loads: dict[tuple[str, str], bool] = {}
        for _ in range(repeats):
            for label, tree in trees.items():
                for what, code in (("ops list", OPS_LIST), ("step imports", step_imports(tree))):
                    elapsed, dagster = run(tree, code, cwd)
                    times.setdefault((label, what), []).append(elapsed)
                    loads[(label, what)] = dagster
        print(f"{'command':14} {'tree':18} {'median s':>9} {'min s':>7}  imports dagster")
        for (label, what), ts in sorted(times.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            print(f"{what:14} {label:18} {statistics.median(ts):9.2f} {min(ts):7.2f}  {loads[(label, what)]}")
        after = statistics.median(times[("this tree", "ops list")])
        before = statistics.median(times[(f"base {args.base}", "ops list")])
        goal("S1", before / after, ">=", 1.2, "x_faster_ops_list_vs_base", repeats, args.quick)
        dagster = float(loads[("this tree", "ops list")])
        goal("S2", dagster, "<=", 0, "dagster_imported_by_ops_list", repeats, args.quick)
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
