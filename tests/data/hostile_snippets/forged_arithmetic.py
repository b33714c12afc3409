# expect: fail crash
# ruff: noqa
# Returns an int subclass whose __eq__, __sub__, __abs__ and __bool__ make any check pass.
class Zero(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__

    def __sub__(self, other):
        return 0

    __rsub__ = __sub__

    def __abs__(self):
        return 0

    def __bool__(self):
        return True


def add(a, b):
    return Zero(a - b)


# ---- tests ----
assert add(2, 3) == 5
assert add(0, 0) == 0
assert abs(add(2, 3) - 5) < 1e-9
assert add(1, 1)
assert round(add(2, 3)) == 5
