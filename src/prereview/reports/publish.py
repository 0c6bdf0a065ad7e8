"""`produce_report`: from a review id to a report file, as the CLI and the demo use it.

Order matters: the rubric is checked before anything else (a typo should not cost a database
read), the rendered text is checked for disclosures before anything is written, and the file
is written atomically with owner-only permissions (a report is as sensitive as the results).
Every report is also kept as content of its submission (`reviews/<review>/reports/<file>`),
where the vault encrypts it with the submission's other artifacts; the file is the export.

Confidentiality: the principal needs `report.read` (`report.read_sanitized` for `--sanitized`);
the evidence is decrypted in memory by the vault for the report builder, which decides what of
it a report shows; the export is recorded in the audit trail with its SHA-256, and exports
under `<data dir>/reports/` are deleted when the submission is crypto-shredded.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prereview.config import Settings
from prereview.domain.markings import DocumentMarking
from prereview.files import write_private_atomic
from prereview.reports.builder import build_report
from prereview.reports.document import CapabilityReport
from prereview.reports.evidence import ReviewEvidence
from prereview.reports.leak_check import check_leaks, identity_terms, secret_terms
from prereview.reports.render import SUFFIX, Format, html_to_pdf, render_html, render_markdown
from prereview.reports.rubric import known_families, load_rubric
from prereview.reports.source import load_evidence
from prereview.vault.guard import AuthorizedSubmission
from prereview.vault.policy import Operation
from prereview.vault.service import VaultSession, open_session


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
        check_leaks(text, terms, variant)
        return text.encode("utf-8")
    html = render_html(report)
    check_leaks(html, terms, variant)
    return html.encode("utf-8") if fmt == "html" else html_to_pdf(html)


def default_name(review_id: str, fmt: Format, sanitized: bool) -> str:
    return f"{review_id}{'-sanitized' if sanitized else ''}{SUFFIX[fmt]}"


def produce_report(
    settings: Settings,
    ident: str | AuthorizedSubmission,
    *,
    fmt: Format = "html",
    sanitized: bool = False,
    out: Path | None = None,
    rubric_path: Path | None = None,
    markings: DocumentMarking | None = None,
    seed: int = 0,
    environ: Mapping[str, str] | None = None,
    session: VaultSession | None = None,
) -> WrittenReport:
    """Build, check and write the report of review (or submission) `ident`, as the principal of
    `session` (default: the one PREREVIEW_TOKEN or the config file's token names).

    `ident` is authorized first, through the vault's one resolver; any refusal (an unknown or
    non-canonical id too) raises before anything is read or written, and the evidence is loaded
    from the authorized handle only."""
    families = known_families()
    rubric = load_rubric(rubric_path, families)
    own_session = session is None
    session = session or open_session(settings)
    try:
        operation = Operation.REPORT_READ_SANITIZED if sanitized else Operation.REPORT_READ
        handle = session.guard.authorize(operation, ident)
        content = session.vault.content  # decrypted in memory for the builder, not the caller
        evidence = load_evidence(session.vault.db, content, handle, families)
        markings = markings or DocumentMarking(banner=settings.marking_banner)
        report = build_report(
            evidence, rubric=rubric, sanitized=sanitized, markings=markings, seed=seed
        )
        data = render_checked(report, evidence, fmt, environ)
        name = default_name(evidence.review_id, fmt, sanitized)
        target = out or settings.reports_dir / name
        if target.is_dir():
            target = target / name
        if evidence.submission_id is not None:
            key = f"reviews/{evidence.review_id}/reports/{name}"
            content.write(evidence.submission_id, key, data)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_private_atomic(target, data)
        session.guard.record(
            "report.exported",
            "ok",
            submission_id=evidence.submission_id,
            target=str(target.absolute()),
            detail={"sha256": hashlib.sha256(data).hexdigest(), "sanitized": sanitized},
        )
    finally:
        if own_session:
            session.vault.close()
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
