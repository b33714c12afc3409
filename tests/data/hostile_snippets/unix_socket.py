# expect: pass fail crash
# ruff: noqa
# Connects to a world-writable unix socket outside the sandbox.
# prelude: spawn (defines ctx and child(), see spawn.prelude)
child(
    f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.settimeout(1)\ns.connect({ctx.get('unix_socket', '/nonexistent')!r})\ns.sendall(b'exfiltrated')\nprint('CONNECTED')"
)
