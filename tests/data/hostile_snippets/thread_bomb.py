# expect: crash timeout
# ruff: noqa
# Starts threads until the process cap refuses more.
import threading
import time

threads = []
while True:
    t = threading.Thread(target=time.sleep, args=(10_000,), daemon=True)
    t.start()
    threads.append(t)
