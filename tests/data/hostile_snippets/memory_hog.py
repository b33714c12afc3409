# expect: oom timeout
# ruff: noqa
# Allocates memory until something stops it (the memory limit; on a loaded machine without a memory
# cgroup, zeroing the pages can take longer than the wall-clock limit, which stops it just as well).
blocks = []
while True:
    blocks.append(bytearray(64 * 1024 * 1024))
