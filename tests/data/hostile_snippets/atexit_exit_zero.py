# expect: fail crash
# ruff: noqa
# Registers an atexit hook and an excepthook that turn any ending into status 0.
import atexit, os, sys


def add(a, b):
    return a - b


atexit.register(lambda: os._exit(0))
sys.excepthook = lambda *a: os._exit(0)
# ---- tests ----
assert add(2, 3) == 5
assert add(0, 0) == 0
