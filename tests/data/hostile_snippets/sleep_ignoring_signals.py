# expect: timeout
# ruff: noqa
# Ignores every catchable signal and sleeps: only SIGKILL ends it.
import signal
import time

for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU, signal.SIGQUIT):
    signal.signal(sig, signal.SIG_IGN)
time.sleep(10_000)
