# expect: pass fail crash
# ruff: noqa
# Reads the command lines of every process it can see and prints those that look like they carry secrets.
# prelude: spawn (defines ctx and child(), see spawn.prelude)
child(
    "import glob\nfound = 0\nfor p in glob.glob('/proc/[0-9]*/cmdline'):\n    try:\n"
    "        line = open(p, 'rb').read().replace(bytes(1), b' ').decode(errors='replace')\n"
    "    except OSError:\n        continue\n    found += 1\n"
    "    if any(w in line.lower() for w in ('secret', 'key', 'token', 'password')):\n        print(p, line[:300])\n"
    "print('processes seen:', found)"
)
