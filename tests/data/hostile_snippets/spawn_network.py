# expect: pass fail crash
# ruff: noqa
# Reaches the TCP listener on 127.0.0.1 from a child interpreter (no harness there).
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
    f"import socket\ns = socket.create_connection(('127.0.0.1', {int(ctx.get('port', 80))}), timeout=1)\ns.sendall(b'exfiltrated')\nprint('CONNECTED')"
)
