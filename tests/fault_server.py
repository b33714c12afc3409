"""A fault-injecting OpenAI-compatible chat server on 127.0.0.1, for tests and the dispatch bench.

It stands in for a remote model only to break things on purpose: each request draws (seeded) one of
429 / 500 / hang past the client's timeout / garbage body / schema-breaking answer at ``fault_rate``
in total, and otherwise answers after ``latency`` seconds with a JSON object that satisfies the
request's schema, derived deterministically from the prompt (it is the fault injector, so it may make
up valid answers itself). ``/stats`` reports what it saw so tests can tell which rows were re-sent.

    python tests/fault_server.py --port 8123 --fault-rate 0.2 --latency 0.01 --seed 0
"""

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

FAULTS = ("429", "500", "timeout", "garbage_body", "garbage_json")


def instance(schema: dict[str, Any], rng: random.Random) -> Any:
    """A value valid for the (simple) schemas our operators use."""
    if "enum" in schema:
        return rng.choice(schema["enum"])
    t = schema.get("type", "string")
    if t == "object":
        return {k: instance(v, rng) for k, v in schema.get("properties", {}).items()}
    if t == "array":
        n = min(schema.get("maxItems", 3), max(schema.get("minItems", 0), 2))
        return [instance(schema.get("items", {}), rng) for _ in range(n)]
    if t == "integer":
        return rng.randint(int(schema.get("minimum", 0)), int(schema.get("maximum", 100)))
    if t == "number":
        return round(rng.uniform(float(schema.get("minimum", 0)), float(schema.get("maximum", 1))), 3)
    if t == "boolean":
        return rng.random() < 0.5
    lo, hi = int(schema.get("minLength", 1)), int(schema.get("maxLength", 40))
    word = "answer " + "".join(rng.choice("abcdefghij") for _ in range(hi))
    return word[: max(lo, min(hi, 24))]


def build_app(fault_rate: float, latency: float, hang_s: float, seed: int, reject_json_schema: bool) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    rng = random.Random(seed)
    seen: Counter = Counter()
    prompts: list[str] = []
    arrivals: list[float] = []
    auth_headers: Counter = Counter()
    answered = [0]  # successful answers sent (bench/crash_safety.py kills its worker after k of them)

    async def chat(request: Request) -> Response:
        body = await request.json()
        arrivals.append(time.time())
        # only a digest of the header: tests check the key arrived without the server keeping it
        auth_headers[hashlib.sha256(request.headers.get("authorization", "").encode()).hexdigest()] += 1
        msgs = body.get("messages", [])
        user = next((m["content"] for m in msgs if m.get("role") == "user"), "")
        prompts.append(user)
        fmt = body.get("response_format") or {}
        if reject_json_schema and fmt.get("type") == "json_schema":
            seen["rejected_json_schema"] += 1
            return JSONResponse({"error": {"message": "response_format json_schema is not supported"}}, status_code=400)
        schema = (fmt.get("json_schema") or {}).get("schema") or fmt.get("schema")
        fault = None
        if rng.random() < fault_rate:
            fault = FAULTS[rng.randrange(len(FAULTS))]
            if fault == "garbage_json" and schema is None:
                fault = "garbage_body"
        seen[fault or "ok"] += 1
        if fault == "429":
            return JSONResponse({"error": {"message": "rate limited"}}, status_code=429, headers={"retry-after": "0"})
        if fault == "500":
            return JSONResponse({"error": {"message": "internal error"}}, status_code=500)
        if fault == "timeout":
            await asyncio.sleep(hang_s)
        if fault == "garbage_body":
            return Response("<html>upstream hiccup", status_code=200, media_type="application/json")
        await asyncio.sleep(latency)
        r = random.Random(hashlib.sha256(user.encode()).hexdigest())
        if fault == "garbage_json":
            content = '{"answer": "unterminated'
        elif schema is not None:
            content = json.dumps(instance(schema, r))
        else:
            content = f"free text answer {r.randint(0, 999)}"
        n_in = sum(len(m.get("content", "")) for m in msgs) // 4 + 1
        answered[0] += 1
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(prompts)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fault"),
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
                ],
                "usage": {
                    "prompt_tokens": n_in,
                    "completion_tokens": len(content) // 4 + 1,
                    "total_tokens": n_in + len(content) // 4 + 1,
                },
            }
        )

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "fault", "object": "model"}]})

    async def stats(request: Request) -> Response:
        return JSONResponse(
            {"outcomes": dict(seen), "prompts": prompts, "arrivals": arrivals, "auth_sha256": dict(auth_headers)}
        )

    async def answered_count(request: Request) -> Response:
        return JSONResponse({"answered": answered[0]})

    async def reset(request: Request) -> Response:
        answered[0] = 0
        seen.clear()
        prompts.clear()
        arrivals.clear()
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/models", models),
            Route("/stats", stats),
            Route("/answered", answered_count),
            Route("/reset", reset, methods=["POST"]),
        ]
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FaultServer:
    """Runs this file as a subprocess (its own core, its own GIL) and talks to its /stats."""

    def __init__(self, proc: subprocess.Popen, port: int) -> None:
        self.proc, self.port = proc, port
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self.root = f"http://127.0.0.1:{port}"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.root}/stats", timeout=10) as r:
            return json.loads(r.read())

    def answered(self) -> int:
        """Successful answers sent since the last reset (cheap to poll, unlike /stats)."""
        with urllib.request.urlopen(f"{self.root}/answered", timeout=10) as r:
            return int(json.loads(r.read())["answered"])

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.root}/reset", method="POST", data=b"")
        urllib.request.urlopen(req, timeout=10).close()


@contextlib.contextmanager
def fault_server(
    fault_rate: float = 0.2, latency: float = 0.01, hang_s: float = 5.0, seed: int = 0, reject_json_schema: bool = False
) -> Iterator[FaultServer]:
    port = _free_port()
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--port",
        str(port),
        "--fault-rate",
        str(fault_rate),
        "--latency",
        str(latency),
        "--hang-s",
        str(hang_s),
        "--seed",
        str(seed),
    ]
    if reject_json_schema:
        cmd.append("--reject-json-schema")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"fault server exited with {proc.returncode}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("fault server did not start within 30 s") from None
                time.sleep(0.1)
        yield FaultServer(proc, port)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--fault-rate", type=float, default=0.2)
    ap.add_argument("--latency", type=float, default=0.01)
    ap.add_argument("--hang-s", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reject-json-schema", action="store_true")
    a = ap.parse_args()
    app = build_app(a.fault_rate, a.latency, a.hang_s, a.seed, a.reject_json_schema)
    uvicorn.run(
        app, host="127.0.0.1", port=a.port, log_level="warning", access_log=False, backlog=4096, timeout_keep_alive=60
    )


if __name__ == "__main__":
    main()
