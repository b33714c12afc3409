# expect: fail crash
# ruff: noqa
# A wrong solution that ends the interpreter with status 0 as soon as it is imported.
import os


def add(a, b):
    return a - b


os._exit(0)
# ---- tests ----
assert add(2, 3) == 5
assert add(0, 0) == 0
