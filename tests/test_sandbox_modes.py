"""Every sandbox mode runs the hostile corpus, as root and under a dropped uid.

The default mode (``bwrap``) must contain every snippet. A weaker mode must refuse to start unless
asked for by its full name, and what it lets through must be exactly what ``MODE_GAPS`` (and so
docs/security.md) says, so a mode cannot silently get weaker or be documented as stronger than it is.
The non-root runs use an evaluator process running as a dedicated uid (``setpriv``), because that is
where ``kill(-1)`` and ``/proc/<ppid>/environ`` differ from a root run.
"""

import os
from pathlib import Path

import pytest

from operators.code import sandbox_isolation
from operators.code.execution import CodeExecutionEvaluator
from operators.code.sandbox import Sandbox, SandboxLimits, claim_uids
from operators.code.sandbox_audit import python_for_uid, run_corpus_as_user, run_hostile_corpus
from operators.code.sandbox_isolation import MODE_ENV, MODES, SandboxUnavailable, mode_gaps
from tests.helpers import run_op

HOSTILE = Path(__file__).parent / "data" / "hostile_snippets"
AS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not AS_ROOT, reason="dropping to another uid needs root (CI runs as root)")


def _python_for(uid: int) -> str:
    py = python_for_uid(uid)
    if py is None:
        pytest.fail(f"no Python interpreter is usable by uid {uid}; install python3 system-wide")
    return py


@pytest.fixture(scope="module")
def dropped_uid():
    held: list[int] = []
    (uid,) = claim_uids(1, 65100, held)  # a uid of our own: kill(-1) from its programs reaches nothing else
    yield uid
    for fd in held:
        os.close(fd)


def _escaped_as_root(mode: str) -> set[str]:
    with Sandbox(SandboxLimits(wall_s=2, cpu_s=1, memory_mb=256, nproc=16), workers=2, mode=mode) as sb:
        verdicts = run_hostile_corpus(sb, HOSTILE)
    return {v.name for v in verdicts if not v.contained}


@needs_root
@pytest.mark.parametrize("mode", MODES)
def test_mode_as_root_contains_all_but_its_declared_gaps(mode):
    assert _escaped_as_root(mode) == set(mode_gaps(mode, root=True))


@needs_root
@pytest.mark.parametrize("mode", MODES)
def test_mode_as_unprivileged_user_contains_all_but_its_declared_gaps(mode, dropped_uid):
    results = run_corpus_as_user(dropped_uid, mode, _python_for(dropped_uid), HOSTILE)
    assert len(results) == len(list(HOSTILE.glob("*.py")))
    escaped = {str(r["name"]): r["problems"] for r in results if not r["contained"]}
    assert set(escaped) == set(mode_gaps(mode, root=False)), escaped


def test_default_mode_contains_everything():
    assert mode_gaps("bwrap", root=True) == () and mode_gaps("bwrap", root=False) == ()


@pytest.mark.parametrize("asked", ["rlimits", "unshare", "userns", "root"])
def test_weaker_mode_refuses_unless_named_in_full(asked):
    with pytest.raises(SandboxUnavailable, match="-unsafe") as err:
        Sandbox(workers=1, mode=asked)
    assert "does not contain" in str(err.value)


def test_environment_variable_opts_in_by_name(monkeypatch):
    monkeypatch.setenv(MODE_ENV, "rlimits-unsafe")
    with Sandbox(workers=1) as sb:
        assert sb.description["mode"] == "rlimits-unsafe"
        assert sb.run("print(1)").status == "pass"


def test_without_bubblewrap_auto_refuses_and_says_what_to_do(monkeypatch):
    monkeypatch.setattr(sandbox_isolation, "BWRAP", "/nonexistent/bwrap")
    monkeypatch.delenv(MODE_ENV, raising=False)
    with pytest.raises(SandboxUnavailable) as err:
        Sandbox(workers=1)
    text = str(err.value)
    assert "apt-get install -y bubblewrap" in text and "rlimits-unsafe" in text and "unshare-unsafe" in text
    assert "/proc/<pid>/environ" in text  # it says what the weaker modes do not contain


def test_unknown_mode_is_an_error():
    with pytest.raises(SandboxUnavailable, match="unknown sandbox mode 'jail'"):
        Sandbox(workers=1, mode="jail")


def test_evaluator_option_picks_the_mode_and_refuses_weak_ones_by_short_name(tmp_path):
    rows = [{"generated_code": "def f():\n    return 1\n", "test_code": "assert f() == 1\n"}]
    out, _, lineage = run_op(tmp_path / "a", rows, CodeExecutionEvaluator(sandbox="rlimits-unsafe", workers=1))
    assert lineage["stats"]["isolation"] == "rlimits-unsafe" and out[0]["exec_status"] == "pass"
    with pytest.raises(Exception, match="rlimits-unsafe"):
        run_op(tmp_path / "b", rows, CodeExecutionEvaluator(sandbox="rlimits", workers=1))


def test_bwrap_runs_an_interpreter_that_lives_under_tmp(tmp_path):
    """A checkout (and its venv) under /tmp, as in a CI clone: the sandbox's private /tmp must not
    hide the interpreter (it used to: every program failed to start, and auto mode refused)."""
    import subprocess
    import sys

    assert str(tmp_path).startswith("/tmp/")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    assert sandbox_isolation.probe("bwrap", py, 64000 if AS_ROOT else 0)
    iso = sandbox_isolation.detect_isolation(py, mode="bwrap")
    assert iso.mode == "bwrap"
