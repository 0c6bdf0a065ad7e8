"""`prereview report` and `prereview references`: thin commands over `prereview.reports`."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer
from rich.table import Table

from prereview.cli.common import JsonOption, console, emit_json, err_console, new_app, settings
from prereview.reports.document import DEFAULT_BANNER, Markings
from prereview.reports.render import FORMATS, Format, RenderError

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
    DEFAULT_BANNER, "--banner", help="Marking banner on every page of the report."
)
SeedOption = typer.Option(0, "--seed", help="Seed of the bootstrap intervals (reproducible).")


def _format(value: str) -> Format:
    for fmt in FORMATS:
        if value.lower() == fmt:
            return fmt
    raise RenderError(f"unknown report format {value!r} (known: {', '.join(FORMATS)})")


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def report(
    review: str = typer.Argument(..., help="Review id (or its submission id)."),
    fmt: str = FormatOption,
    sanitized: bool = SanitizedOption,
    out: Path | None = OutOption,
    rubric: Path | None = RubricOption,
    banner: str = BannerOption,
    seed: int = SeedOption,
    json_out: bool = JsonOption,
) -> None:
    """Write the advisory capability report of a review: findings, never a verdict."""
    from prereview.reports.publish import produce_report

    try:
        markings = Markings(banner=banner)
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


references_app = new_app(
    "Reference runs: reviews of the agency's reference models that reports compare against."
)


@references_app.command("add")
def references_add(
    review: str = typer.Argument(..., help="Review id (or its submission id)."),
    label: str = typer.Option(..., "--label", help="How reports name this reference."),
    json_out: bool = JsonOption,
) -> None:
    """Designate a review as an agency reference run (relabel it if it is one already)."""
    from prereview.reports.references import designate_reference
    from prereview.store import open_database

    db = open_database(settings())
    try:
        record = designate_reference(db, review, label, _actor())
    finally:
        db.dispose()
    if json_out:
        emit_json(record.as_dict())
    else:
        scored = f"{record.scored_samples} scored samples"
        console.print(f"{record.review_id}: reference {record.label!r} ({scored})")


@references_app.command("list")
def references_list(json_out: bool = JsonOption) -> None:
    """The reviews designated as reference runs."""
    from prereview.reports.references import list_references
    from prereview.store import open_database

    db = open_database(settings())
    try:
        records = list_references(db)
    finally:
        db.dispose()
    if json_out:
        emit_json([r.as_dict() for r in records])
        return
    table = Table(title="reference runs")
    for col in ("review", "label", "model", "scored samples", "designated by"):
        table.add_column(col)
    for r in records:
        table.add_row(r.review_id, r.label, r.model, str(r.scored_samples), r.designated_by)
    console.print(table)


@references_app.command("remove")
def references_remove(
    review: str = typer.Argument(..., help="Review id (or its submission id)."),
    json_out: bool = JsonOption,
) -> None:
    """Stop using a review as a reference run (its results stay)."""
    from prereview.reports.references import remove_reference
    from prereview.store import open_database

    db = open_database(settings())
    try:
        review_id = remove_reference(db, review)
    finally:
        db.dispose()
    if json_out:
        emit_json({"removed": review_id})
    else:
        console.print(f"{review_id}: no longer a reference")


def register_report_commands(app: typer.Typer) -> None:
    app.command("report")(report)
    app.add_typer(references_app, name="references")
