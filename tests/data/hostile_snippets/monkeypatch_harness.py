# expect: fail crash
# ruff: noqa
# Patches what a harness would use: builtins, sys.modules['__main__'], os.write, math, unittest.
import builtins, math, os, sys, types


def add(a, b):
    return a - b


builtins.all = lambda *a, **k: True
builtins.isinstance = lambda *a: True
builtins.range = lambda *a: []
builtins.AssertionError = type("Never", (Exception,), {})
math.isclose = lambda *a, **k: True
main = sys.modules.get("__main__")
for name in dir(main):
    try:
        setattr(main, name, lambda *a, **k: True)
    except Exception:
        pass
_write = os.write
os.write = lambda fd, data: _write(fd, data)
sys.modules["unittest"] = types.ModuleType("unittest")
# ---- tests ----
assert add(2, 3) == 5
assert add(0, 0) == 0
