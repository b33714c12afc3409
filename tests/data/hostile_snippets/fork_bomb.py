# expect: timeout crash
# ruff: noqa
# A classic fork bomb: every process forks forever. The slot's process cap must stop it.
import os

while True:
    try:
        os.fork()
    except OSError:
        pass
