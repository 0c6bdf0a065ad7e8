"""Advisory versions and revision history, kept in the store so that every export is reproducible.

An export hashes what each group's advisory says (its findings' fields, the publisher, the TLP
label; not the format) and compares it with the last exported state: unchanged content keeps its
version; changed content gets the next version and a revision-history entry saying what changed
(findings added, removed, or moved along the disclosure path). Exporting twice in a row writes
the same files.

Only findings the sharing rule lets leave go into an advisory (`prereview.vault.sharing`, purpose
"advisory"): one reported by the agency's own tools or by a review whose submitter elected
`share-sanitized`. A finding seen only in confidential (or withdrawn) reviews stays out, counted
in `ExportResult.withheld`, so that an advisory never tells vendors what a confidential model
found; once an agency tool or a sharing review reports it too, it goes in.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from prereview.advisories.csaf import CsafExporter
from prereview.advisories.interface import (
    TLP_LABELS,
    AdvisoryExporter,
    AdvisoryGroup,
    ExportedDocument,
    Publisher,
    Revision,
    Tracking,
    group_findings,
)
from prereview.errors import PrereviewError
from prereview.findings.repository import list_findings
from prereview.store import Database, utcnow
from prereview.store.tables.findings import AdvisoryRow
from prereview.vault.sharing import Purpose, findings_that_may_leave


def _state(group: AdvisoryGroup) -> dict[str, str]:
    return {f.ref: f"{f.status}/{f.severity}/{f.priority}" for f in group.findings}


def _summary(before: dict[str, str], after: dict[str, str]) -> str:
    parts = []
    added = sorted(set(after) - set(before), key=lambda r: int(r[2:]))
    removed = sorted(set(before) - set(after), key=lambda r: int(r[2:]))
    changed = sorted(
        (r for r in set(after) & set(before) if after[r] != before[r]), key=lambda r: int(r[2:])
    )
    if added:
        parts.append("added " + ", ".join(added))
    if removed:
        parts.append("removed " + ", ".join(removed))
    for ref in changed:
        parts.append(f"{ref} now {after[ref].split('/')[0]}")
    return ("Updated: " + "; ".join(parts))[:500] if parts else "Updated content"


def _content_hash(group: AdvisoryGroup, publisher: Publisher, tlp: str) -> str:
    """What an advisory says, independent of its format: every field of its findings."""
    body = [asdict(f) for f in group.findings]
    return hashlib.sha256(
        json.dumps([body, asdict(publisher), tlp], sort_keys=True, default=str).encode()
    ).hexdigest()


@dataclass(frozen=True)
class ExportResult:
    documents: list[ExportedDocument]
    written: list[Path]
    new_versions: int
    withheld: int = 0  # exportable findings the sharing rule kept back


def export_advisories(
    db: Database,
    out_dir: Path,
    *,
    exporter: AdvisoryExporter | None = None,
    publisher: Publisher | None = None,
    tlp: str = "AMBER",
    now: datetime | None = None,
) -> ExportResult:
    """Write one advisory per vendor/product group of triaged findings into `out_dir`."""
    tlp = tlp.upper()
    if tlp not in TLP_LABELS:
        raise PrereviewError(f"unknown TLP label {tlp!r}; one of: {', '.join(TLP_LABELS)}")
    exporter = exporter or CsafExporter()
    publisher = publisher or Publisher()
    moment = (now or utcnow()).replace(microsecond=0)
    every = list_findings(db)
    leaving = findings_that_may_leave(db, Purpose.ADVISORY)
    groups = group_findings(f for f in every if f.id in leaving)
    withheld = sum(len(g.findings) for g in group_findings(every)) - sum(
        len(g.findings) for g in groups
    )
    documents: list[ExportedDocument] = []
    bumped = 0
    with db.session() as session:
        for group in groups:
            digest = _content_hash(group, publisher, tlp)
            state = _state(group)
            row = session.get(AdvisoryRow, group.tracking_id)
            if row is None:
                stored: dict[str, Any] = {"revisions": [], "state": {}}
                row = AdvisoryRow(
                    id=group.tracking_id,
                    group_key=group.key,
                    vendor=group.vendor[:200],
                    product_name=group.product_name[:300],
                    version=0,
                    content_sha256="",
                    status="interim",
                    initial_release=moment,
                    current_release=moment,
                    revisions="",
                )
                session.add(row)
            else:
                stored = json.loads(row.revisions)
            if row.content_sha256 != digest:
                summary = (
                    "Initial version" if row.version == 0 else _summary(stored["state"], state)
                )
                row.version += 1
                row.current_release = moment
                stored["revisions"].append(
                    {"number": row.version, "date": moment.isoformat(), "summary": summary}
                )
                stored["state"] = state
                row.content_sha256 = digest
                row.revisions = json.dumps(stored)
                bumped += 1
            status: Literal["final", "interim"] = "final" if group.all_published else "interim"
            row.status = status
            tracking = Tracking(
                id=row.id,
                version=row.version,
                initial_release=row.initial_release,
                current_release=row.current_release,
                revisions=tuple(
                    Revision(r["number"], datetime.fromisoformat(r["date"]), r["summary"])
                    for r in stored["revisions"]
                ),
                final=group.all_published,
            )
            documents.append(
                ExportedDocument(
                    tracking_id=row.id,
                    file_name=exporter.file_name(row.id),
                    document=exporter.build(group, tracking, publisher, tlp),
                    version=row.version,
                    findings=len(group.findings),
                )
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for doc in documents:
        path = out_dir / doc.file_name
        # sorted keys: CSAF recommends it (6.2.13), and it makes exports diffable
        text = json.dumps(doc.document, indent=2, ensure_ascii=False, sort_keys=True)
        path.write_text(text + "\n")
        written.append(path)
    return ExportResult(documents, written, bumped, withheld)
