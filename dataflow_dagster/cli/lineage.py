"""``audit`` and ``diff``: the lineage commands of dataflow_dagster.audit_cli, mounted at top level."""

from dataflow_dagster.audit_cli import audit_command, diff_command

commands = [audit_command, diff_command]
