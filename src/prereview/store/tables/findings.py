"""Findings branch: imports, deduplicated findings and their sightings, disclosure events,
and the tracking state of exported advisories. Migrations: `versions/findings/` (label "findings").

A finding is the deduplicated vulnerability (one row per stable fingerprint) and holds only triage
metadata; what each source said about it (message, snippet, stack) is a sighting's `details`,
written through `prereview.findings.details` so that it can be sealed per submission.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from prereview.store.base import Base, UTCDateTime, utcnow

_STATUSES = "'new', 'triaged', 'vendor_notified', 'fix_available', 'published'"


class FindingImportRow(Base):
    """One imported file: where it came from and what it added."""

    __tablename__ = "finding_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(120))
    format: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str] = mapped_column(String(300))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    submission_id: Mapped[str | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="SET NULL"), index=True
    )
    tools: Mapped[str] = mapped_column(String(1000))
    results: Mapped[int] = mapped_column(Integer)
    new_findings: Mapped[int] = mapped_column(Integer)
    duplicates: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FindingRow(Base):
    """A deduplicated finding and its triage and disclosure state."""

    __tablename__ = "findings"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUSES})", name="status"),
        CheckConstraint("evidence IN ('poc', 'crash', 'static')", name="evidence"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    fingerprint_kind: Mapped[str] = mapped_column(String(16))
    tool: Mapped[str] = mapped_column(String(256))
    rule_id: Mapped[str] = mapped_column(String(256))
    title: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(8))
    location_uri: Mapped[str] = mapped_column(String(2048))
    location_line: Mapped[int | None] = mapped_column(Integer)
    location_function: Mapped[str] = mapped_column(String(256))
    crash_kind: Mapped[str | None] = mapped_column(String(256))
    evidence: Mapped[str] = mapped_column(String(8))
    cwe_id: Mapped[int | None] = mapped_column(Integer)
    cvss_v3_vector: Mapped[str | None] = mapped_column(String(200))
    cvss_v3_score: Mapped[float | None] = mapped_column(Float)
    cvss_v4_vector: Mapped[str | None] = mapped_column(String(300))
    cvss_v4_score: Mapped[float | None] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(8))
    severity_score: Mapped[float] = mapped_column(Float)
    severity_basis: Mapped[str] = mapped_column(String(24))
    product: Mapped[str | None] = mapped_column(String(2048))
    product_key: Mapped[str | None] = mapped_column(String(600), index=True)
    product_name: Mapped[str | None] = mapped_column(String(300))
    product_version: Mapped[str | None] = mapped_column(String(200))
    vendor: Mapped[str | None] = mapped_column(String(200))
    # comma-separated sector codes from the shipped list (letters and dashes only), filtered with
    # LIKE '%,code,%' on ',' || sectors || ','; a join table cost more at import than it saved
    sectors: Mapped[str] = mapped_column(String(400), default="")
    sector_criticality: Mapped[int] = mapped_column(Integer, default=0)
    priority_score: Mapped[float] = mapped_column(Float)
    priority: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16), index=True, default="new")
    disclosure_policy: Mapped[str | None] = mapped_column(String(32))
    vendor_contact: Mapped[str | None] = mapped_column(String(300))
    notified_on: Mapped[date | None] = mapped_column(Date)
    fixed_on: Mapped[date | None] = mapped_column(Date)
    deadline: Mapped[date | None] = mapped_column(Date, index=True)
    published_on: Mapped[date | None] = mapped_column(Date)
    remediation: Mapped[str | None] = mapped_column(String(2000))
    sighting_count: Mapped[int] = mapped_column(Integer, default=1)
    first_import_id: Mapped[int] = mapped_column(
        ForeignKey("finding_imports.id", ondelete="CASCADE"), index=True
    )
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FindingSightingRow(Base):
    """One report of a finding by one import; the first creates the finding, later ones are
    duplicates linked to it. `details` is sealed by the codec named in `details_codec`."""

    __tablename__ = "finding_sightings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    finding_id: Mapped[int] = mapped_column(
        ForeignKey("findings.id", ondelete="CASCADE"), index=True
    )
    import_id: Mapped[int] = mapped_column(
        ForeignKey("finding_imports.id", ondelete="CASCADE"), index=True
    )
    submission_id: Mapped[str | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="SET NULL"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    location: Mapped[str] = mapped_column(String(200))
    duplicate: Mapped[bool] = mapped_column(Boolean)
    details_codec: Mapped[str] = mapped_column(String(32))
    details: Mapped[bytes] = mapped_column(LargeBinary)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FindingEventRow(Base):
    """Triage and disclosure history of a finding: who changed what, when."""

    __tablename__ = "finding_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    finding_id: Mapped[int] = mapped_column(
        ForeignKey("findings.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(1000), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AdvisoryRow(Base):
    """An advisory for one vendor/product group: its tracking id, version and revision history."""

    __tablename__ = "advisories"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(600), unique=True)
    vendor: Mapped[str] = mapped_column(String(200))
    product_name: Mapped[str] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(Integer)
    content_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    initial_release: Mapped[datetime] = mapped_column(UTCDateTime)
    current_release: Mapped[datetime] = mapped_column(UTCDateTime)
    revisions: Mapped[str] = mapped_column(Text)  # JSON: [{number, date, summary}]
