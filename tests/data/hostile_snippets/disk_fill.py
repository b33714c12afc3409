# expect: crash
# ruff: noqa
# Writes one enormous file into its working directory.
with open("big.bin", "wb") as fh:
    chunk = b"\0" * (1 << 20)
    for _ in range(10_000):
        fh.write(chunk)
