"""Findings in the store: listing, triage by an analyst, disclosure steps, the overdue list.

Each operation is one transaction; each triage or status change leaves a `finding_events` row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from prereview.errors import PrereviewError
from prereview.findings.details import DetailsCodecs, FindingDetails
from prereview.findings.disclosure import (
    DEFAULT_POLICY,
    STATUSES,
    check_transition,
    is_overdue,
    policy,
)
from prereview.findings.limits import clean_line, clean_text
from prereview.findings.records import Finding
from prereview.findings.scoring import SEVERITIES
from prereview.findings.sectors import sector as lookup_sector
from prereview.findings.triage import Triage, split_vectors
from prereview.store import Database, utcnow
from prereview.store.tables.findings import (
    FindingEventRow,
    FindingRow,
    FindingSightingRow,
)


class FindingNotFoundError(PrereviewError):
    pass


def to_finding(row: FindingRow) -> Finding:
    return Finding(
        id=row.id,
        fingerprint=row.fingerprint,
        fingerprint_kind=row.fingerprint_kind,
        tool=row.tool,
        rule_id=row.rule_id,
        title=row.title,
        level=row.level,
        location_uri=row.location_uri,
        location_line=row.location_line,
        location_function=row.location_function,
        crash_kind=row.crash_kind,
        evidence=row.evidence,
        cwe_id=row.cwe_id,
        cvss_v3_vector=row.cvss_v3_vector,
        cvss_v3_score=row.cvss_v3_score,
        cvss_v4_vector=row.cvss_v4_vector,
        cvss_v4_score=row.cvss_v4_score,
        severity=row.severity,
        severity_score=row.severity_score,
        severity_basis=row.severity_basis,
        product=row.product,
        product_key=row.product_key,
        product_name=row.product_name,
        product_version=row.product_version,
        vendor=row.vendor,
        sectors=tuple(s for s in row.sectors.split(",") if s),
        priority_score=row.priority_score,
        priority=row.priority,
        status=row.status,
        disclosure_policy=row.disclosure_policy,
        vendor_contact=row.vendor_contact,
        notified_on=row.notified_on,
        fixed_on=row.fixed_on,
        deadline=row.deadline,
        published_on=row.published_on,
        remediation=row.remediation,
        sighting_count=row.sighting_count,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
    )


def _row(session: Session, finding_id: int) -> FindingRow:
    row = session.get(FindingRow, finding_id)
    if row is None:
        raise FindingNotFoundError(f"unknown finding F-{finding_id}")
    return row


def _event(
    session: Session, row: FindingRow, action: str, before: str | None, note: str = ""
) -> None:
    session.add(
        FindingEventRow(
            finding_id=row.id,
            action=action,
            from_status=before,
            to_status=row.status,
            note=clean_line(note, 1000),
            at=utcnow(),
        )
    )


def get_finding(db: Database, finding_id: int) -> Finding:
    with db.session() as session:
        return to_finding(_row(session, finding_id))


def list_findings(
    db: Database,
    *,
    sector: str | None = None,
    min_severity: str | None = None,
    status: str | None = None,
    vendor: str | None = None,
    limit: int | None = None,
) -> list[Finding]:
    """Findings by priority (highest first), optionally of one sector, severity floor, status."""
    stmt = select(FindingRow)
    if sector is not None:
        lookup_sector(sector)
        codes = literal(",") + FindingRow.sectors + literal(",")
        stmt = stmt.where(codes.like(f"%,{sector},%"))  # a known code: letters and dashes
    if min_severity is not None:
        if min_severity not in SEVERITIES:
            raise PrereviewError(
                f"unknown severity {min_severity!r}; one of: {', '.join(SEVERITIES)}"
            )
        floor = SEVERITIES.index(min_severity)
        stmt = stmt.where(FindingRow.severity.in_(SEVERITIES[floor:]))
    if status is not None:
        if status not in STATUSES:
            raise PrereviewError(f"unknown status {status!r}; one of: {', '.join(STATUSES)}")
        stmt = stmt.where(FindingRow.status == status)
    if vendor is not None:
        stmt = stmt.where(FindingRow.vendor == vendor)
    stmt = stmt.order_by(FindingRow.priority_score.desc(), FindingRow.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    with db.session() as session:
        return [to_finding(r) for r in session.scalars(stmt)]


def _apply(row: FindingRow, triage: Triage) -> None:
    """Recompute severity, sectors and priority from the row's CWE, vectors, product, evidence."""
    vectors = [v for v in (row.cvss_v3_vector, row.cvss_v4_vector) if v]
    v3, v4 = split_vectors(vectors)
    a = triage.assess(
        cwe_id=row.cwe_id,
        cvss_v3=v3,
        cvss_v4=v4,
        security_severity=row.severity_score if row.severity_basis == "security_severity" else None,
        level=row.level,
        product=row.product or "",
        evidence=row.evidence,
    )
    row.severity = a.severity.severity
    row.severity_score = a.severity.score
    row.severity_basis = a.severity.basis
    if a.product is not None:
        row.product = a.product.identifier
        row.product_key = a.product.match_key
        row.product_name = clean_line(a.product.name, 300)
        row.product_version = clean_line(a.product.version, 200)
        row.vendor = clean_line(a.vendor, 200) if a.vendor else None
    row.sectors = ",".join(a.sectors)
    row.sector_criticality = a.criticality
    row.priority_score = a.priority_score
    row.priority = a.priority


def triage_finding(
    db: Database,
    finding_id: int,
    *,
    cvss: Sequence[str] = (),
    cwe: str | None = None,
    product: str | None = None,
    evidence: str | None = None,
    triage: Triage | None = None,
) -> Finding:
    """Set what an analyst established; invalid vectors, unknown CWEs, bad products are refused
    with the reason and change nothing. A `new` finding becomes `triaged`."""
    triage = triage or Triage()
    v3, v4 = split_vectors(cvss)  # refuses before anything is read or written
    weakness = triage.cwe.require(cwe) if cwe is not None else None
    if product is not None:
        triage.assess(
            cwe_id=None,
            cvss_v3=None,
            cvss_v4=None,
            security_severity=None,
            level="none",
            product=product,
            evidence="static",
        )
    if evidence is not None and evidence not in ("poc", "crash", "static"):
        raise PrereviewError(f"unknown evidence {evidence!r}; one of: poc, crash, static")
    with db.session() as session:
        row = _row(session, finding_id)
        before = row.status
        changes = []
        if v3 is not None:
            row.cvss_v3_vector, row.cvss_v3_score = v3.vector, v3.base_score
            changes.append(v3.vector)
        if v4 is not None:
            row.cvss_v4_vector, row.cvss_v4_score = v4.vector, v4.base_score
            changes.append(v4.vector)
        if weakness is not None:
            row.cwe_id = weakness.id
            changes.append(weakness.ref)
        if product is not None:
            row.product = product
            changes.append(product)
        if evidence is not None:
            row.evidence = evidence
            changes.append(f"evidence {evidence}")
        _apply(row, triage)
        if row.status == "new":
            row.status = "triaged"
        row.updated_at = utcnow()
        _event(session, row, "triage", before, "; ".join(changes))
        session.flush()
        return to_finding(row)


def notify_vendor(
    db: Database,
    finding_id: int,
    *,
    vendor: str | None,
    notified_on: date,
    contact: str | None = None,
    policy_name: str = DEFAULT_POLICY,
) -> Finding:
    """Record that the vendor was told; the deadline follows from the policy profile."""
    chosen = policy(policy_name)
    with db.session() as session:
        row = _row(session, finding_id)
        before = row.status
        check_transition(row.status, "vendor_notified")
        if vendor:
            row.vendor = clean_line(vendor, 200)
        if not row.vendor:
            raise PrereviewError(f"F-{finding_id} has no vendor: name one with --vendor")
        row.vendor_contact = clean_line(contact, 300) if contact else row.vendor_contact
        row.disclosure_policy = chosen.name
        row.notified_on = notified_on
        row.deadline = chosen.deadline(notified_on)
        row.status = "vendor_notified"
        row.updated_at = utcnow()
        _event(session, row, "notify", before, f"{row.vendor} on {notified_on}, {chosen.name}")
        session.flush()
        return to_finding(row)


def advance_status(
    db: Database, finding_id: int, status: str, *, on: date, remediation: str | None = None
) -> Finding:
    """Move to `fix_available` (recomputing the publication deadline) or `published`."""
    with db.session() as session:
        row = _row(session, finding_id)
        before = row.status
        target = check_transition(row.status, status)
        if target == "vendor_notified":
            raise PrereviewError("use `prereview findings notify` to record the vendor and date")
        if target == "fix_available":
            row.fixed_on = on
            if row.disclosure_policy and row.notified_on:
                row.deadline = policy(row.disclosure_policy).deadline(row.notified_on, on)
        if target == "published":
            row.published_on = on
        if remediation:
            row.remediation = clean_text(remediation, 2000)
        row.status = target
        row.updated_at = utcnow()
        _event(session, row, "status", before, f"on {on}")
        session.flush()
        return to_finding(row)


def overdue_findings(db: Database, today: date) -> list[Finding]:
    """Notified or fixed findings past their publication deadline, the most overdue first."""
    stmt = (
        select(FindingRow)
        .where(FindingRow.status.in_(("vendor_notified", "fix_available")))
        .where(FindingRow.deadline < today)
        .order_by(FindingRow.deadline, FindingRow.id)
    )
    with db.session() as session:
        rows = [to_finding(r) for r in session.scalars(stmt)]
    return [f for f in rows if is_overdue(f.status, f.deadline, today)]


@dataclass(frozen=True)
class Sighting:
    import_id: int
    submission_id: str | None
    where: str
    duplicate: bool
    details: FindingDetails

    def as_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "submission_id": self.submission_id,
            "where": self.where,
            "duplicate": self.duplicate,
            "message": self.details.message,
            "snippet": self.details.snippet,
            "stack": list(self.details.stack),
        }


def sightings(
    db: Database, finding_id: int, codecs: DetailsCodecs, limit: int = 20
) -> list[Sighting]:
    """The first `limit` sightings of a finding with their details opened by their codec, of
    the caller's `codecs` (its vault session's)."""
    stmt = (
        select(FindingSightingRow)
        .where(FindingSightingRow.finding_id == finding_id)
        .order_by(FindingSightingRow.id)
        .limit(limit)
    )
    with db.session() as session:
        _row(session, finding_id)
        return [
            Sighting(
                s.import_id,
                s.submission_id,
                s.location,
                s.duplicate,
                codecs.reader(s.details_codec).open(s.submission_id, s.details),
            )
            for s in session.scalars(stmt)
        ]
