"""`produce_report`: from a review id to a report file, as the CLI and the demo use it.

Order matters: the rubric is checked before anything else (a typo should not cost a database
read), the rendered text is checked for disclosures before anything is written, and the file
is written atomically with owner-only permissions (a report is as sensitive as the results).
Every report is also kept as content of its submission (`reviews/<review>/reports/<file>`),
where the vault encrypts it with the submission's other artifacts; the file is the export.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prereview.config import Settings
from prereview.reports.builder import build_report
from prereview.reports.disclosure import check_disclosure, identity_terms, secret_terms
from prereview.reports.document import CapabilityReport, Markings
from prereview.reports.evidence import ReviewEvidence
from prereview.reports.render import SUFFIX, Format, html_to_pdf, render_html, render_markdown
from prereview.reports.rubric import known_families, load_rubric
from prereview.reports.source import load_evidence
from prereview.store import open_database
from prereview.store.content import open_content


@dataclass(frozen=True)
class WrittenReport:
    path: Path
    format: Format
    sanitized: bool
    review_id: str
    has_results: bool
    level: str | None
    size: int

    def as_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "format": self.format,
            "sanitized": self.sanitized,
            "review": self.review_id,
            "has_results": self.has_results,
            "advisory_level": self.level,
            "bytes": self.size,
        }


def render_checked(
    report: CapabilityReport,
    evidence: ReviewEvidence,
    fmt: Format,
    environ: Mapping[str, str] | None = None,
) -> bytes:
    """The report's bytes in `fmt`, after the disclosure check of its text.

    Credential values (read from the environment variable the submission names, if set) are
    searched for in every variant; identity terms in the sanitized one.
    """
    env = os.environ if environ is None else environ
    ref = evidence.model.credential_reference
    terms = secret_terms([env.get(ref)] if ref else [])
    if report.sanitized:
        terms += identity_terms(evidence)
    variant = "sanitized" if report.sanitized else "full"
    if fmt == "md":
        text = render_markdown(report)
        check_disclosure(text, terms, variant)
        return text.encode("utf-8")
    html = render_html(report)
    check_disclosure(html, terms, variant)
    return html.encode("utf-8") if fmt == "html" else html_to_pdf(html)


def default_name(review_id: str, fmt: Format, sanitized: bool) -> str:
    return f"{review_id}{'-sanitized' if sanitized else ''}{SUFFIX[fmt]}"


def write_private(path: Path, data: bytes) -> None:
    """Write atomically, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".report-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def produce_report(
    settings: Settings,
    ident: str,
    *,
    fmt: Format = "html",
    sanitized: bool = False,
    out: Path | None = None,
    rubric_path: Path | None = None,
    markings: Markings | None = None,
    seed: int = 0,
    environ: Mapping[str, str] | None = None,
) -> WrittenReport:
    """Build, check and write the report of review (or submission) `ident`."""
    families = known_families()
    rubric = load_rubric(rubric_path, families)
    db = open_database(settings)
    content = open_content(settings)
    try:
        evidence = load_evidence(db, content, ident, families)
    finally:
        db.dispose()
    report = build_report(
        evidence, rubric=rubric, sanitized=sanitized, markings=markings, seed=seed
    )
    data = render_checked(report, evidence, fmt, environ)
    name = default_name(evidence.review_id, fmt, sanitized)
    target = out or settings.reports_dir / name
    if target.is_dir():
        target = target / name
    if evidence.submission_id is not None:
        content.write(evidence.submission_id, f"reviews/{evidence.review_id}/reports/{name}", data)
    write_private(target, data)
    level = report.capability.outcome.reached.id if report.capability else None
    return WrittenReport(
        path=target.absolute(),
        format=fmt,
        sanitized=sanitized,
        review_id=evidence.review_id,
        has_results=report.has_results,
        level=level,
        size=len(data),
    )
