# expect: pass fail crash
# ruff: noqa
# Reaches the TCP listener on 127.0.0.1 from a child interpreter (no harness there).
# prelude: spawn (defines ctx and child(), see spawn.prelude)
child(
    f"import socket\ns = socket.create_connection(('127.0.0.1', {int(ctx.get('port', 80))}), timeout=1)\ns.sendall(b'exfiltrated')\nprint('CONNECTED')"
)
