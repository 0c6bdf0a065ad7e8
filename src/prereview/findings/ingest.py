"""Importing a findings file: read, fingerprint, score and store it in one transaction.

Everything that can refuse the file (the format, CVSS vectors, CWE ids, product names) runs
before the database is touched; the writes are bulk statements (executemany; `INSERT … RETURNING`
in batches on SQLite and PostgreSQL alike) in one transaction, so an import stores all of its
findings or none. A finding whose fingerprint is already known, or repeats earlier in the same
file, is a duplicate: it becomes a sighting linked to the original and raises its sighting count.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from prereview.errors import PrereviewError
from prereview.findings._bulk import bulk_insert
from prereview.findings.details import DetailsCodec, DetailsCodecs, FindingDetails
from prereview.findings.fingerprint import fingerprint
from prereview.findings.intake import IncomingFinding, IntakeError, read_findings
from prereview.findings.limits import DEFAULT_LIMITS, IntakeLimits, clean_line
from prereview.findings.products import ProductError
from prereview.findings.scoring import CvssError
from prereview.findings.triage import Triage, split_vectors
from prereview.store import Database, utcnow
from prereview.store.tables.findings import (
    FindingImportRow,
    FindingRow,
    FindingSightingRow,
)
from prereview.store.tables.review import SubmissionRow

if TYPE_CHECKING:
    from prereview.vault.guard import AuthorizedSubmission

FINDINGS = cast(Table, FindingRow.__table__)
SIGHTINGS = cast(Table, FindingSightingRow.__table__)
IMPORTS = cast(Table, FindingImportRow.__table__)
_CHUNK = 500  # fingerprints per IN (…) lookup, well under every backend's parameter limit
_BULK = 10_000  # rows per bulk insert: the driver's copies of a batch stay small beside the file
_ANALYZE_AFTER = 1_000  # new findings after which PostgreSQL's statistics are refreshed


class UnknownSubmissionError(PrereviewError):
    pass


@dataclass(frozen=True)
class ImportSummary:
    import_id: int
    format: str
    file: str
    sha256: str
    tools: tuple[str, ...]
    results: int
    new_findings: int
    duplicates: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "format": self.format,
            "file": self.file,
            "sha256": self.sha256,
            "tools": list(self.tools),
            "results": self.results,
            "new_findings": self.new_findings,
            "duplicates": self.duplicates,
        }


@dataclass(frozen=True)
class _Prepared:
    fingerprint: str
    row: dict[str, Any]
    incoming: IncomingFinding


def prepare(path: Path, findings: list[IncomingFinding], triage: Triage) -> list[_Prepared]:
    """Fingerprint and score every finding; the first invalid value refuses the whole file."""
    out = []
    now = utcnow()
    for f in findings:
        try:
            v3, v4 = split_vectors(f.cvss_vectors)
            a = triage.assess(
                cwe_id=f.cwe_ids[0] if f.cwe_ids else None,
                cvss_v3=v3,
                cvss_v4=v4,
                security_severity=f.security_severity,
                level=f.level,
                product=f.product,
                evidence=f.evidence,
            )
        except (CvssError, ProductError) as exc:
            raise IntakeError(path, f.where, str(exc)) from None
        kind, fp = fingerprint(f)
        product = a.product
        row = {
            "fingerprint": fp,
            "fingerprint_kind": kind,
            "tool": f.tool,
            "rule_id": f.rule_id,
            "title": f.title,
            "level": f.level,
            "location_uri": f.location.uri,
            "location_line": f.location.start_line,
            "location_function": f.location.function,
            "crash_kind": f.crash.kind if f.crash else None,
            "evidence": f.evidence,
            "cwe_id": a.weakness.id if a.weakness else None,
            "cvss_v3_vector": a.cvss_v3.vector if a.cvss_v3 else None,
            "cvss_v3_score": a.cvss_v3.base_score if a.cvss_v3 else None,
            "cvss_v4_vector": a.cvss_v4.vector if a.cvss_v4 else None,
            "cvss_v4_score": a.cvss_v4.base_score if a.cvss_v4 else None,
            "severity": a.severity.severity,
            "severity_score": a.severity.score,
            "severity_basis": a.severity.basis,
            "product": product.identifier if product else None,
            "product_key": product.match_key if product else None,
            "product_name": clean_line(product.name, 300) if product else None,
            "product_version": clean_line(product.version, 200) if product else None,
            "vendor": clean_line(a.vendor, 200) if a.vendor else None,
            "sectors": ",".join(a.sectors),
            "sector_criticality": a.criticality,
            "priority_score": a.priority_score,
            "priority": a.priority,
            "status": "new",
            "first_seen": now,
            "last_seen": now,
            "updated_at": now,
        }
        out.append(_Prepared(fp, row, f))
    return out


def import_findings(
    db: Database,
    path: Path,
    *,
    codecs: DetailsCodecs,
    submission: AuthorizedSubmission | None = None,
    source: str | None = None,
    format: str | None = None,
    triage: Triage | None = None,
    limits: IntakeLimits = DEFAULT_LIMITS,
) -> ImportSummary:
    """Import one file: all of its findings or, on any error, none. Findings of a submission
    need its `findings.write` handle (see `AccessGuard.authorize`); without one they are the
    agency's own. Details are sealed with `codecs.writer` (the caller's vault session's)."""
    submission_id = None
    if submission is not None:
        from prereview.vault.policy import Operation

        submission.check(Operation.FINDINGS_WRITE)
        submission_id = submission.submission_id
    batch = read_findings(path, format=format, limits=limits)
    prepared = prepare(path, batch.findings, triage or Triage())
    source_name = (
        clean_line(source, 120) if source else (batch.tools[0] if batch.tools else batch.format)
    )
    try:
        return _store(
            db,
            path,
            batch.format,
            batch.sha256,
            batch.tools,
            prepared,
            submission_id,
            source_name,
            codecs.writer,
        )
    except IntegrityError:
        # a concurrent import created one of our fingerprints first: the rollback left nothing
        # behind, and a second attempt sees those findings as duplicates
        return _store(
            db,
            path,
            batch.format,
            batch.sha256,
            batch.tools,
            prepared,
            submission_id,
            source_name,
            codecs.writer,
        )


def _store(
    db: Database,
    path: Path,
    fmt: str,
    sha: str,
    tools: tuple[str, ...],
    prepared: list[_Prepared],
    submission_id: str | None,
    source: str,
    codec: DetailsCodec,
) -> ImportSummary:
    now = utcnow()
    occurrences = Counter(p.fingerprint for p in prepared)
    firsts: dict[str, _Prepared] = {}
    for p in prepared:
        firsts.setdefault(p.fingerprint, p)
    if submission_id is not None:
        with db.session() as session:
            if session.get(SubmissionRow, submission_id) is None:
                raise UnknownSubmissionError(
                    f"unknown submission {submission_id!r}; nothing was imported"
                )
    # Seal the details before the write transaction: a sealing codec may need a data key created
    # (its own short transaction), and crypto has no business holding the database's write lock.
    sealed = [
        codec.seal(
            submission_id, FindingDetails(p.incoming.message, p.incoming.snippet, p.incoming.stack)
        )
        for p in prepared
    ]
    with db.session() as session:
        conn = session.connection()
        if conn.dialect.name == "sqlite":
            # a bigger page cache for this connection: the fingerprint index takes random keys
            conn.exec_driver_sql("PRAGMA cache_size=-131072")
        if submission_id is not None and session.get(SubmissionRow, submission_id) is None:
            raise UnknownSubmissionError(
                f"unknown submission {submission_id!r}; nothing was imported"
            )
        import_id = conn.execute(
            insert(IMPORTS)
            .values(
                source=source,
                format=fmt,
                file_name=clean_line(path.name, 300),
                file_sha256=sha,
                submission_id=submission_id,
                tools=clean_line(", ".join(tools), 1000),
                results=len(prepared),
                new_findings=0,
                duplicates=0,
                imported_at=now,
            )
            .returning(IMPORTS.c.id)
        ).scalar_one()

        ids: dict[str, int] = {}
        unique = list(firsts)
        for i in range(0, len(unique), _CHUNK):
            chunk = unique[i : i + _CHUNK]
            found = conn.execute(
                select(FINDINGS.c.fingerprint, FINDINGS.c.id).where(
                    FINDINGS.c.fingerprint.in_(chunk)
                )
            )
            ids.update({fp: fid for fp, fid in found})
        existing = set(ids)

        new = [p for fp, p in firsts.items() if fp not in existing]
        for i in range(0, len(new), _BULK):
            rows = [
                {
                    **p.row,
                    "first_import_id": import_id,
                    "sighting_count": occurrences[p.fingerprint],
                }
                for p in new[i : i + _BULK]
            ]
            bulk_insert(conn, FINDINGS, rows)
        if new:
            created = conn.execute(
                select(FINDINGS.c.fingerprint, FINDINGS.c.id).where(
                    FINDINGS.c.first_import_id == import_id
                )
            )
            ids.update({fp: fid for fp, fid in created})

        seen: set[str] = set()
        sightings: list[dict[str, Any]] = []
        for p, blob in zip(prepared, sealed, strict=True):
            f = p.incoming
            duplicate = p.fingerprint in existing or p.fingerprint in seen
            seen.add(p.fingerprint)
            sightings.append(
                {
                    "finding_id": ids[p.fingerprint],
                    "import_id": import_id,
                    "submission_id": submission_id,
                    "position": f.index,
                    "location": f.where[:200],
                    "duplicate": duplicate,
                    "details_codec": codec.name,
                    "details": blob,
                    "seen_at": now,
                }
            )
            if len(sightings) >= _BULK:
                bulk_insert(conn, SIGHTINGS, sightings)
                sightings = []
        bulk_insert(conn, SIGHTINGS, sightings)

        # known findings seen again: one UPDATE per (count, chunk of ids), not one per finding
        bumps: dict[int, list[int]] = {}
        for fp in unique:
            if fp in existing:
                bumps.setdefault(occurrences[fp], []).append(ids[fp])
        for n, fids in bumps.items():
            for i in range(0, len(fids), _CHUNK):
                conn.execute(
                    update(FINDINGS)
                    .where(FINDINGS.c.id.in_(fids[i : i + _CHUNK]))
                    .values(sighting_count=FINDINGS.c.sighting_count + n, last_seen=now)
                )
        if conn.dialect.name == "postgresql" and len(new) >= _ANALYZE_AFTER:
            # fresh statistics: with the ones of a near-empty table the planner answers the next
            # import's fingerprint lookups by sequential scans, hundreds of times slower
            conn.exec_driver_sql("ANALYZE findings")
        duplicates = len(prepared) - len(new)
        conn.execute(
            update(IMPORTS)
            .where(IMPORTS.c.id == import_id)
            .values(new_findings=len(new), duplicates=duplicates)
        )
    return ImportSummary(import_id, fmt, str(path), sha, tools, len(prepared), len(new), duplicates)
