"""`prereview sandbox check | cleanup`: prove the isolation on this host; remove leftovers."""

from __future__ import annotations

import typer
from rich.table import Table

from prereview.cli.common import JsonOption, console, emit_json, new_app

app = new_app("The bwrap sandbox every agent command runs in.")


@app.command()
def check(json_out: bool = JsonOption) -> None:
    """Start a sandbox and test each isolation property; exit 1 if any fails."""
    from prereview.sandbox.selfcheck import self_check

    results = self_check()
    failed = [r for r in results if not r.ok]
    if json_out:
        emit_json({"ok": not failed, "properties": [r.as_dict() for r in results]})
    else:
        table = Table(title="prereview sandbox check")
        for column in ("property", "status", "detail"):
            table.add_column(column, overflow="fold")
        for r in results:
            table.add_row(r.name, "[green]pass[/]" if r.ok else "[red]FAIL[/]", r.detail)
        console.print(table)
    if failed:
        raise typer.Exit(1)


@app.command()
def cleanup(
    sample: str | None = typer.Argument(
        None, help="A sample id to remove even if its evaluator is alive (default: all stale)."
    ),
    json_out: bool = JsonOption,
) -> None:
    """Remove sandboxes whose evaluator died: processes, cgroups, uid reservations, state."""
    from prereview.sandbox.sweep import sweep_stale

    removed = sweep_stale(sample)
    if json_out:
        emit_json({"removed": removed})
    else:
        console.print(f"removed {len(removed)} stale sandbox(es)" + (": " if removed else ""))
        for sample_id in removed:
            console.print(f"  {sample_id}")
