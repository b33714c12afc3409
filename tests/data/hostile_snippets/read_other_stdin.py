# expect: pass fail crash
# ruff: noqa
# Reads other rows' input files next to its own working directory.
import json, os, subprocess, sys

ctx = json.loads(sys.stdin.read() or "{}")


def child(code):
    """A fresh interpreter (no harness, no audit hook: only what the operating system allows); where
    none can be started, the same code in this process."""
    for python in (sys.executable, "/usr/bin/python3"):
        try:
            r = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=3)
        except OSError:
            continue
        print(r.stdout[-20000:], r.stderr[-300:])
        if r.returncode == 0:
            return
    try:
        exec(code, {})
    except Exception as exc:
        print("in-process attempt failed:", exc)


child("import glob\nfor p in glob.glob('../.stdin-*') + glob.glob('../../*/.stdin-*'):\n    print(p, open(p).read())")
