"""The Dagster UI in a real headless browser: materialise the reference pipeline from the asset
graph's "Materialize all" button and read the result off the asset pages.

Debian's chromium driven by Playwright (PyPI); no browser is ever downloaded. `dagster dev` runs on a
free port with a fresh DAGSTER_HOME and DATAFLOW_HOME, under a wrapper that restores the default
SIGINT/SIGTERM handlers in a new session, so it can be stopped even when pytest itself runs in the
background (where SIGINT is inherited as ignored). Screenshots go to a temp folder, or to docs/screenshots/
with DATAFLOW_REFRESH_SCREENSHOTS=1.

The run goes through the embedded model with an empty response cache; on a loaded 2-core machine it
takes minutes, hence the generous timeouts. Set DATAFLOW_UI_TEST_TIMEOUT_S to change the run limit.
"""

import contextlib
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port

CHROMIUM = Path("/usr/bin/chromium")
# The committed screenshots are refreshed only on request; a plain test run writes its pictures to a
# temp folder, so running the suite never dirties the checkout.
SHOTS = (
    REPO / "docs" / "screenshots"
    if os.environ.get("DATAFLOW_REFRESH_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / f"dataflow-dagster-screenshots-{os.getuid()}"
)
PIPELINE = "pretrain_qa"
LOCATION = "__repository__@assets.definitions"  # workspace.yaml's python_module, a Definitions repo
RUN_TIMEOUT_S = float(os.environ.get("DATAFLOW_UI_TEST_TIMEOUT_S", "2700"))
UI_TIMEOUT_MS = 120_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium"),
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None,
        reason="needs playwright from PyPI (dev extra); never `playwright install`",
    ),
]

# Restores default signal handlers, then becomes the given program (run under start_new_session).
_WRAPPER = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "signal.signal(signal.SIGTERM, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
)


@dataclass
class UI:
    url: str
    proc: subprocess.Popen
    log: Path
    dataflow_home: Path

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(f"{self.url}/graphql", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            doc = json.loads(resp.read())
        if doc.get("errors"):
            raise AssertionError(f"GraphQL errors: {doc['errors']}")
        return doc["data"]

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


def _wait(predicate, timeout_s: float, what: str, ui: UI, every_s: float = 1.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        if ui.proc.poll() is not None:
            raise AssertionError(
                f"dagster dev exited ({ui.proc.returncode}) while waiting for {what}:\n{ui.log_tail()}"
            )
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # server still starting
            last_exc = exc
        time.sleep(every_s)
    raise AssertionError(
        f"timed out after {timeout_s}s waiting for {what} (last error: {last_exc!r}):\n{ui.log_tail()}"
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(30)
    with contextlib.suppress(ProcessLookupError):  # webserver, daemon, code server and run workers
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    tmp = tmp_path_factory.mktemp("ui")
    home, data = tmp / "dagster_home", tmp / "dataflow"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DATAFLOW_HOME": str(data),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    env.pop("DATAFLOW_LLM_BASE_URL", None)  # the reference pipeline on the embedded model
    dagster = Path(sys.executable).with_name("dagster")
    log = tmp / "dagster_dev.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WRAPPER,
                str(dagster),
                "dev",
                "-w",
                "workspace.yaml",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=REPO,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ui = UI(f"http://127.0.0.1:{port}", proc, log, data)
    try:
        _wait(
            lambda: (
                ui.graphql("{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }")[
                    "workspaceOrError"
                ]["locationEntries"][0]["loadStatus"]
                == "LOADED"
            ),
            300,
            "the code location to load",
            ui,
        )
        assert ui.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True  # else a dialog covers the page
        yield ui
    finally:
        _stop(proc)


RUNS_QUERY = "{ runsOrError { ... on Runs { results { runId status } } } }"
CHECKS_QUERY = """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
  assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } } } } }"""


def _runs(ui: UI) -> list[dict]:
    return ui.graphql(RUNS_QUERY)["runsOrError"]["results"]


def _shot(target, name: str) -> None:  # type: ignore[no-untyped-def]
    """A page or element screenshot, reduced to a 64-colour palette so the committed PNGs stay small."""
    from PIL import Image

    SHOTS.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(target.screenshot(type="png"))).convert("RGB")
    image.quantize(colors=64).save(SHOTS / f"{name}.png", optimize=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def materialised(dagster_ui: UI, browser) -> dict:  # type: ignore[no-untyped-def]
    """Clicks "Materialize all" on the asset graph and waits for the run to finish."""
    page = browser.new_page(viewport={"width": 1400, "height": 860})
    try:
        # the group's own graph: the global one collapses groups once the location holds several
        # pipelines, and its "Materialize all" would run every pipeline
        page.goto(f"{dagster_ui.url}/locations/{LOCATION}/asset-groups/{PIPELINE}", timeout=UI_TIMEOUT_MS)
        button = page.get_by_role("button", name="Materialize all")
        button.wait_for(timeout=UI_TIMEOUT_MS)
        page.get_by_text("keep_good").first.wait_for(timeout=UI_TIMEOUT_MS)  # graph rendered
        _shot(page, "01_asset_graph")
        assert _runs(dagster_ui) == []
        button.click()
        runs = _wait(lambda: _runs(dagster_ui), 120, "the launched run to appear", dagster_ui)
        run = _wait(
            lambda: next(r for r in _runs(dagster_ui) if r["status"] in {"SUCCESS", "FAILURE", "CANCELED"}),
            RUN_TIMEOUT_S,
            f"run {runs[0]['runId']} to finish",
            dagster_ui,
            every_s=3,
        )
        page.goto(f"{dagster_ui.url}/runs/{run['runId']}", timeout=UI_TIMEOUT_MS)
        if run["status"] == "SUCCESS":
            page.get_by_text("Success").first.wait_for(timeout=UI_TIMEOUT_MS)
        _shot(page, "02_run")
        return run
    finally:
        page.close()


def test_materialize_all_from_the_ui_succeeds(materialised: dict, dagster_ui: UI):
    assert materialised["status"] == "SUCCESS", dagster_ui.log_tail()
    refs = sorted(p.stem for p in (dagster_ui.dataflow_home / "refs").glob("*.json"))
    assert f"{PIPELINE}__keep_good" in refs and f"{PIPELINE}__topic" in refs


def _metadata_row(page, label: str):  # type: ignore[no-untyped-def]
    row = page.locator("tr", has=page.get_by_text(label, exact=True)).first
    row.wait_for(timeout=UI_TIMEOUT_MS)
    return row


def _open_chart(page, label: str, shot: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    """Charts are markdown images, which Dagster shows behind "[Show Markdown]"; open one and
    return the laid-out image box (a broken image has no size)."""
    _metadata_row(page, label).get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog")
    img = dialog.locator("img[src^='data:image/svg+xml;base64,']").first
    img.wait_for(timeout=UI_TIMEOUT_MS)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=img.element_handle(), timeout=UI_TIMEOUT_MS
    )
    box = img.bounding_box()
    if shot:
        _shot(dialog, shot)
    dialog.get_by_role("button", name="Close").click()
    dialog.wait_for(state="hidden", timeout=UI_TIMEOUT_MS)
    return box or {}


def test_asset_page_shows_sample_charts_and_rejected_rows(materialised: dict, dagster_ui: UI, browser):  # type: ignore[no-untyped-def]
    assert materialised["status"] == "SUCCESS"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"{dagster_ui.url}/assets/{PIPELINE}/judge", timeout=UI_TIMEOUT_MS)
        # The sample of output rows is an inline table whose header names the judged columns.
        sample = _metadata_row(page, "sample_rows")
        for col in ("_id", "question", "answer", "qa_score"):
            sample.get_by_role("columnheader", name=col, exact=True).wait_for(timeout=UI_TIMEOUT_MS)
        assert sample.locator("tbody tr").count() >= 1
        for label in ("mean_qa_score", "prompt_tokens", "total_tokens", "tables"):
            _metadata_row(page, label)
        sample.scroll_into_view_if_needed()
        _shot(page, "03_asset_judge")
        box = _open_chart(page, "distribution_qa_score", "03b_judge_score_chart")
        assert box["width"] > 100 and box["height"] > 50

        page.goto(f"{dagster_ui.url}/assets/{PIPELINE}/dedup", timeout=UI_TIMEOUT_MS)
        reasons = _metadata_row(page, "rejected_by_reason")
        reasons.get_by_text("ExactDedupFilter", exact=True).wait_for(timeout=UI_TIMEOUT_MS)
        rejected = _metadata_row(page, "rejected_sample")
        rejected.get_by_role("columnheader", name="_reason", exact=True).wait_for(timeout=UI_TIMEOUT_MS)
        assert rejected.get_by_text("ExactDedupFilter: duplicate of").count() >= 1
        tables = _metadata_row(page, "tables")
        assert tables.get_by_text(f"{PIPELINE}__dedup__rejected").count() >= 1
        reasons.scroll_into_view_if_needed()
        _shot(page, "04_asset_dedup_rejected")
        assert _open_chart(page, "row_counts")["width"] > 100
        assert _open_chart(page, "rejected_reasons", "04b_dedup_reasons_chart")["width"] > 100
    finally:
        page.close()


def test_checks_tab_shows_the_evaluator_gate(materialised: dict, dagster_ui: UI, browser):  # type: ignore[no-untyped-def]
    assert materialised["status"] == "SUCCESS"
    checks = dagster_ui.graphql(CHECKS_QUERY, {"key": {"path": [PIPELINE, "judge"]}})
    states = {
        c["name"]: (c["executionForLatestMaterialization"] or {}).get("status")
        for c in checks["assetNodeOrError"]["assetChecksOrError"]["checks"]
    }
    assert states == {"parsed_share": "SUCCEEDED", "error_share": "SUCCEEDED"}
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        page.goto(f"{dagster_ui.url}/assets/{PIPELINE}/judge?view=checks", timeout=UI_TIMEOUT_MS)
        page.get_by_text("parsed_share").first.wait_for(timeout=UI_TIMEOUT_MS)
        page.get_by_text("Passed").first.wait_for(timeout=UI_TIMEOUT_MS)
        _shot(page, "05_checks_judge")
    finally:
        page.close()
