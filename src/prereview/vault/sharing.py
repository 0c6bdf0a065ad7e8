"""The one sharing rule: whether anything of a submission may leave it, and for what.

Everything that puts something of a submission before anyone but its review team and its
submitter asks `may_leave(facts, purpose)`, and nothing else decides it:

- `SANITIZED_REPORT`: the sanitized report a sector partner reads (the policy's scope for
  `report.read_sanitized`);
- `SECTOR_BRIEF`: a sector readiness brief's capability records and named findings (others are
  counted, never named);
- `ADVISORY`: a CSAF advisory to vendors; a finding goes in only when one of its sources may
  leave;
- `REFERENCE_RUN`: results as a yardstick in other reviews' reports.

The answer comes from the submitter's election alone: what belongs to no submission (agency-wide
findings from the agency's own tools) may leave; a withdrawn submission never; a submission only
when its submitter elected `share-sanitized`; a reference run also needs the submitter's consent
to comparison (`compare_in_later_reviews`), and with that consent alone it may appear beside the
same organization's later models (it does not leave the organization). Unknown facts are refused
(fail closed). Identity never leaves with a result: a reference run shows its model only in
reports of its own organization (`SharingDecision.identity`), elsewhere a neutral label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from prereview.domain.submission import Confidentiality
from prereview.store.database import Database
from prereview.store.tables.findings import FindingSightingRow
from prereview.store.tables.review import SubmissionRow


class Purpose(StrEnum):
    """Where something of a submission would go."""

    SANITIZED_REPORT = "sanitized report"
    SECTOR_BRIEF = "sector brief"
    REFERENCE_RUN = "reference run"
    ADVISORY = "advisory"


@dataclass(frozen=True)
class SourceFacts:
    """What the rule knows of one source: a submission and its submitter's election, or
    (`submission_id` None) agency-wide data that belongs to no submission."""

    submission_id: str | None
    organization_id: str | None = None
    confidentiality: Confidentiality | None = None
    withdrawn: bool = False
    compare_in_later_reviews: bool = False

    @classmethod
    def agency(cls) -> SourceFacts:
        return cls(None)

    @classmethod
    def of(cls, row: SubmissionRow) -> SourceFacts:
        try:
            election: Confidentiality | None = Confidentiality(row.confidentiality)
        except ValueError:
            election = None  # an election this version does not know: treated as confidential
        return cls(
            submission_id=row.id,
            organization_id=row.organization_id,
            confidentiality=election,
            withdrawn=row.state == "withdrawn",
            compare_in_later_reviews=bool(row.compare_in_later_reviews),
        )


@dataclass(frozen=True)
class SharingDecision:
    """Whether it may leave, why (for the audit trail and the coordinator), and whether the
    source's identity (model, organization) may go with it to the audience asked about."""

    allowed: bool
    reason: str
    identity: bool = False


def may_leave(
    facts: SourceFacts, purpose: Purpose, *, audience_organization: str | None = None
) -> SharingDecision:
    """The one rule. `audience_organization`: the organization whose document it would appear
    in, where there is one (a report); identity goes only to the source's own organization."""
    if facts.submission_id is None:
        return SharingDecision(True, "agency-wide: belongs to no submission")
    if facts.withdrawn:
        return SharingDecision(False, "the submitter withdrew the submission")
    own = facts.organization_id is not None and facts.organization_id == audience_organization
    if purpose is Purpose.REFERENCE_RUN:
        if not facts.compare_in_later_reviews:
            return SharingDecision(False, "the submitter did not consent to comparison")
        if own:  # beside the same developer's later models: it does not leave the organization
            return SharingDecision(True, "compared within its own organization", identity=True)
    if facts.confidentiality is not Confidentiality.SHARE_SANITIZED:
        return SharingDecision(False, "the submitter elected confidential")
    return SharingDecision(True, "the submitter elected share-sanitized", identity=own)


def may_leave_any(sources: Iterable[SourceFacts], purpose: Purpose) -> SharingDecision:
    """For what several sources reported (a deduplicated finding): it may leave when one of its
    sources may (the others add nothing that leaves); with no known source, never."""
    reasons = []
    for facts in sources:
        decision = may_leave(facts, purpose)
        if decision.allowed:
            return SharingDecision(True, decision.reason)
        reasons.append(decision.reason)
    if not reasons:
        return SharingDecision(False, "no known source")
    return SharingDecision(False, "; ".join(sorted(set(reasons))))


def submission_facts(session: Session, submission_id: str) -> SourceFacts | None:
    row = session.get(SubmissionRow, submission_id)
    return SourceFacts.of(row) if row is not None else None


def finding_sources(db: Database) -> Mapping[int, tuple[SourceFacts, ...]]:
    """The sources of every finding: one per sighting (agency-wide where it has no submission)."""
    with db.session() as s:
        facts = {row.id: SourceFacts.of(row) for row in s.scalars(select(SubmissionRow))}
        sightings = s.execute(
            select(FindingSightingRow.finding_id, FindingSightingRow.submission_id).distinct()
        ).all()
    out: dict[int, list[SourceFacts]] = {}
    for finding_id, submission_id in sightings:
        if submission_id is None:
            source = SourceFacts.agency()
        else:  # a sighting of a submission that is gone: unknown, so confidential
            source = facts.get(submission_id, SourceFacts(submission_id))
        out.setdefault(int(finding_id), []).append(source)
    return {k: tuple(v) for k, v in out.items()}


def findings_that_may_leave(db: Database, purpose: Purpose) -> frozenset[int]:
    """The ids of the findings that `purpose` may name."""
    return frozenset(
        finding_id
        for finding_id, sources in finding_sources(db).items()
        if may_leave_any(sources, purpose).allowed
    )
