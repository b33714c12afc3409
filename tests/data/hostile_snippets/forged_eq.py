# expect: fail crash
# ruff: noqa
# Returns an object whose __eq__ (and every comparison) is always True.
class Anything:
    def __eq__(self, other):
        return True

    __ne__ = lambda s, o: False
    __lt__ = __le__ = __gt__ = __ge__ = __eq__

    def __hash__(self):
        return 0


def add(a, b):
    return Anything()


# ---- tests ----
assert add(2, 3) == 5
assert add(0, 0) == 0
