"""`prereview audit`: verify and read the audit trail (auditors and coordinators)."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from prereview.cli.common import (
    JsonOption,
    console,
    emit_json,
    err_console,
    new_app,
    settings,
    shown,
)
from prereview.vault.policy import Operation, Resource
from prereview.vault.service import open_session

app = new_app("Verify and read the tamper-evident audit trail.")


@app.command()
def verify(json_out: bool = JsonOption) -> None:
    """Check every hash, signature and checkpoint, and the trail's end against the signed head
    record in the keys dir; say where the trail was tampered with or cut back.

    Exit 0 when intact, 1 when not. An intact trail gets a new signed checkpoint at its head.
    """
    session = open_session(settings())
    with session.vault:
        session.guard.require(Operation.AUDIT_VERIFY, Resource.system())
        report = session.vault.audit.verify()
        if report.ok:
            session.vault.audit.checkpoint()
    if json_out:
        emit_json(report.as_dict())
    elif report.ok:
        console.print(
            f"audit trail intact: {report.entries} entries, {report.checkpoints} signed "
            f"checkpoints; head #{report.head_seq} {report.head_hash[:16]}…"
        )
    elif len(report.problems) == 1:  # one line that names it
        problem = report.problems[0]
        err_console.print(
            f"[bold red]audit trail TAMPERED[/]: #{problem.seq} {problem.kind}: "
            f"{escape(problem.message)}",
            markup=True,
        )
    else:
        err_console.print(
            f"[bold red]audit trail TAMPERED[/]: {len(report.problems)} problem(s) in "
            f"{report.entries} entries",
            markup=True,
        )
        for problem in report.problems[:50]:
            err_console.print(f"  #{problem.seq} {problem.kind}: {problem.message}")
        if len(report.problems) > 50:
            err_console.print(f"  … and {len(report.problems) - 50} more (see --json)")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def show(
    submission: str | None = typer.Option(None, "--submission", help="Only this submission."),
    principal: str | None = typer.Option(None, "--principal", help="Only this principal."),
    limit: int | None = typer.Option(200, "--limit", help="The newest N entries (0: all)."),
    json_out: bool = JsonOption,
) -> None:
    """Show audit entries, oldest first."""
    session = open_session(settings())
    with session.vault:
        session.guard.require(
            Operation.AUDIT_READ,
            Resource.system(),
            detail={"submission": submission, "principal": principal},
        )
        entries = session.vault.audit.entries(submission, principal, limit or None)
    if json_out:
        emit_json([e.as_dict() for e in entries])
        return
    table = Table()
    for col in ("#", "at (UTC)", "principal", "action", "outcome", "submission", "target"):
        table.add_column(col, overflow="fold")
    for e in entries:
        who = f"{e.principal} ({e.role})" if e.role else (e.principal or "-")
        outcome = {"denied": "[red]denied[/]", "failed": "[red]failed[/]"}.get(e.outcome, e.outcome)
        table.add_row(
            str(e.seq),
            e.at[:19].replace("T", " "),
            shown(who),
            shown(e.action),
            outcome,
            shown(e.submission_id or "-"),
            shown(e.target or "-"),
        )
    console.print(table)
