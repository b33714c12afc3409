"""The ``dataflow-dagster`` command line.

Commands live in the modules of this package; each module exposes ``commands`` (a list of click
commands or groups) and is discovered by walking the package, so a new command group (``audit``,
``diff``, ...) is one new module here, nothing else to edit. Exit codes are the same everywhere:

    0  success
    1  a run failed (a step raised, a blocking check failed, a dry run found a broken step)
    2  usage or configuration error (bad argument, bad YAML, unknown operator, missing file)
    3  the agent refused a request it cannot serve (no file is written)
"""

import importlib
import pkgutil
import sys
from typing import Any

import click

from dataflow_dagster.cli.common import EXIT_CONFIG, AgentRefusalExit, UserError
from operators.core.contract import OperatorError

EXIT_CODES_HELP = "Exit codes: 0 ok, 1 run failed, 2 usage/config error, 3 agent refused the request."


class DataflowGroup(click.Group):
    """Turns user errors into one-line messages with exit code 2 instead of tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OperatorError as exc:
            raise UserError(str(exc)) from None
        except AgentRefusalExit:
            raise
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            raise UserError(f"{exc.strerror or exc}: {exc.filename}") from None


@click.group(cls=DataflowGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(package_name="dataflow-dagster", prog_name="dataflow-dagster")
def cli() -> None:
    """DataFlow-style LLM data preparation on Dagster: run, plan and write pipelines from the shell."""


def command_modules() -> list[str]:
    """Every module of this package that defines commands (the command group registry)."""
    skip = {"common"}
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_") and m.name not in skip)


def _register_all() -> None:
    for name in command_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        for cmd in getattr(module, "commands", []):
            if cmd.name in cli.commands:
                raise RuntimeError(f"command '{cmd.name}' is defined twice (second in {module.__name__})")
            cli.add_command(cmd)


_register_all()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``dataflow-dagster``)."""
    try:
        cli.main(args=argv, prog_name="dataflow-dagster")
    except OperatorError as exc:  # raised outside a command's invoke (e.g. during option callbacks)
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)


__all__ = ["cli", "command_modules", "main"]
