# expect: fail crash
# ruff: noqa
# A wrong solution that finds the tests (files next to it, its own program file, open descriptors)
# and returns the answers they expect.
import glob, os, re, sys

answers = {}
texts = []
for path in [
    "tests.py",
    "main.py",
    "/.dataflow-in/tests.py",
    sys.argv[0],
    *glob.glob("*.py"),
    *glob.glob("/.dataflow-in/*"),
]:
    try:
        with open(path) as fh:
            texts.append(fh.read())
    except OSError:
        pass
for fd in range(3, 64):
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        texts.append(os.read(fd, 1 << 16).decode(errors="replace"))
    except OSError:
        pass
for text in texts:
    for a, b, want in re.findall(r"add\((-?\d+), (-?\d+)\) == (-?\d+)", text):
        answers[(int(a), int(b))] = int(want)


def add(a, b):
    return answers.get((a, b), a - b)


# ---- tests ----
assert add(2, 3) == 5
assert add(10, 7) == 17
