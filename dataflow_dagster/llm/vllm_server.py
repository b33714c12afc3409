"""A vLLM OpenAI-compatible server as a managed subprocess: free port, health check, captured log.

Starting the server for the run (rather than expecting one) makes a pipeline self-contained on a GPU
box; dispatch then goes through ``OpenAICompatClient`` like any other endpoint, with all its retries,
limits and streaming cache commits. The server runs in its own process group so stopping it also
stops the engine workers it spawned. ``python`` may name another interpreter (a separate vLLM venv).
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from operators.core.contract import OperatorError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class VLLMServerSpec:
    model: str
    served_model_name: str = "model"
    python: str = sys.executable
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free one
    dtype: str = "auto"
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = None
    tensor_parallel_size: int = 1
    seed: int = 0
    enforce_eager: bool = False
    extra_args: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    startup_timeout_s: float = 600.0
    log_path: str | None = None

    def command(self, port: int) -> list[str]:
        cmd = [
            self.python,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            self.model,
            "--served-model-name",
            self.served_model_name,
            "--host",
            self.host,
            "--port",
            str(port),
            "--dtype",
            self.dtype,
            "--seed",
            str(self.seed),
            "--tensor-parallel-size",
            str(self.tensor_parallel_size),
        ]
        if self.max_model_len:
            cmd += ["--max-model-len", str(self.max_model_len)]
        if self.gpu_memory_utilization is not None:
            cmd += ["--gpu-memory-utilization", str(self.gpu_memory_utilization)]
        if self.enforce_eager:
            cmd.append("--enforce-eager")
        return cmd + list(self.extra_args)


class VLLMServer:
    def __init__(self, spec: VLLMServerSpec) -> None:
        self.spec = spec
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.spec.host}:{self.port}/v1"

    def log_tail(self, n: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def start(self) -> str:
        """Start the server and wait until it answers; returns the base URL."""
        spec = self.spec
        self.port = spec.port or free_port(spec.host)
        self.log_path = Path(spec.log_path or f"vllm-server-{self.port}.log").resolve()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **spec.env}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                spec.command(self.port), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self.base_url

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.spec.startup_timeout_s
        url = f"http://{self.spec.host}:{self.port}/v1/models"
        while True:
            code = self.proc.poll()
            if code is not None:
                raise OperatorError(
                    f"vLLM server for {self.spec.model} exited with code {code} during start-up; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise OperatorError(
                    f"vLLM server for {self.spec.model} did not answer {url} within "
                    f"{self.spec.startup_timeout_s:.0f}s; raise startup_timeout_s or read {self.log_path}:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.5)

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM the server's process group, SIGKILL what is left after ``grace_s``."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        pgid = proc.pid  # start_new_session: the server leads its own group
        try:
            os.killpg(pgid, signal.SIGTERM)
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            proc.wait(10)
        except ProcessLookupError:
            pass

    def __enter__(self) -> "VLLMServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
