# expect: pass fail crash
# ruff: noqa
# Tries to plant files outside its directory: next to the canary, in /tmp and in the repository.
import json
import os
import sys

ctx = json.loads(sys.stdin.read() or "{}")
for path in [os.path.join(ctx.get("canary", "/nonexistent"), "planted.txt"), "../planted.txt"]:
    try:
        with open(path, "w") as fh:
            fh.write("planted")
        print("PLANTED", path)
    except OSError as exc:
        print("refused", path, exc.strerror)
