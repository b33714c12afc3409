# expect: fail crash
# ruff: noqa
# Tries to become root and to read root-only files.
import os

for attempt in (lambda: os.setuid(0), lambda: os.setgid(0), lambda: open("/etc/shadow").read()):
    try:
        print("ESCALATED", attempt())
    except OSError as exc:
        print("refused", exc)
assert os.getuid() == 0, "still unprivileged"
