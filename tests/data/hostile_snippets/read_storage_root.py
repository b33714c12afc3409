# expect: pass fail crash
# ruff: noqa
# Reads the storage root (LLM cache, snapshots) and a repository file, in-process and from a child.
# prelude: spawn (defines ctx and child(), see spawn.prelude)
for path in (ctx.get("storage", "/nonexistent"), ctx.get("repo_file", "/nonexistent")):
    child(
        f"import os\nfor root, _, names in os.walk({path!r}):\n    [print(open(os.path.join(root, n)).read()) for n in names]\nprint(open({path!r}).read()) if os.path.isfile({path!r}) else None"
    )
