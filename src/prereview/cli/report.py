"""`prereview report` and `prereview references`: thin commands over `prereview.reports`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

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
from prereview.domain.markings import DEFAULT_BANNER, DocumentMarking

if TYPE_CHECKING:
    from prereview.reports.render import Format
    from prereview.vault.service import VaultSession

FormatOption = typer.Option("html", "--format", "-f", help="html, pdf or md.")
SanitizedOption = typer.Option(
    False,
    "--sanitized",
    help="The variant for sector partners: no model identity, and only what the submitter's "
    "confidentiality election lets leave.",
)
OutOption = typer.Option(
    None, "--out", "-o", help="File (or directory) to write; default <data dir>/reports/."
)
RubricOption = typer.Option(
    None, "--rubric", help="Capability rubric YAML; default: the one prereview ships."
)
BannerOption = typer.Option(
    None,
    "--banner",
    help=f"Marking banner on every page of the report (default: the marking_banner setting, "
    f"{DEFAULT_BANNER}).",
)
SeedOption = typer.Option(0, "--seed", help="Seed of the bootstrap intervals (reproducible).")


def _format(value: str) -> Format:
    from prereview.reports.render import FORMATS, RenderError  # imports scipy: only when used

    for fmt in FORMATS:
        if value.lower() == fmt:
            return fmt
    raise RenderError(f"unknown report format {value!r} (known: {', '.join(FORMATS)})")


def report(
    review: str = typer.Argument(..., help="Review id (or its submission id)."),
    fmt: str = FormatOption,
    sanitized: bool = SanitizedOption,
    out: Path | None = OutOption,
    rubric: Path | None = RubricOption,
    banner: str | None = BannerOption,
    seed: int = SeedOption,
    json_out: bool = JsonOption,
) -> None:
    """Write the advisory capability report of a review: findings, never a verdict."""
    from prereview.service.client import server_url

    if server_url() is not None:
        _remote_report(review, fmt, sanitized, out, rubric, banner, seed, json_out)
        return
    from prereview.reports.publish import produce_report
    from prereview.reports.render import RenderError

    try:
        markings = DocumentMarking(banner=banner) if banner is not None else None
    except ValueError as exc:
        raise RenderError(str(exc)) from None
    with err_console.status("building the report"):
        written = produce_report(
            settings().require_initialized(),
            review,
            fmt=_format(fmt),
            sanitized=sanitized,
            out=out,
            rubric_path=rubric,
            markings=markings,
            seed=seed,
        )
    if json_out:
        emit_json(written.as_dict())
        return
    console.print(str(written.path), soft_wrap=True, highlight=False)
    if not written.has_results:
        err_console.print("note: the report has no measured results (see its summary)")


def _remote_report(
    review: str,
    fmt: str,
    sanitized: bool,
    out: Path | None,
    rubric: Path | None,
    banner: str | None,
    seed: int,
    json_out: bool,
) -> None:
    """`report` against the agency service: the server builds it; it is written to --out (or
    the current directory)."""
    from prereview.errors import PrereviewError
    from prereview.service.client import remote_report, server_url

    if rubric is not None or banner is not None or seed != 0:
        raise PrereviewError("--rubric, --banner and --seed are the agency's choice remotely")
    url = server_url()
    assert url is not None
    path, has_results, size = remote_report(settings(), url, review, fmt, sanitized, out)
    if json_out:
        emit_json(
            {"path": str(path), "format": fmt, "sanitized": sanitized, "has_results": has_results,
             "bytes": size}
        )  # fmt: skip
        return
    console.print(str(path), soft_wrap=True, highlight=False)
    if not has_results:
        err_console.print("note: the report has no measured results (see its summary)")


@contextlib.contextmanager
def _references_session() -> Iterator[VaultSession]:
    """Reference runs are agency administration: coordinators only (each command checks and
    audits its own operation)."""
    from prereview.vault.service import open_session

    session = open_session(settings())
    with session.vault:
        yield session


references_app = new_app(
    "Reference runs: reviews of the agency's reference models that reports compare against."
)


@references_app.command("add")
def references_add(
    review: str = typer.Argument(..., help="Review id (or its submission id)."),
    label: str = typer.Option(
        ...,
        "--label",
        help="How its own organization's reports name it (others: 'agency reference R<n>').",
    ),
    json_out: bool = JsonOption,
) -> None:
    """Designate a review as an agency reference run (relabel it if it is one already).

    Only a review whose submitter elected share-sanitized and consented to comparison.
    """
    from prereview.reports.references import designate_reference
    from prereview.vault.policy import Operation

    if remote():
        path = f"/api/v1/submissions/{part(review)}/reference"
        record = api("PUT", path, json={"label": label})
    else:
        with _references_session() as session:
            handle = session.guard.authorize(Operation.REFERENCES_MANAGE, review)
            designated = designate_reference(
                session.vault.db, handle, label, session.principal.name
            )
        record = plain(designated.as_dict())
    if json_out:
        emit_json(record)
    else:
        scored = f"{record['scored_samples']} scored samples"
        console.print(
            f"{shown(record['review'])}: reference {shown(repr(record['label']))} ({scored})"
        )


@references_app.command("list")
def references_list(json_out: bool = JsonOption) -> None:
    """The reviews designated as reference runs."""
    from prereview.reports.references import list_references
    from prereview.vault.policy import Operation, Resource

    if remote():
        records = api("GET", "/api/v1/references")
    else:
        with _references_session() as session:
            session.guard.require(Operation.REFERENCES_MANAGE, Resource.system())
            records = plain([r.as_dict() for r in list_references(session.vault.db)])
    if json_out:
        emit_json(records)
        return
    table = Table(title="reference runs")
    for col in ("review", "label", "model", "scored samples", "designated by"):
        table.add_column(col)
    for r in records:
        table.add_row(
            shown(r["review"]),
            shown(r["label"]),
            shown(r["model"]),
            str(r["scored_samples"]),
            shown(r["designated_by"]),
        )
    console.print(table)


@references_app.command("remove")
def references_remove(
    review: str = typer.Argument(..., help="Review id (or its submission id)."),
    json_out: bool = JsonOption,
) -> None:
    """Stop using a review as a reference run (its results stay)."""
    from prereview.reports.references import remove_reference
    from prereview.vault.policy import Operation

    if remote():
        removed = api("DELETE", f"/api/v1/submissions/{part(review)}/reference")
    else:
        with _references_session() as session:
            handle = session.guard.authorize(Operation.REFERENCES_MANAGE, review)
            removed = {"removed": remove_reference(session.vault.db, handle)}
    if json_out:
        emit_json(removed)
    else:
        console.print(f"{shown(removed['removed'])}: no longer a reference")


def register_report_commands(app: typer.Typer) -> None:
    app.command("report")(report)
    app.add_typer(references_app, name="references")
