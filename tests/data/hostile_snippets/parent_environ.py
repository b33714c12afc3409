# expect: pass fail crash
# ruff: noqa
# Reads the environment of its parent, grandparents and the evaluator (API keys live there).
# prelude: spawn (defines ctx and child(), see spawn.prelude)
child(
    f"import os\npids, pid = [{ctx.get('pid', 1)}], os.getppid()\nwhile pid > 1 and len(pids) < 12:\n    pids.append(pid)\n    pid = int(open(f'/proc/{{pid}}/stat').read().rsplit(')', 1)[1].split()[1])\nfor p in pids:\n    try:\n        print(p, open(f'/proc/{{p}}/environ', 'rb').read())\n    except OSError as exc:\n        print(p, 'denied', exc)"
)
