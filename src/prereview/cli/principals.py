"""`prereview principals`: who may use prereview (coordinators only).

A token is printed once, when its principal is added, and never again: hand it over, then it
lives only with its holder (stored here as a SHA-256 digest).
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from prereview.cli.common import (
    JsonOption,
    api,
    console,
    emit_json,
    err_console,
    new_app,
    part,
    plain,
    remote,
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
    added = (
        api("POST", "/api/v1/principals", json={"name": name, "role": role.value, "org": org})
        if remote()
        else _add_here(name, role, org)
    )
    if json_out:
        emit_json(added)
        return
    principal = added["principal"]
    org_note = f" of {principal['organization']}" if principal["organization"] else ""
    err_console.print(
        f"added {role.value} {shown(principal['name'])}{shown(org_note)} "
        f"({shown(principal['id'])}). Its API token follows; "
        "it is shown only now: hand it to its holder (PREREVIEW_TOKEN)."
    )
    console.print(added["token"], highlight=False, soft_wrap=True)


def _add_here(name: str, role: Role, org: str | None) -> dict[str, Any]:
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
    return {
        "principal": {
            "id": principal.id,
            "name": principal.name,
            "role": principal.role.value,
            "organization": principal.organization,
        },
        "token": token,
    }


@app.command("list")
def list_(json_out: bool = JsonOption) -> None:
    """List principals (never their tokens)."""
    if remote():
        infos = api("GET", "/api/v1/principals")
    else:
        session = _coordinator()
        with session.vault:
            infos = plain([i.as_dict() for i in session.vault.principals.list()])
    if json_out:
        emit_json(infos)
        return
    table = Table()
    for col in ("name", "id", "role", "organization", "assigned", "created", "revoked"):
        table.add_column(col, overflow="fold")
    for i in infos:
        table.add_row(
            shown(i["name"]),
            shown(i["id"]),
            shown(i["role"]),
            shown(i["organization"] or "-"),
            shown(", ".join(i["assigned_submissions"]) or "-"),
            _minute(i["created_at"]),
            _minute(i["revoked_at"]) if i["revoked_at"] else "-",
        )
    console.print(table)


def _minute(iso: str) -> str:
    return iso[:16].replace("T", " ")


@app.command()
def revoke(
    name: str = typer.Argument(..., help="Name or id of the principal."),
    json_out: bool = JsonOption,
) -> None:
    """Revoke a principal: its token stops working at once."""
    if remote():
        revoked = api("POST", f"/api/v1/principals/{part(name)}/revoke")
    else:
        session = _coordinator()
        with session.vault:
            principal = session.vault.principals.revoke(name, session.principal.name)
            session.guard.record(
                "principals.revoke",
                "ok",
                target=f"principal {principal.name}",
                detail={"principal_id": principal.id, "role": principal.role.value},
            )
        revoked = {"revoked": principal.name, "id": principal.id}
    if json_out:
        emit_json(revoked)
    else:
        console.print(f"revoked {shown(revoked['revoked'])} ({shown(revoked['id'])})")


def _assignment(evaluator: str, ident: str, assign: bool, json_out: bool) -> None:
    if remote():
        path = f"/api/v1/submissions/{part(ident)}/assignments"
        result = (
            api("POST", path, json={"evaluator": evaluator})
            if assign
            else api("DELETE", f"{path}/{part(evaluator)}")
        )
    else:
        result = _assign_here(evaluator, ident, assign)
    if json_out:
        emit_json(result)
    else:
        verb = "assigned to" if assign else "unassigned from"
        console.print(
            f"{shown(result['evaluator'])} {verb} the review of {shown(result['submission_id'])}"
        )


def _assign_here(evaluator: str, ident: str, assign: bool) -> dict[str, Any]:
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
    return {
        "evaluator": principal.name,
        "submission_id": submission_id,
        "assigned": sorted(principal.assigned_submissions),
    }


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
