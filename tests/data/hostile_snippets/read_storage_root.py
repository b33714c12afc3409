# expect: pass fail crash
# ruff: noqa
# Reads the storage root (LLM cache, snapshots) and a repository file, in-process and from a child.
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


for path in (ctx.get("storage", "/nonexistent"), ctx.get("repo_file", "/nonexistent")):
    child(
        f"import os\nfor root, _, names in os.walk({path!r}):\n    [print(open(os.path.join(root, n)).read()) for n in names]\nprint(open({path!r}).read()) if os.path.isfile({path!r}) else None"
    )
