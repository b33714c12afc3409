# expect: pass fail crash
# ruff: noqa
# Tries to reach a TCP listener on 127.0.0.1 (port on stdin), an outside address and DNS.
import json
import socket
import sys

ctx = json.loads(sys.stdin.read() or "{}")
for host, port in [("127.0.0.1", int(ctx.get("port", 80))), ("1.1.1.1", 53), ("10.0.0.1", 80)]:
    try:
        s = socket.create_connection((host, port), timeout=1)
        s.sendall(b"exfiltrated")
        print("CONNECTED", host, port)
    except OSError as exc:
        print("blocked", host, port, exc)
try:
    print("DNS", socket.gethostbyname("pypi.org"))
except OSError as exc:
    print("dns blocked", exc)
