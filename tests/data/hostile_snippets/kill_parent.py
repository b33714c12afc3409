# expect: pass fail crash
# ruff: noqa
# Tries to kill its parent, the evaluator (pid on stdin) and every process it can signal.
import json
import os
import signal
import sys

ctx = json.loads(sys.stdin.read() or "{}")
for pid in (os.getppid(), int(ctx.get("pid", 1)), 1):
    try:
        os.kill(pid, signal.SIGKILL)
        print("killed", pid)
    except OSError as exc:
        print("could not kill", pid, exc)
sys.stdout.flush()
os.kill(-1, signal.SIGKILL)
