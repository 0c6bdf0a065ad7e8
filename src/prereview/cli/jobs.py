"""`prereview jobs`: the assessment jobs the service's worker runs: list them, cancel one.

Listing shows the jobs of the submissions the principal may read; cancelling needs
`review.assess` on the submission (its assigned evaluator, a coordinator). A queued job then
never starts; a running one is stopped by its worker and can be resumed (`assess --resume`).
With PREREVIEW_URL set both talk to the server.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Column, Table

from prereview.cli.common import JsonOption, api, console, emit_json, new_app, part, remote, shown
from prereview.cli.common import settings as load

app = new_app("List and cancel the assessment jobs the service's worker runs.")


def _here(action: str, submission: str | None) -> Any:
    from prereview.service.jobs import cancel_job, visible_jobs
    from prereview.vault.service import open_session

    session = open_session(load())
    with session.vault:
        if action == "cancel":
            assert submission is not None
            return cancel_job(session, submission).as_dict()
        return [j.as_dict() for j in visible_jobs(session, submission)]


@app.command("list")
def list_jobs(
    submission: str | None = typer.Argument(None, help="Only this submission's jobs."),
    json_out: bool = JsonOption,
) -> None:
    """Assessment jobs, oldest first: status, suite, attempts and what happened last."""
    if remote():
        path = (
            f"/api/v1/submissions/{part(submission)}/assessments" if submission else "/api/v1/jobs"
        )
        rows: list[dict[str, Any]] = api("GET", path)
    else:
        rows = _here("list", submission)
    if json_out:
        emit_json(rows)
        return
    if not rows:
        console.print("no assessment jobs")
        return
    table = Table("submission", "status", "suite", "limit", "attempts", "created", "detail")
    table.columns.insert(0, Column("job", no_wrap=True))
    for r in rows:
        table.add_row(
            shown(r["id"]),
            shown(r["submission_id"]),
            shown(r["status"]),
            shown(r["suite"] or "-"),
            shown(r["limit"] or "-"),
            str(r["attempts"]),
            str(r["created_at"])[:16].replace("T", " "),
            shown(r["detail"] or ""),
        )
    console.print(table)


@app.command()
def cancel(
    submission: str = typer.Argument(..., help="The submission whose assessment to stop."),
    json_out: bool = JsonOption,
) -> None:
    """Cancel the submission's queued or running assessment job."""
    if remote():
        job = api("POST", f"/api/v1/submissions/{part(submission)}/assessments/cancel")
    else:
        job = _here("cancel", submission)
    if json_out:
        emit_json(job)
        return
    what = "cancelled" if job["status"] == "cancelled" else "asked to stop (its worker stops it)"
    console.print(f"{shown(job['id'])} ({shown(job['submission_id'])}): {what}")
