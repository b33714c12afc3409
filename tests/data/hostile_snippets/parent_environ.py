# expect: pass fail crash
# ruff: noqa
# Reads the environment of its parent, grandparents and the evaluator (API keys live there).
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


child(
    f"import os\npids, pid = [{ctx.get('pid', 1)}], os.getppid()\nwhile pid > 1 and len(pids) < 12:\n    pids.append(pid)\n    pid = int(open(f'/proc/{{pid}}/stat').read().rsplit(')', 1)[1].split()[1])\nfor p in pids:\n    try:\n        print(p, open(f'/proc/{{p}}/environ', 'rb').read())\n    except OSError as exc:\n        print(p, 'denied', exc)"
)
