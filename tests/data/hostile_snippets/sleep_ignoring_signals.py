# expect: timeout
# ruff: noqa
# Blocks every catchable signal and sleeps: only SIGKILL ends it.
import signal
import time

signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU, signal.SIGQUIT})
time.sleep(10_000)
