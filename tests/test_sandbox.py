"""The execution sandbox: limits, statuses, the hostile corpus (goal R4) and parallel runs.

Every containment test starts from the smallest possible attack (a fork bomb of ten forks under a cap
of four processes) so a broken cap shows up before the real fork bomb runs on a shared machine.
"""

import os
from pathlib import Path

import pytest

from operators.code.sandbox import STATUSES, Sandbox, SandboxLimits
from operators.code.sandbox_audit import run_hostile_corpus, summary_line
from operators.code.sandbox_isolation import MODES

HOSTILE = Path(__file__).parent / "data" / "hostile_snippets"
TINY_BOMB = """
import os, time
made = 0
for _ in range(10):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(1)
        os._exit(0)
    made += 1
print("forked", made)
"""


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxLimits(wall_s=3, cpu_s=2, memory_mb=256, nproc=16), workers=2) as sb:
        yield sb


def test_tiny_fork_bomb_is_capped_first():
    with Sandbox(SandboxLimits(nproc=4, wall_s=3), workers=1) as sb:
        res = sb.run(TINY_BOMB)
        assert res.status == "pass", res
        made = int(res.stdout.split()[-1])
        assert made < 10, f"process cap did not apply: {res.stdout!r} (isolation {sb.description})"
        assert sb.leftover_processes() == set()


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("print(sum(range(10)))", "pass"),
        ("assert 1 + 1 == 3, 'wrong sum'", "fail"),
        ("1 / 0", "crash"),
        ("def f(:\n  pass", "crash"),
        ("import time\ntime.sleep(60)", "timeout"),
        ("x = bytearray(4 * 1024 ** 3)", "oom"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", "crash"),
    ],
)
def test_statuses(sandbox, code, status):
    res = sandbox.run(code)
    assert res.status == status, res
    assert res.status in STATUSES


def test_stdin_and_stdout_round_trip(sandbox):
    res = sandbox.run("import sys\nprint(sys.stdin.read().upper())", "hello")
    assert (res.status, res.stdout.strip()) == ("pass", "HELLO")


def test_environment_is_empty_and_workdir_private(sandbox, monkeypatch):
    monkeypatch.setenv("DATAFLOW_TEST_TOKEN", "tok-123")
    res = sandbox.run("import os\nprint(sorted(os.environ))\nprint(os.getcwd())\nopen('f.txt','w').write('x')")
    assert res.status == "pass", res
    assert "DATAFLOW_TEST_TOKEN" not in res.stdout and "tok-123" not in res.stdout
    assert str(sandbox.root) in res.stdout
    assert list(sandbox.root.iterdir()) == []  # the throwaway directory is gone


def test_output_is_capped():
    with Sandbox(SandboxLimits(output_bytes=1000, wall_s=3), workers=1) as sb:
        res = sb.run("while True:\n    print('y' * 100)")
        assert res.truncated and len(res.stdout) <= 1000
        assert res.status == "crash" and "output limit" in res.detail


def test_hostile_corpus_fully_contained(sandbox, capsys):
    verdicts = run_hostile_corpus(sandbox, HOSTILE)
    names = {v.name for v in verdicts}
    assert {
        "fork_bomb",
        "rm_rf_outside",
        "env_secrets",
        "open_socket",
        "infinite_loop",
        "memory_hog",
        "huge_output",
        "kill_parent",
        "main_guard_exit",
        "os_exit_zero",
        "forged_eq",
        "steal_token_memory",
        "read_storage_root",
        "parent_environ",
        "tmp_persist",
        "unix_socket",
    } <= names
    line = summary_line(verdicts)
    with capsys.disabled():
        print(f"\nhostile corpus ({sandbox.description['mode']}):")
        for v in verdicts:
            print(f"  {v.name:24s} {v.result.status:8s} {'contained' if v.contained else v.problems}")
        print(line)
    escaped = {v.name: v.problems for v in verdicts if not v.contained}
    assert not escaped, escaped
    assert line.endswith("PASS")


def test_run_many_parallel_keeps_order_and_survives_crashes(sandbox):
    programs = [f"print({i} * {i})" if i % 3 else "raise SystemExit(2)" for i in range(12)]
    results = sandbox.run_many(programs)
    assert [r.status for r in results] == ["crash" if i % 3 == 0 else "pass" for i in range(12)]
    assert [r.stdout.strip() for r in results if r.status == "pass"] == [str(i * i) for i in range(12) if i % 3]
    assert sandbox.leftover_processes() == set()


def test_isolation_mode_is_reported(sandbox):
    d = sandbox.description
    assert d["mode"] in MODES and d["workers"] == 2


def test_concurrent_sandboxes_never_share_a_uid():
    with Sandbox(workers=2) as a, Sandbox(workers=2) as b:
        ua, ub = a.description["uids"], b.description["uids"]
        if os.geteuid() != 0:
            pytest.skip("per-slot uids exist only when running as root")
        assert len(set(ua) | set(ub)) == 4
        # a long program in one sandbox survives the other sandbox's reaping
        import threading

        box: dict = {}
        t = threading.Thread(target=lambda: box.setdefault("r", a.run("import time\ntime.sleep(1.5)\nprint('alive')")))
        t.start()
        for _ in range(5):
            b.run("import os, signal\nos.kill(-1, signal.SIGKILL)")
        t.join()
        assert box["r"].status == "pass" and box["r"].stdout.strip() == "alive"
