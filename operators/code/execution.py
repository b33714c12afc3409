"""The execution evaluator: runs each row's code (plus its tests) in the sandbox.

After DataFlow's CodeSandboxSampleEvaluator, with the confinement described in ``sandbox``. The code is
imported as a module and its tests run by the sandbox's harness, which alone can declare a pass (an
early ``SystemExit``/``os._exit`` or a forged ``__eq__`` cannot). Every row
gets a status (``pass | fail | timeout | crash | oom``) and the evidence (exit code, output tails,
time); a row whose program misbehaves in any way is a result, never an exception, so one hostile
sample cannot fail the step. Programs run in parallel on a bounded pool, a batch at a time, so the
table streams through and memory stays flat.
"""

from typing import Any, ClassVar

import pyarrow as pa
from pydantic import Field

from operators.code.sandbox import STATUSES, Sandbox, SandboxLimits
from operators.core.contract import CheckSpec, Kind, OpConfig, Operator, OperatorContext, quote_ident, quote_literal
from operators.core.registry import register
from operators.core.rowids import ID
from operators.core.sql_ops import SQLFilter

TAIL_CHARS = 2000


class ExecConfig(OpConfig):
    input_key: str = "generated_code"
    tests_key: str | None = "test_code"  # run against the code by the harness; None runs the code alone
    sandbox: str = "auto"  # bwrap (auto) | unshare-unsafe | rlimits-unsafe: weaker modes only by name
    stdin_key: str | None = None
    status_key: str = "exec_status"
    prefix: str = "exec_"
    workers: int | None = Field(default=None, ge=1, le=64)  # default: one per core
    cpu_s: int = Field(default=2, ge=1, le=600)
    wall_s: float = Field(default=5.0, gt=0, le=3600)
    memory_mb: int = Field(default=256, ge=32)
    nproc: int = Field(default=16, ge=1)
    fsize_mb: int = Field(default=8, ge=0)
    output_bytes: int = Field(default=64 * 1024, ge=256)
    min_pass_share: float = 0.0
    batch_rows: int = Field(default=64, ge=1)


@register
class CodeExecutionEvaluator(Operator):
    """Runs code + tests per row in a confined process; adds status, exit code, output tails and time."""

    kind: ClassVar[Kind] = Kind.EVALUATE
    Config = ExecConfig
    domain = "code"
    tags = ("code", "execution", "sandbox", "tests")

    def input_columns(self) -> list[str]:
        c = self.config
        return [c.input_key, *[k for k in (c.tests_key, c.stdin_key) if k]]

    def output_columns(self) -> list[str]:
        p = self.config.prefix
        return [self.config.status_key, f"{p}returncode", f"{p}detail", f"{p}stdout", f"{p}stderr", f"{p}wall_s"]

    def checks(self) -> list[CheckSpec]:
        st = quote_ident(self.config.status_key)
        statuses = ", ".join(f"'{s}'" for s in STATUSES)
        return [
            CheckSpec(
                "every_row_reported",
                f"coalesce(avg(CASE WHEN t.{st} IN ({statuses}) THEN 1.0 ELSE 0.0 END), 1)",
                ">=",
                1.0,
                "every program got a pass/fail/timeout/crash/oom verdict",
            ),
            CheckSpec(
                "pass_share",
                f"coalesce(avg(CASE WHEN t.{st} = 'pass' THEN 1.0 ELSE 0.0 END), 0)",
                ">=",
                self.config.min_pass_share,
                "share of programs whose tests passed",
                blocking=False,
            ),
        ]

    def limits(self) -> SandboxLimits:
        c = self.config
        return SandboxLimits(
            cpu_s=c.cpu_s,
            wall_s=c.wall_s,
            memory_mb=c.memory_mb,
            nproc=c.nproc,
            fsize_mb=c.fsize_mb,
            output_bytes=c.output_bytes,
        )

    def run(self, ctx: OperatorContext) -> dict[str, Any]:
        c = self.config
        con, src = ctx.con, quote_ident(ctx.source or "")
        cols = [ID, c.input_key, *[k for k in (c.tests_key, c.stdin_key) if k]]
        p = c.prefix
        con.execute(f"""CREATE TABLE __exec ({ID} VARCHAR, {quote_ident(c.status_key)} VARCHAR,
            {quote_ident(p + "returncode")} INTEGER, {quote_ident(p + "detail")} VARCHAR,
            {quote_ident(p + "stdout")} VARCHAR, {quote_ident(p + "stderr")} VARCHAR,
            {quote_ident(p + "wall_s")} DOUBLE)""")
        reader = (
            con.cursor()
            .sql(f"SELECT {', '.join(quote_ident(x) for x in cols)} FROM {src}")
            .to_arrow_reader(c.batch_rows)
        )
        total, done = ctx.count(), 0
        counts = dict.fromkeys(STATUSES, 0)
        mode = None if c.sandbox == "auto" else c.sandbox
        with Sandbox(self.limits(), workers=c.workers, mode=mode) as sandbox:
            ctx.log.info(f"{self.name}: sandbox {sandbox.description}")
            for batch in reader:
                data = batch.to_pydict()
                programs = [code or "" for code in data[c.input_key]]
                tests = [t or None for t in data[c.tests_key]] if c.tests_key else None
                stdins = data[c.stdin_key] if c.stdin_key else None
                results = sandbox.run_many(programs, stdins, tests)
                for r in results:
                    counts[r.status] += 1
                out = {
                    ID: data[ID],
                    c.status_key: [r.status for r in results],
                    p + "returncode": pa.array([r.returncode for r in results], pa.int32()),
                    p + "detail": [r.detail for r in results],
                    p + "stdout": [r.stdout[-TAIL_CHARS:] for r in results],
                    p + "stderr": [r.stderr[-TAIL_CHARS:] for r in results],
                    p + "wall_s": [r.wall_s for r in results],
                }
                con.execute("SELECT 1").fetchall()  # register() refuses to run beside a pending result
                con.register("__exec_batch", pa.table(out))
                con.execute("INSERT INTO __exec BY NAME SELECT * FROM __exec_batch")
                con.unregister("__exec_batch")
                done += len(results)
                ctx.progress(done, total)
            mode = sandbox.description["mode"]
        existing = set(ctx.columns())
        clash = [x for x in self.output_columns() if x in existing]
        excl = f" EXCLUDE ({', '.join(quote_ident(x) for x in clash)})" if clash else ""
        con.execute(
            f"CREATE VIEW {quote_ident(ctx.target)} AS SELECT s.*{excl}, e.* EXCLUDE ({ID}) "
            f"FROM {src} s LEFT JOIN __exec e USING ({ID})"
        )
        return {"programs": done, "statuses": counts, "isolation": mode}


class PassConfig(OpConfig):
    input_key: str = "exec_status"
    keep: list[str] = ["pass"]


@register
class ExecutionStatusFilter(SQLFilter):
    """Keeps rows whose execution status is in ``keep`` (default: only programs whose tests passed)."""

    kind: ClassVar[Kind] = Kind.FILTER
    Config = PassConfig
    domain = "code"
    tags = ("code", "execution", "filter")

    def keep_sql(self) -> str:
        return f"{self.col()} IN ({', '.join(quote_literal(str(s)) for s in self.config.keep)})"

    def reason_sql(self) -> str:
        return f"'ExecutionStatusFilter: status=' || coalesce({self.col()}, 'NULL')"
