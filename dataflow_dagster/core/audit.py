"""Reproducibility audit: prove that a published table is what its recorded chain produces.

Three independent pieces of evidence, gathered for every asset on the path from the source to the
audited asset:
1. *Chain*: starting from the audited asset's latest materialisation (Dagster event log, else the
   storage's history), follow each recorded upstream content hash to the upstream materialisation
   that had it. A hash nobody recorded means the table was made from data that is not on record.
2. *Stored tables*: re-hash every snapshot file and compare with the hash recorded when it was made;
   Dagster's data-version and code-version tags must agree with our lineage record.
3. *Replay*: re-run the chain with the current pipeline definitions into a scratch storage, LLM
   answers from the response cache only (no model is called), the source re-imported from the
   recorded file (whose sha256 must still match). Each replayed hash must equal the recorded one.

The first step whose replay differs is named with its causes, found by comparing the recorded recipe
(operator, version, config, prompt, model, sampling params, source file) with the current one.
"""

import io
import json
import logging
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dataflow_dagster.core import history
from dataflow_dagster.core.history import Record
from dataflow_dagster.core.pipeline import Pipeline
from dataflow_dagster.core.runner import (
    StepOptions,
    _sampling,
    file_sha256,
    run_source,
    run_step,
    source_code_version,
)
from dataflow_dagster.core.storage import AssetAddress, Storage, content_hash
from operators.core.contract import OperatorError, quote_literal
from operators.core.llm import LLMRequest, LLMResponse
from operators.core.prompt import PromptTemplate

FAIL, WARN, OK = "fail", "warn", "ok"


@dataclass
class Finding:
    asset: str
    check: str  # chain | stored_table | dagster_tags | source_file | code | config | prompt | model | params | replay
    status: str  # fail | warn | ok
    detail: str
    expected: Any = None
    actual: Any = None


@dataclass
class StepAudit:
    asset: str
    step: str
    run_id: str | None
    origin: str  # event_log | history
    recorded_hash: str | None
    snapshot: str | None
    stored_hash: str | None = None
    snapshot_sql: str | None = None  # the table as SQL (a view over a fused stage's snapshot)
    replayed_hash: str | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def reproduced(self) -> bool | None:
        return None if self.replayed_hash is None else self.replayed_hash == self.recorded_hash

    @property
    def status(self) -> str:
        states = {f.status for f in self.findings}
        return FAIL if FAIL in states else WARN if WARN in states else OK


@dataclass
class AuditResult:
    asset: str
    partition: str | None
    steps: list[StepAudit]
    llm_calls: int = 0

    @property
    def ok(self) -> bool:
        return all(s.status != FAIL for s in self.steps) and bool(self.steps)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def first_divergence(self) -> StepAudit | None:
        """The first step (source first) whose replay did not reproduce its recorded table."""
        return next((s for s in self.steps if s.reproduced is False), None)

    def causes(self, step: StepAudit) -> list[str]:
        return sorted({f.check for f in step.findings if f.status != OK and f.check != "replay"}) or ["replay"]

    def failures(self) -> list[Finding]:
        return [f for s in self.steps for f in s.findings if f.status == FAIL]

    def summary(self) -> str:
        if self.ok:
            return f"{self.asset}: OK, {len(self.steps)} tables verified and reproduced from the recorded chain"
        parts = []
        div = self.first_divergence
        if div is not None:
            parts.append(f"first divergence at {div.asset}: {', '.join(self.causes(div))}")
        tampered = [f.asset for f in self.failures() if f.check == "stored_table"]
        if tampered:
            parts.append(f"stored table(s) not matching their recorded hash: {', '.join(tampered)}")
        others = [f"{f.asset}: {f.check}" for f in self.failures() if f.check in ("chain", "dagster_tags")]
        parts += others
        return f"{self.asset}: FAILED — " + "; ".join(parts or ["see findings"])

    def to_dict(self) -> dict[str, Any]:
        div = self.first_divergence
        return {
            "asset": self.asset,
            "partition": self.partition,
            "ok": self.ok,
            "summary": self.summary(),
            "llm_calls": self.llm_calls,
            "first_divergence": {"asset": div.asset, "causes": self.causes(div)} if div else None,
            "steps": [{**asdict(s), "status": s.status, "reproduced": s.reproduced} for s in self.steps],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, default=str)

    def rows(self) -> list[list[str]]:
        out = []
        for s in self.steps:
            bad = [f"{f.check}: {f.detail}" for f in s.findings if f.status != OK]
            out.append(
                [
                    s.asset,
                    s.status.upper(),
                    "yes" if s.stored_hash == s.recorded_hash else "NO",
                    {True: "yes", False: "NO", None: "-"}[s.reproduced],
                    (s.recorded_hash or "")[:12],
                    "; ".join(bad) or "-",
                ]
            )
        return out

    def to_markdown(self) -> str:
        head = ["asset", "status", "stored table", "replayed", "recorded hash", "findings"]
        lines = [
            f"# Audit of `{self.asset}`" + (f" partition `{self.partition}`" if self.partition else ""),
            "",
            f"**{self.summary()}**",
            "",
            f"LLM calls during replay: {self.llm_calls}",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head),
        ]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in self.rows()]
        return "\n".join(lines) + "\n"

    def render(self, plain: bool = False) -> str:
        """The terminal table (rich when installed and not ``plain``)."""
        head = ["asset", "status", "stored", "replayed", "hash", "findings"]
        if not plain:
            try:
                from rich.console import Console
                from rich.table import Table
            except ImportError:
                plain = True
        if plain:
            return "\n".join(["\t".join(head), *("\t".join(r) for r in self.rows()), self.summary()])
        table = Table(*head, title=f"audit {self.asset}")
        for r in self.rows():
            table.add_row(*r, style="red" if r[1] == "FAIL" else "yellow" if r[1] == "WARN" else None)
        # Render into a string buffer: the caller prints it, to a terminal or a plain pipe alike
        # (a recording console inside capture() recorded nothing, so pipes got an empty string).
        buffer = io.StringIO()
        console = Console(file=buffer, width=160, force_terminal=False, color_system=None)
        console.print(table)
        console.print(self.summary())
        return buffer.getvalue()

    def write(self, folder: str | Path) -> tuple[Path, Path]:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        stem = self.asset.replace("/", "__") + (f"@{self.partition}" if self.partition else "")
        js, md = folder / f"audit-{stem}.json", folder / f"audit-{stem}.md"
        js.write_text(self.to_json(), encoding="utf-8")
        md.write_text(self.to_markdown(), encoding="utf-8")
        return js, md


# ---- the recorded chain ------------------------------------------------------------------------
def _records(
    storage: Storage,
    pipeline: Pipeline,
    step: str,
    partition: str | None,
    instance: Any,
    asset_keys: dict[str, Any] | None,
) -> list[Record]:
    key = None
    if instance is not None:
        key = (asset_keys or {}).get(step)
        if key is None:
            from dagster import AssetKey  # the default translator's key; only with an instance

            key = AssetKey([pipeline.name, step])
    return history.records(storage, AssetAddress(pipeline.asset_name(step), partition), instance, key)


def _chain_steps(pipeline: Pipeline, step: str) -> list[str]:
    names = [step]
    while names[-1] != pipeline.source.name:
        names.append(pipeline.step(names[-1]).after or pipeline.source.name)
    return list(reversed(names))


# ---- comparisons -------------------------------------------------------------------------------
def _recipe_findings(
    pipeline: Pipeline, step: str, lin: dict[str, Any], prompt: PromptTemplate | None, model_id: str | None
) -> list[Finding]:
    asset = pipeline.asset_name(step)
    out: list[Finding] = []

    def differ(check: str, detail: str, expected: Any, actual: Any) -> None:
        if expected != actual:
            out.append(Finding(asset, check, WARN, detail, expected, actual))

    if step == pipeline.source.name:
        differ(
            "code",
            "source definition (path/format/columns) changed",
            lin.get("code_version"),
            source_code_version(pipeline),
        )
        return out
    op = pipeline.step(step).op
    differ(
        "code",
        f"operator changed ({lin.get('operator')}@{lin.get('operator_version')} recorded)",
        [lin.get("operator"), lin.get("operator_version")],
        [op.name, op.version],
    )
    if lin.get("config") != op.config_dict():
        keys = sorted(
            k
            for k in {*lin.get("config", {}), *op.config_dict()}
            if lin.get("config", {}).get(k) != op.config_dict().get(k)
        )
        out.append(Finding(asset, "config", WARN, f"config differs in {keys}", lin.get("config"), op.config_dict()))
    if op.needs_llm and prompt is not None:
        rec = lin.get("prompt", {})
        differ("prompt", f"prompt '{rec.get('name')}' text/system/schema changed", rec.get("hash"), prompt.content_hash)
        if model_id is not None:
            differ("model", "model id changed", lin.get("model", {}).get("id"), model_id)
        differ("params", "sampling params changed", lin.get("model", {}).get("params"), _sampling(op))
    return out


class _CacheOnly:
    """The model the recorded chain used, for cache keys only: an offline replay never calls it."""

    def __init__(self, model_id: str) -> None:
        self._id = model_id
        self.calls = 0

    @property
    def model_id(self) -> str:
        return self._id

    def generate(self, requests: list[LLMRequest]) -> list[LLMResponse]:
        self.calls += len(requests)
        raise OperatorError("audit replay tried to call a model; replays answer from the response cache only")


# ---- the audit ---------------------------------------------------------------------------------
def audit_asset(
    pipeline: Pipeline,
    step: str,
    storage: Storage,
    instance: Any = None,
    partition: str | None = None,
    llm: Any = None,
    prompts: dict[str, PromptTemplate] | None = None,
    scratch_dir: str | Path | None = None,
    log: logging.Logger | None = None,
    asset_keys: dict[str, Any] | None = None,
    llms: dict[str, Any] | None = None,
) -> AuditResult:
    """Audit the asset of ``step`` (optionally one partition) against ``storage``.

    ``llm`` is the current LLM client (only its ``model_id`` is used: replays never call a model);
    ``llms`` gives other steps' clients by step name (a step served by another model).
    ``prompts`` overrides step prompts (e.g. from Dagster prompt resources). ``asset_keys`` maps step
    names to the Dagster asset keys the event log knows them by (default ``[pipeline, step]``).
    """
    log = log or logging.getLogger("dataflow.audit")
    prompts = prompts or {}
    target = pipeline.asset_name(step)
    chain = _chain_steps(pipeline, step)
    audits: list[StepAudit] = []
    records: dict[str, Record | None] = {}
    want: str | None = None  # the content hash the downstream step recorded for this one
    for name in reversed(chain):
        asset = pipeline.asset_name(name)
        found = _records(storage, pipeline, name, partition, instance, asset_keys)
        rec = found[0] if want is None else next((r for r in found if r.lineage.get("content_hash") == want), None)
        records[name] = rec
        if rec is None:
            detail = (
                "no materialisation on record"
                if want is None
                else f"no recorded materialisation has hash {want[:12]}, which the downstream step read"
            )
            missing = Finding(asset, "chain", FAIL, detail)
            audits.append(StepAudit(asset, name, None, "-", want, None, findings=[missing]))
            want = None
            continue
        audits.append(
            StepAudit(
                asset,
                name,
                rec.version.run_id,
                rec.version.origin,
                rec.lineage.get("content_hash"),
                rec.version.path,
                snapshot_sql=rec.version.read_sql(),
            )
        )
        if found and rec is not found[0]:
            audits[-1].findings.append(
                Finding(
                    asset, "chain", OK, "re-materialised since; auditing the version the downstream table was made from"
                )
            )
        want = next(iter(rec.lineage.get("upstream", {}).values()), None)
    audits.reverse()
    result = AuditResult(target, partition, audits)
    if any(a.recorded_hash is None or records.get(a.step) is None for a in audits):
        return result
    for a in audits:
        _verify_stored(storage, a, records[a.step])  # type: ignore[arg-type]
    clients = {s.name: (llms or {}).get(s.name, llm) for s in pipeline.steps}
    _replay(pipeline, chain, storage, partition, clients, prompts, audits, records, scratch_dir, log, result)
    return result


def _verify_stored(storage: Storage, a: StepAudit, rec: Record) -> None:
    path = Path(a.snapshot or "")
    if not path.is_file():
        a.findings.append(Finding(a.asset, "stored_table", FAIL, f"snapshot {path} is missing (deleted or gc'd)"))
    else:
        con = storage.connect()
        try:
            a.stored_hash = content_hash(con, a.snapshot_sql or f"read_parquet({quote_literal(str(path))})")[0]
        except Exception as exc:  # a truncated or overwritten Parquet file cannot even be read
            a.findings.append(Finding(a.asset, "stored_table", FAIL, f"snapshot {path} is unreadable: {exc}"))
        finally:
            con.close()
        if a.stored_hash is not None and a.stored_hash != a.recorded_hash:
            a.findings.append(
                Finding(
                    a.asset,
                    "stored_table",
                    FAIL,
                    f"stored table {path} no longer matches its recorded content hash",
                    a.recorded_hash,
                    a.stored_hash,
                )
            )
    tag = rec.tags.get("dagster/data_version")
    if tag is not None and tag != a.recorded_hash:
        a.findings.append(
            Finding(
                a.asset,
                "dagster_tags",
                FAIL,
                "Dagster data version differs from the lineage record",
                a.recorded_hash,
                tag,
            )
        )
    code = rec.tags.get("dagster/code_version")
    if code is not None and code != rec.lineage.get("code_version"):
        a.findings.append(
            Finding(
                a.asset,
                "dagster_tags",
                FAIL,
                "Dagster code version differs from the lineage record",
                rec.lineage.get("code_version"),
                code,
            )
        )


def _replay(
    pipeline: Pipeline,
    chain: list[str],
    storage: Storage,
    partition: str | None,
    clients: dict[str, Any],
    prompts: dict[str, PromptTemplate],
    audits: list[StepAudit],
    records: dict[str, Record | None],
    scratch_dir: str | Path | None,
    log: logging.Logger,
    result: AuditResult,
) -> None:
    owned = scratch_dir is None
    root = Path(scratch_dir) if scratch_dir else Path(tempfile.mkdtemp(prefix="dataflow-audit-"))
    scratch = storage.scratch(root)
    try:
        for a in audits:
            rec = records[a.step]
            assert rec is not None
            lin = rec.lineage
            prompt = prompts.get(a.step)
            if a.step != pipeline.source.name:
                prompt = prompt or pipeline.step(a.step).effective_prompt
            llm = clients.get(a.step)
            recorded_model = lin.get("model", {}).get("id")
            current_model = llm.model_id if llm is not None else recorded_model
            a.findings += _recipe_findings(pipeline, a.step, lin, prompt, current_model)
            try:
                if a.step == pipeline.source.name:
                    src = lin.get("source_file", "")
                    if not Path(src).is_file():
                        a.findings.append(Finding(a.asset, "source_file", FAIL, f"recorded source file {src} is gone"))
                        break
                    now = file_sha256(src)
                    if now != lin.get("source_sha256"):
                        a.findings.append(
                            Finding(
                                a.asset,
                                "source_file",
                                WARN,
                                f"source file {src} changed since it was imported",
                                lin.get("source_sha256"),
                                now,
                            )
                        )
                    out = run_source(scratch, pipeline, log, partition=partition, source_path=src)
                else:
                    client = (
                        (llm or _CacheOnly(current_model or "unknown")) if pipeline.step(a.step).op.needs_llm else None
                    )
                    options = StepOptions(llm=client, prompt=prompt, log=log, partition=partition, offline=True)
                    out = run_step(scratch, pipeline, a.step, options)
                    misses = out.lineage.get("cache", {}).get("misses", 0)
                    if misses:
                        a.findings.append(
                            Finding(
                                a.asset,
                                "replay",
                                WARN,
                                f"{misses} LLM answers were not in the "
                                "response cache (pruned, or the requests changed)",
                            )
                        )
            except OperatorError as exc:
                a.findings.append(Finding(a.asset, "replay", FAIL, f"replay failed: {exc}"))
                break
            a.replayed_hash = out.table.content_hash
            if a.replayed_hash != a.recorded_hash:
                a.findings.append(
                    Finding(
                        a.asset,
                        "replay",
                        FAIL,
                        "replay does not reproduce the recorded table",
                        a.recorded_hash,
                        a.replayed_hash,
                    )
                )
                for f in a.findings:  # what differs at the diverging step is why it diverged
                    if f.status == WARN and f.check != "replay":
                        f.status = FAIL
            up = next(iter(lin.get("upstream", {}).values()), None)
            prev = audits[audits.index(a) - 1] if audits.index(a) else None
            if prev is not None and up is not None and prev.replayed_hash not in (None, up):
                a.findings.append(
                    Finding(
                        a.asset,
                        "upstream",
                        WARN,
                        "replayed upstream differs from the upstream this table was made from",
                        up,
                        prev.replayed_hash,
                    )
                )
        result.llm_calls = sum(int(getattr(c, "calls", 0) or 0) for c in {id(c): c for c in clients.values()}.values())
    finally:
        if owned:
            shutil.rmtree(root, ignore_errors=True)
