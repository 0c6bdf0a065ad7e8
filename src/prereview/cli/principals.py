"""`prereview principals`: who may use prereview (coordinators only).

A token is printed once, when its principal is added, and never again: hand it over, then it
lives only with its holder (stored here as a SHA-256 digest).
"""

from __future__ import annotations

import typer
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
from prereview.vault.principals import Role
from prereview.vault.service import VaultSession, open_session

app = new_app("Manage principals: add, list, revoke; assign evaluators to reviews.")


def _coordinator() -> VaultSession:
    session = open_session(settings())
    try:
        session.guard.require(Operation.PRINCIPALS_MANAGE, Resource.system())
    except BaseException:
        session.vault.close()
        raise
    return session


@app.command()
def add(
    name: str = typer.Argument(..., help="A unique name (letters, digits, . _ @ -)."),
    role: Role = typer.Option(..., "--role", help="What the principal may do."),
    org: str | None = typer.Option(
        None, "--org", help="Developer organization (submitters; optional for sector partners)."
    ),
    json_out: bool = JsonOption,
) -> None:
    """Add a principal and print its API token (shown once)."""
    session = _coordinator()
    with session.vault:
        principal, token = session.vault.principals.add(name, role, org, session.principal.name)
        session.guard.record(
            "principals.add",
            "ok",
            target=f"principal {principal.name}",
            detail={
                "principal_id": principal.id,
                "role": role.value,
                "organization_id": principal.organization_id,
            },
        )
    if json_out:
        emit_json(
            {
                "principal": {
                    "id": principal.id,
                    "name": principal.name,
                    "role": principal.role.value,
                    "organization": principal.organization,
                },
                "token": token,
            }
        )
        return
    org_note = f" of {principal.organization}" if principal.organization else ""
    err_console.print(
        f"added {role.value} {shown(principal.name)}{shown(org_note)} ({shown(principal.id)}). "
        "Its API token follows; "
        "it is shown only now: hand it to its holder (PREREVIEW_TOKEN)."
    )
    console.print(token, highlight=False, soft_wrap=True)


@app.command("list")
def list_(json_out: bool = JsonOption) -> None:
    """List principals (never their tokens)."""
    session = _coordinator()
    with session.vault:
        infos = session.vault.principals.list()
    if json_out:
        emit_json([i.as_dict() for i in infos])
        return
    table = Table()
    for col in ("name", "id", "role", "organization", "assigned", "created", "revoked"):
        table.add_column(col, overflow="fold")
    for i in infos:
        table.add_row(
            shown(i.name),
            shown(i.id),
            i.role.value,
            shown(i.organization or "-"),
            shown(", ".join(i.assigned_submissions) or "-"),
            f"{i.created_at:%Y-%m-%d %H:%M}",
            f"{i.revoked_at:%Y-%m-%d %H:%M}" if i.revoked_at else "-",
        )
    console.print(table)


@app.command()
def revoke(
    name: str = typer.Argument(..., help="Name or id of the principal."),
    json_out: bool = JsonOption,
) -> None:
    """Revoke a principal: its token stops working at once."""
    session = _coordinator()
    with session.vault:
        principal = session.vault.principals.revoke(name, session.principal.name)
        session.guard.record(
            "principals.revoke",
            "ok",
            target=f"principal {principal.name}",
            detail={"principal_id": principal.id, "role": principal.role.value},
        )
    if json_out:
        emit_json({"revoked": principal.name, "id": principal.id})
    else:
        console.print(f"revoked {principal.name} ({principal.id})")


def _assignment(evaluator: str, ident: str, assign: bool, json_out: bool) -> None:
    session = open_session(settings())
    with session.vault:
        handle = session.guard.authorize(Operation.REVIEW_ASSIGN, ident)
        submission_id = handle.submission_id
        registry = session.vault.principals
        principal = (
            registry.assign(evaluator, handle, session.principal.name)
            if assign
            else registry.unassign(evaluator, handle)
        )
        session.guard.record(
            "review.assigned" if assign else "review.unassigned",
            "ok",
            submission_id=submission_id,
            target=f"principal {principal.name}",
            detail={"principal_id": principal.id},
        )
    if json_out:
        emit_json({"evaluator": principal.name, "assigned": sorted(principal.assigned_submissions)})
    else:
        verb = "assigned to" if assign else "unassigned from"
        console.print(f"{principal.name} {verb} the review of {submission_id}")


@app.command()
def assign(
    evaluator: str = typer.Argument(..., help="Name or id of the evaluator."),
    ident: str = typer.Argument(..., metavar="ID", help="Submission (or review) id."),
    json_out: bool = JsonOption,
) -> None:
    """Assign an evaluator to the review of a submission."""
    _assignment(evaluator, ident, True, json_out)


@app.command()
def unassign(
    evaluator: str = typer.Argument(..., help="Name or id of the evaluator."),
    ident: str = typer.Argument(..., metavar="ID", help="Submission (or review) id."),
    json_out: bool = JsonOption,
) -> None:
    """Take an evaluator off the review of a submission."""
    _assignment(evaluator, ident, False, json_out)
