# expect: timeout
# ruff: noqa
# Burns CPU forever.
while True:
    pass
