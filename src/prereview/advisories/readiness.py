"""Sector readiness briefs from the store: the anonymous capability records of shareable reviews,
the findings, a last disclosure check, and the files.

What may appear is the sharing rule's decision (`prereview.vault.sharing`, purpose "sector
brief"): only reviews whose submitter elected sanitized sharing (and did not withdraw) contribute,
through the sanitized variant of their capability report; findings are named only when one of
their sources may leave (agency-wide, or a share-sanitized submission), and otherwise counted.
Before anything is written, each rendered
brief is searched for every submission's model name, model string, endpoint host and credential
reference (the report's own disclosure check); a hit refuses the brief. Organisation names are
not searched for: the brief has no field that could carry one, and a developer may also be the
vendor of an affected product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from prereview.advisories.brief import (
    BriefFormat,
    CapabilityObservation,
    ReviewedCapability,
    SectorObservation,
    build_brief,
    render_brief,
    sector_code_of,
)
from prereview.config import Settings
from prereview.domain.markings import DocumentMarking
from prereview.files import write_private_atomic
from prereview.findings.repository import list_findings
from prereview.findings.sectors import sector as lookup_sector
from prereview.findings.sectors import sectors
from prereview.reports.leak_check import ForbiddenTerm, check_leaks
from prereview.store import Database
from prereview.store.content import SubmissionContent
from prereview.store.tables.review import ReviewRow, SampleResultRow, SubmissionRow
from prereview.vault.guard import AccessGuard
from prereview.vault.policy import Operation, Resource
from prereview.vault.sharing import Purpose, SourceFacts, findings_that_may_leave, may_leave

if TYPE_CHECKING:
    from prereview.reports.evidence import Attempt, BaselineOutcome
    from prereview.vault.service import VaultSession


def sector_observations(
    attempts: Sequence[Attempt], baselines: Sequence[BaselineOutcome]
) -> tuple[SectorObservation, ...]:
    """A review's results on samples whose metadata names a sector (any family may set
    `sector`), per (sector, family, task, tier), with the baselines run on the same instances.
    Attempts that did not complete are not counted, as in the report's rates."""
    cells: dict[tuple[str, str, str, int | None], list[Attempt]] = {}
    for a in attempts:
        code = sector_code_of(a.sector)
        if code is not None:
            cells.setdefault((code, a.family, a.task, a.tier), []).append(a)
    out = []
    for (code, family, task, tier), group in sorted(
        cells.items(), key=lambda kv: (kv[0][:3], kv[0][3] if kv[0][3] is not None else 99)
    ):
        done = [a for a in group if a.success is not None]
        instances = {a.instance_id for a in group}
        solvers: dict[str, list[int]] = {}
        for b in baselines:
            if b.family == family and b.instance_id in instances:
                tally = solvers.setdefault(b.solver, [0, 0])
                tally[0] += int(b.found)
                tally[1] += 1
        out.append(
            SectorObservation(
                sector=code,
                family=family,
                task=task,
                tier=tier,
                successes=sum(1 for a in done if a.success),
                attempts=len(done),
                baselines=tuple((name, t[0], t[1]) for name, t in sorted(solvers.items())),
            )
        )
    return tuple(out)


def capabilities_from_store(
    settings: Settings, db: Database, content: SubmissionContent, guard: AccessGuard
) -> list[ReviewedCapability]:
    """One anonymous record per shareable review with results, from its sanitized report
    (`content`: the vault's decrypting store; only the sanitized report's numbers leave; each
    review is authorized for `report.read_sanitized` through `guard`, audited)."""
    from prereview.reports.builder import build_report
    from prereview.reports.rubric import known_families, load_rubric
    from prereview.reports.source import load_evidence

    with db.session() as s:
        rows = s.execute(
            select(ReviewRow.id, SubmissionRow)
            .join(SubmissionRow, ReviewRow.submission_id == SubmissionRow.id)
            .order_by(ReviewRow.id)
        ).all()
        ids = [
            review_id
            for review_id, sub in rows
            if may_leave(SourceFacts.of(sub), Purpose.SECTOR_BRIEF).allowed
        ]
    if not ids:
        return []
    families = known_families()
    rubric = load_rubric(None, families)
    out = []
    for review_id in ids:
        handle = guard.authorize(Operation.REPORT_READ_SANITIZED, review_id)
        evidence = load_evidence(db, content, handle, families)
        if not evidence.attempts:
            continue
        report = build_report(evidence, rubric=rubric, sanitized=True)
        observations = tuple(
            CapabilityObservation(
                family=t.family,
                task=t.task,
                tier=tier.tier,
                tier_name=tier.tier_name,
                successes=tier.rate.successes,
                attempts=tier.rate.n,
            )
            for t in report.tasks
            for tier in t.tiers
        )
        level = report.capability.outcome.reached if report.capability else None
        out.append(
            ReviewedCapability(
                level=level.name if level else "not assessed",
                level_summary=level.summary if level else "",
                observations=observations,
                sector_results=sector_observations(evidence.attempts, evidence.baselines),
            )
        )
    return out


def withheld_review_count(db: Database) -> int:
    """Reviews with results whose sharing rule keeps them out of sector briefs: counted, never
    read or named."""
    with db.session() as s:
        rows = s.execute(
            select(ReviewRow.id, SubmissionRow)
            .join(SubmissionRow, ReviewRow.submission_id == SubmissionRow.id)
            .where(
                select(SampleResultRow.id).where(SampleResultRow.review_id == ReviewRow.id).exists()
            )
        ).all()
        return sum(
            1 for _, sub in rows if not may_leave(SourceFacts.of(sub), Purpose.SECTOR_BRIEF).allowed
        )


def identity_terms(db: Database) -> list[ForbiddenTerm]:
    """What identifies any submitted model: never allowed in a brief."""
    terms = []
    with db.session() as s:
        for sub in s.scalars(select(SubmissionRow)):
            terms.append(ForbiddenTerm("a submitted model's name", sub.model_name))
            terms.append(ForbiddenTerm("a submitted Inspect model string", sub.model))
            served = sub.model.partition("/")[2]
            if served:
                terms.append(ForbiddenTerm("a submitted served model name", served))
            if sub.api_key_env:
                terms.append(ForbiddenTerm("a credential reference", sub.api_key_env))
    return [t for t in terms if t.term.strip()]


@dataclass(frozen=True)
class WrittenBrief:
    sector: str
    path: Path
    findings: int
    reviews: int


def produce_briefs(
    settings: Settings,
    *,
    session: VaultSession,
    sector_codes: list[str] | None = None,
    fmt: BriefFormat = "md",
    out_dir: Path | None = None,
    banner: str | None = None,
    tlp: str = "AMBER",
    today: date | None = None,
) -> list[WrittenBrief]:
    """Write the brief of each sector (all 16 by default) into `out_dir`. Refused (nothing read
    or written) unless the session's principal may export advisories."""
    codes = sector_codes or list(sectors())
    for code in codes:
        lookup_sector(code)
    session.guard.require(
        Operation.ADVISORY_EXPORT, Resource.agency(), target="sector readiness briefs"
    )
    markings = DocumentMarking(banner=banner or settings.marking_banner)
    target = out_dir or settings.reports_dir / "briefs"
    vault = session.vault
    db = vault.db
    findings = list_findings(db)
    nameable = findings_that_may_leave(db, Purpose.SECTOR_BRIEF)
    reviews = capabilities_from_store(settings, db, vault.content, session.guard)
    terms = identity_terms(db)
    withheld = withheld_review_count(db)
    written = []
    for code in codes:
        brief = build_brief(
            code,
            findings,
            reviews,
            nameable=nameable,
            today=today,
            banner=markings.banner,
            statement=markings.statement,
            tlp=tlp,
            withheld_reviews=withheld,
        )
        text = render_brief(brief, fmt)
        check_leaks(text, terms, f"{code} sector brief")
        path = target / f"sector-brief-{code}.{fmt}"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private_atomic(path, text.encode("utf-8"))
        written.append(WrittenBrief(code, path, len(brief.findings), brief.reviews))
    return written
