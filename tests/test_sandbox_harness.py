"""A wrong solution never passes: attacks on the verdict, run through the execution evaluator.

Each attack row is a *wrong* ``add`` plus a trick that made the former evaluator (``rc == 0`` means
pass, tests appended after the code) report ``pass``: an early exit in its many forms, a forged
``__eq__``/``__bool__``/arithmetic, a guessed token, closed or redirected descriptors, patched
builtins and modules. The control rows are right solutions written in the same styles, so the
harness is shown to judge, not just to refuse.
"""

import pytest

from operators.code.execution import CodeExecutionEvaluator
from tests.helpers import run_op

WRONG = "def add(a, b):\n    return a - b\n"
RIGHT = "def add(a, b):\n    return a + b\n"
TESTS = "assert add(2, 3) == 5\nassert add(0, 0) == 0\n"

ATTACKS = {
    "main_guard_exit": WRONG + 'if __name__ == "__main__":\n    raise SystemExit(0)\n',
    "exit_at_import": "import sys\n" + WRONG + "sys.exit(0)\n",
    "os_exit_zero": "import os\n" + WRONG + "os._exit(0)\n",
    "atexit_exit_zero": "import atexit, os\n" + WRONG + "atexit.register(lambda: os._exit(0))\n",
    "excepthook_exit_zero": "import os, sys\n" + WRONG + "sys.excepthook = lambda *a: os._exit(0)\n",
    "forged_eq": "class Any:\n    def __eq__(self, o):\n        return True\n\ndef add(a, b):\n    return Any()\n",
    "forged_int_subclass": "class I(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\n"
    "\ndef add(a, b):\n    return I(a - b)\n",
    "token_guess": "import os, secrets\n"
    + WRONG
    + "g = secrets.token_bytes(32)\nprint(g.hex())\nfor fd in range(3, 64):\n    try:\n        os.write(fd, g)\n"
    "    except OSError:\n        pass\nos._exit(0)\n",
    "close_fds": "import os\n" + WRONG + "os.closerange(3, 256)\nos._exit(0)\n",
    "dup_fds": "import os\n" + WRONG + "for fd in range(3, 64):\n    try:\n        os.dup2(1, fd)\n"
    "    except OSError:\n        pass\nraise SystemExit(0)\n",
}
# Attacks that need their own tests (the trick forges one kind of check).
ATTACKS_WITH_TESTS = {
    "forged_arithmetic": (
        "class Z:\n    def __sub__(self, o):\n        return 0\n    def __abs__(self):\n        return 0\n"
        "    def __bool__(self):\n        return True\n\ndef add(a, b):\n    return Z()\n",
        "assert abs(add(2, 3) - 5) < 1e-9\nassert add(1, 1)\nassert bool(add(2, 2))\n",
    ),
    "patched_builtins": (
        "import builtins\n" + WRONG + "builtins.all = lambda *a: True\nbuiltins.any = lambda *a: True\n",
        "assert all(add(i, 1) == i + 1 for i in range(3))\n",
    ),
    "patched_math": (
        "import math\n" + WRONG + "math.isclose = lambda *a, **k: True\n",
        "import math\nassert math.isclose(add(2, 3), 5)\n",
    ),
    "patched_assertion_error": (
        "import builtins\n" + WRONG + "builtins.AssertionError = type('Never', (Exception,), {})\n",
        TESTS,
    ),
    "test_function_never_called": (WRONG, "def check(candidate):\n    assert candidate(2, 3) == 5\n"),
    "reads_tests_to_hardcode": (
        "import glob, os, re, sys\nseen = []\n"
        "for p in ['tests.py', 'main.py', '/.dataflow-in/tests.py', sys.argv[0], *glob.glob('*.py')]:\n"
        "    try:\n        seen.append(open(p).read())\n    except OSError:\n        pass\n"
        "for fd in range(3, 64):\n    try:\n        os.lseek(fd, 0, 0)\n"
        "        seen.append(os.read(fd, 65536).decode(errors='replace'))\n    except OSError:\n        pass\n"
        "pattern = r'add\\((\\d+), (\\d+)\\) == (\\d+)'\n"
        "answers = {(int(a), int(b)): int(w) for t in seen for a, b, w in re.findall(pattern, t)}\n"
        "def add(a, b):\n    return answers.get((a, b), a - b)\n",
        "assert add(2, 3) == 5\nassert add(10, 7) == 17\n",
    ),
}
CONTROLS = {
    "plain": (RIGHT, TESTS),
    "main_guard": (RIGHT + 'if __name__ == "__main__":\n    raise SystemExit(0)\n', TESTS),
    "pytest_style": (RIGHT, "def test_add():\n    assert add(2, 3) == 5\n"),
    "isclose_and_generators": (
        "def area(r):\n    return 3.14159 * r * r\n",
        "import math\nassert math.isclose(area(1), 3.14159)\nassert all(area(r) > 0 for r in (1, 2))\n"
        "assert abs(area(2) - 12.56636) < 1e-9\n",
    ),
    "containers": (
        "from collections import Counter, namedtuple\nP = namedtuple('P', 'x y')\n"
        "def count(s):\n    return Counter(s)\n\ndef pt():\n    return P(1, 2)\n",
        "assert count('aab') == {'a': 2, 'b': 1}\nassert pt() == (1, 2)\nassert isinstance(pt(), tuple)\n"
        "assert sorted({3, 1}) == [1, 3]\n",
    ),
}


def _rows():
    rows = [{"name": k, "generated_code": v, "test_code": TESTS} for k, v in ATTACKS.items()]
    rows += [{"name": k, "generated_code": c, "test_code": t} for k, (c, t) in ATTACKS_WITH_TESTS.items()]
    rows += [{"name": "control_" + k, "generated_code": c, "test_code": t} for k, (c, t) in CONTROLS.items()]
    return rows


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    op = CodeExecutionEvaluator(wall_s=5, cpu_s=2, workers=2)
    out, _, _ = run_op(tmp_path_factory.mktemp("harness"), _rows(), op)
    return {r["name"]: r for r in out}


@pytest.mark.parametrize("name", [*ATTACKS, *ATTACKS_WITH_TESTS])
def test_wrong_solution_never_passes(verdicts, name):
    row = verdicts[name]
    assert row["exec_status"] in ("fail", "crash"), (name, row["exec_status"], row["exec_detail"], row["exec_stderr"])


@pytest.mark.parametrize("name", CONTROLS)
def test_right_solution_passes(verdicts, name):
    row = verdicts["control_" + name]
    assert row["exec_status"] == "pass", (name, row["exec_detail"], row["exec_stderr"])


def test_failure_says_what_was_compared(verdicts):
    assert "-1 == 5 is False" in verdicts["main_guard_exit"]["exec_detail"]
    assert "plain builtin values" in verdicts["forged_eq"]["exec_detail"]
    assert "never ran" in verdicts["test_function_never_called"]["exec_detail"]
