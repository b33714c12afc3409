# expect: fail crash
# ruff: noqa
# Closes or redirects every descriptor it can find, so the harness cannot report, and exits 0.
import os


def add(a, b):
    return a - b


for fd in range(3, 64):
    try:
        os.dup2(1, fd)
    except OSError:
        pass
# ---- tests ----
assert add(2, 3) == 5
assert add(0, 0) == 0
