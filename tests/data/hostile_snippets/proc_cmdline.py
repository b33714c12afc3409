# expect: pass fail crash
# ruff: noqa
# Reads the command lines of every process it can see and prints those that look like they carry secrets.
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
    "import glob\nfound = 0\nfor p in glob.glob('/proc/[0-9]*/cmdline'):\n    try:\n"
    "        line = open(p, 'rb').read().replace(bytes(1), b' ').decode(errors='replace')\n"
    "    except OSError:\n        continue\n    found += 1\n"
    "    if any(w in line.lower() for w in ('secret', 'key', 'token', 'password')):\n        print(p, line[:300])\n"
    "print('processes seen:', found)"
)
