"""Where log-probabilities and embeddings come from: the embedded GGUF model or an HTTP endpoint.

Operators that score with a model (perplexity, IFD, embeddings) do not go through the chat protocol:
they need numbers, not text. ``ModelSourceConfig`` is the part of their config that picks the model:
nothing set means the embedded SmolLM2 GGUF (llama.cpp in-process, no download); ``model_path`` a
GGUF file of the user's; ``base_url`` an OpenAI-compatible server (``/v1/completions`` with
``echo`` + ``logprobs`` for log-probabilities: llama.cpp server started with ``--logits_all true``,
vLLM; ``/v1/embeddings`` for embeddings). The API key is read from the environment variable named by
``api_key_env`` when the request is sent: it is never part of the config, the fingerprint or errors.
"""

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from pydantic import Field

from operators.core.contract import OpConfig, OperatorError
from operators.scoring.local import resolve_model_path


class EndpointConfig(OpConfig):
    base_url: str | None = None  # e.g. http://127.0.0.1:8000/v1 (vLLM, llama.cpp server)
    model: str = "default"  # the served model name at base_url
    api_key_env: str | None = None  # name of the environment variable holding the key, if any
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(3, ge=0)


class ModelSourceConfig(EndpointConfig):
    model_path: str | None = None  # a GGUF file; default: the embedded SmolLM2-135M-Instruct
    n_ctx: int = Field(512, ge=32)  # tokens per text for the local model (longer texts are truncated)


def source_id(c: ModelSourceConfig) -> str:
    """Which model scored the rows, for stats and metadata (never the key)."""
    if c.base_url:
        return f"endpoint:{c.base_url.rstrip('/')}#{c.model}"
    return f"llama.cpp/{resolve_model_path(c.model_path).name}"


def post_json(c: EndpointConfig, path: str, body: dict[str, Any]) -> Any:
    """POST to ``base_url + path`` with retries on 429/5xx/connection errors; errors name the URL, never the key."""
    assert c.base_url
    url = c.base_url.rstrip("/") + path
    headers = {"Content-Type": "application/json"}
    key = ""
    if c.api_key_env:
        key = os.environ.get(c.api_key_env, "")
        if not key:
            raise OperatorError(f"api_key_env names ${c.api_key_env}, which is not set; export it or unset api_key_env")
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode()
    last = ""
    for attempt in range(c.max_retries + 1):
        req = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=c.timeout_s) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            detail = detail.replace(key, "[redacted]") if key else detail  # servers echo keys back
            last = f"HTTP {exc.code} from {url}: {detail}"
            if exc.code != 429 and exc.code < 500:
                break
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            last = f"cannot reach {url}: {getattr(exc, 'reason', exc)}"
        except json.JSONDecodeError:
            last = f"{url} answered with something that is not JSON"
        if attempt < c.max_retries:
            time.sleep(min(0.5 * 2**attempt, 8.0))
    raise OperatorError(f"{last} (after {c.max_retries} retries); check base_url/model and that the server is up")
