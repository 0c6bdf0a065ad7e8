"""`prereview audit`: verify and read the audit trail (auditors and coordinators)."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from prereview.cli.common import (
    JsonOption,
    api,
    console,
    emit_json,
    err_console,
    new_app,
    plain,
    remote,
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
    report: dict[str, Any]
    if remote():
        report = api("POST", "/api/v1/audit/verify")
    else:
        session = open_session(settings())
        with session.vault:
            session.guard.require(Operation.AUDIT_VERIFY, Resource.system())
            verified = session.vault.audit.verify()
            if verified.ok:
                session.vault.audit.checkpoint()
        report = plain(verified.as_dict())
    problems = report["problems"]
    if json_out:
        emit_json(report)
    elif report["ok"]:
        console.print(
            f"audit trail intact: {report['entries']} entries, {report['checkpoints']} signed "
            f"checkpoints; head #{report['head']['seq']} {report['head']['hash'][:16]}…"
        )
    elif len(problems) == 1:  # one line that names it
        problem = problems[0]
        err_console.print(
            f"[bold red]audit trail TAMPERED[/]: #{problem['seq']} {escape(problem['kind'])}: "
            f"{escape(problem['message'])}",
            markup=True,
        )
    else:
        err_console.print(
            f"[bold red]audit trail TAMPERED[/]: {len(problems)} problem(s) in "
            f"{report['entries']} entries",
            markup=True,
        )
        for problem in problems[:50]:
            err_console.print(
                f"  #{problem['seq']} {problem['kind']}: {problem['message']}", markup=False
            )
        if len(problems) > 50:
            err_console.print(f"  … and {len(problems) - 50} more (see --json)")
    if not report["ok"]:
        raise typer.Exit(1)


@app.command()
def show(
    submission: str | None = typer.Option(None, "--submission", help="Only this submission."),
    principal: str | None = typer.Option(None, "--principal", help="Only this principal."),
    limit: int | None = typer.Option(200, "--limit", help="The newest N entries (0: all)."),
    json_out: bool = JsonOption,
) -> None:
    """Show audit entries, oldest first."""
    entries: list[dict[str, Any]]
    if remote():
        query = {"submission": submission, "principal": principal, "limit": limit or 0}
        entries = api(
            "GET", "/api/v1/audit", params={k: v for k, v in query.items() if v is not None}
        )
    else:
        session = open_session(settings())
        with session.vault:
            session.guard.require(
                Operation.AUDIT_READ,
                Resource.system(),
                detail={"submission": submission, "principal": principal},
            )
            found = session.vault.audit.entries(submission, principal, limit or None)
        entries = plain([e.as_dict() for e in found])
    if json_out:
        emit_json(entries)
        return
    table = Table()
    for col in ("#", "at (UTC)", "principal", "action", "outcome", "submission", "target"):
        table.add_column(col, overflow="fold")
    for e in entries:
        who = f"{e['principal']} ({e['role']})" if e["role"] else (e["principal"] or "-")
        outcome = {"denied": "[red]denied[/]", "failed": "[red]failed[/]"}.get(
            e["outcome"], shown(e["outcome"])
        )
        table.add_row(
            str(e["seq"]),
            e["at"][:19].replace("T", " "),
            shown(who),
            shown(e["action"]),
            outcome,
            shown(e["submission_id"] or "-"),
            shown(e["target"] or "-"),
        )
    console.print(table)
