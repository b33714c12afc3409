# expect: fail crash
# ruff: noqa
# Looks for the token in the harness's memory: frames, tracebacks, gc, tracers, signal frames, /proc/self/mem.
import gc, os, signal, sys


def add(a, b):
    return a - b


found = []


def grab(frame):
    while frame is not None:
        found.extend(v for v in frame.f_locals.values() if isinstance(v, bytearray) and len(v) == 32)
        frame = frame.f_back


for attempt in (
    lambda: grab(sys._getframe()),
    lambda: [found.append(o) for o in gc.get_objects() if isinstance(o, bytearray) and len(o) == 32],
    lambda: sys.settrace(lambda f, e, a: grab(f)),
    lambda: signal.signal(signal.SIGUSR1, lambda s, f: grab(f)) or os.kill(os.getpid(), signal.SIGUSR1),
    lambda: open("/proc/self/mem", "rb"),
    lambda: __import__("ctypes"),
):
    try:
        attempt()
    except Exception as exc:
        print("refused:", type(exc).__name__, exc)
try:
    raise ValueError
except ValueError as exc:
    try:
        grab(exc.__traceback__.tb_frame)
    except Exception as e:
        print("refused:", e)
for tok in found:
    for fd in range(3, 64):
        try:
            os.write(fd, bytes(tok))
        except OSError:
            pass
if found:
    os._exit(0)
# ---- tests ----
assert add(2, 3) == 5
assert add(0, 0) == 0
