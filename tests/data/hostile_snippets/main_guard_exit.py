# expect: fail crash
# ruff: noqa
# A wrong solution whose (very common) main guard exits 0 before any test could run.
def add(a, b):
    return a - b


def main():
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
# ---- tests ----
assert add(2, 3) == 5
assert add(0, 0) == 0
