# expect: pass fail crash
# ruff: noqa
# Leaves a file in /dev/shm (RAM that outlives the run).
import json, os, subprocess, sys

ctx = json.loads(sys.stdin.read() or "{}")
try:
    with open(f"/dev/shm/dataflow-escape-{os.getpid()}", "wb") as fh:
        fh.write(b"x" * 1024)
    print("left a file in /dev/shm")
except OSError as exc:
    print("refused", exc)
