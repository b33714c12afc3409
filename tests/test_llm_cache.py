"""The response cache shared by runs and pipelines: several processes writing at once, stats, prune."""

import subprocess
import sys
import textwrap
from pathlib import Path

from dataflow_dagster.llm.cache import CachedLLM, ResponseCache
from operators.core.llm import LLMRequest, LLMResponse

REPO = Path(__file__).resolve().parents[1]

WRITER = textwrap.dedent("""
    import sys
    from dataflow_dagster.llm.cache import ResponseCache
    from operators.core.llm import LLMResponse
    if __name__ == "__main__":
        path, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
        cache = ResponseCache(path)
        for start in range(0, n, 8):  # small commits, as the dispatcher makes them
            items = [(f"{who}-{i}", LLMResponse(text=f"{who} answer {i}", prompt_tokens=3, completion_tokens=5,
                                                 model=f"model-{who}")) for i in range(start, min(n, start + 8))]
            items += [(f"shared-{start % 50}", LLMResponse(text="same", model="shared"))]
            cache.put_many(items)
            cache.get_many([f"{who}-{start}", "shared-0"])
            cache.stats()
        print("done")
""")


def test_several_processes_write_at_once(tmp_path):
    path = tmp_path / "cache.sqlite"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(path), f"w{k}", "400"],
            cwd=REPO,
            env={"PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for k in range(4)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    cache = ResponseCache(path)
    stats = cache.stats()
    shared = {f"shared-{s % 50}" for s in range(0, 400, 8)}
    assert stats["entries"] == 4 * 400 + len(shared)
    assert stats["models"]["model-w2"] == {"entries": 400, "prompt_tokens": 1200, "completion_tokens": 2000}
    assert cache.get_many(["w3-399"])["w3-399"].text == "w3 answer 399"
    assert stats["bytes"] > 0

    assert cache.prune(model="model-w0") == 400
    assert cache.stats()["entries"] == 3 * 400 + len(shared)
    assert cache.prune(older_than_s=3600) == 0  # everything is newer than an hour
    assert cache.prune(older_than_s=0) == 3 * 400 + len(shared)
    cache.vacuum()
    assert cache.stats()["entries"] == 0


class _Echo:
    """A real client of the protocol (no network): answers with the prompt, counts calls."""

    model_id = "echo"

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, requests):
        self.calls += len(requests)
        return [
            LLMResponse(text=r.messages[-1][1], model="echo")
            if "bad" not in r.messages[-1][1]
            else LLMResponse(text=None, error="refused")
            for r in requests
        ]


def test_cached_llm_dedups_and_never_caches_failures(tmp_path):
    client = _Echo()
    cached = CachedLLM(client, ResponseCache(tmp_path / "c.sqlite"))
    reqs = [LLMRequest.chat(t) for t in ["a", "b", "a", "bad"]]
    out = cached.generate(reqs)
    assert [r.text for r in out] == ["a", "b", "a", None] and client.calls == 3
    out2 = cached.generate(reqs)
    assert client.calls == 4  # only the failed one went out again
    assert [r.cached for r in out2] == [True, True, True, False]
    assert cached.counters.hits == 3 and cached.counters.failed == 2
