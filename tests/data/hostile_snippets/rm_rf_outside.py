# expect: pass fail crash
# ruff: noqa
# Tries to delete a directory outside its own (the canary named on stdin) and its siblings.
import json
import os
import shutil
import sys

ctx = json.loads(sys.stdin.read() or "{}")
canary = ctx.get("canary", "/nonexistent")
shutil.rmtree(canary, ignore_errors=True)
os.system(f"rm -rf {canary} ../* ../.[!.]* 2>/dev/null")
print("canary still exists:", os.path.exists(canary))
