# expect: pass fail crash
# ruff: noqa
# Leaves files in /tmp and /var/tmp that would outlive the run.
import json, os, subprocess, sys

ctx = json.loads(sys.stdin.read() or "{}")
for d in ("/tmp", "/var/tmp"):
    try:
        with open(os.path.join(d, f"dataflow-escape-{os.getpid()}"), "wb") as fh:
            fh.write(b"x" * 1024)
        print("left a file in", d)
    except OSError as exc:
        print("refused", d, exc)
