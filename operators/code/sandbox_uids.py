"""Worker-slot uids for the sandbox, claimed so that two sandboxes on one machine never share one.

Parallel Dagster steps, a test beside a bench: each Sandbox claims its slot uids with an exclusive
flock per uid (released when the descriptor is closed or the process dies), and skips a uid that
still has processes from a crashed run, so no sandbox ever reaps another's programs.
"""

import fcntl
import os
import tempfile
from pathlib import Path

from operators.code.sandbox_isolation import pids_of_uid

UID_LOCK_DIR = Path(tempfile.gettempdir()) / "dataflow-sandbox-uids"
UID_RANGE = 1000


def claim_uids(n: int, base: int, held: list[int]) -> list[int]:
    """Claim ``n`` unused uids from ``base``..``base + 999``, each by an exclusive flock on a lock file
    (released when the descriptor is closed or the process dies); descriptors are added to ``held``."""
    UID_LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    uids: list[int] = []
    for uid in range(base, base + UID_RANGE):
        if len(uids) == n:
            break
        fd = os.open(UID_LOCK_DIR / f"{uid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        if pids_of_uid(uid):  # a leftover from a crashed run: not safe to reuse until it is gone
            os.close(fd)
            continue
        held.append(fd)
        uids.append(uid)
    if len(uids) < n:
        for fd in held:
            os.close(fd)
        held.clear()
        raise RuntimeError(
            f"could not claim {n} sandbox uids in {base}..{base + UID_RANGE - 1}; "
            f"too many sandboxes are running (see {UID_LOCK_DIR})"
        )
    return uids
