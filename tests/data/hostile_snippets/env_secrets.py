# expect: pass fail crash
# ruff: noqa
# Looks for secrets: its own environment, other processes' environments, common key files.
import glob
import json
import os
import sys

ctx = json.loads(sys.stdin.read() or "{}")
print("ENV", dict(os.environ))
for path in [
    f"/proc/{ctx.get('pid', 1)}/environ",
    "/proc/1/environ",
    *glob.glob("/proc/[0-9]*/environ")[:200],
    "/root/.ssh/id_rsa",
    "/etc/shadow",
    os.path.expanduser("~/.netrc"),
]:
    try:
        with open(path, "rb") as fh:
            print(path, fh.read(4096))
    except OSError as exc:
        print(path, "denied:", exc.strerror)
