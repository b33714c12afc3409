# expect: fail crash
# ruff: noqa
# Prints and writes token-like bytes on every descriptor, then exits 0.
import os, secrets


def add(a, b):
    return a - b


guess = secrets.token_bytes(32)
print(guess.hex())
for fd in range(3, 64):
    try:
        os.write(fd, guess)
    except OSError:
        pass
os._exit(0)
# ---- tests ----
assert add(2, 3) == 5
assert add(0, 0) == 0
