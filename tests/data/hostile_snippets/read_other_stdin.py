# expect: pass fail crash
# ruff: noqa
# Reads other rows' input files next to its own working directory.
# prelude: spawn (defines ctx and child(), see spawn.prelude)
child("import glob\nfor p in glob.glob('../.stdin-*') + glob.glob('../../*/.stdin-*'):\n    print(p, open(p).read())")
