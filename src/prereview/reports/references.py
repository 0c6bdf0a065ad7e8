"""Reference runs: reviews the agency designates as yardsticks for every report's comparisons.

The agency assesses its reference models through the ordinary workflow (a submission under the
agency's own organization), then designates the review here with the label reports show. The
review's results stay where they are; designation only names them.

A reference appears in every organization's reports, so the sharing rule decides
(`prereview.vault.sharing`, purpose "reference run", asked for an audience outside the source's
organization): only a review whose submitter elected `share-sanitized` and consented to
comparison (`--compare-in-later-reviews`, the default) may be designated. Reports of other
organizations show it under a neutral label, never its model or organization.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from prereview.errors import PrereviewError
from prereview.reports.source import UnknownReviewError
from prereview.store import Database, utcnow
from prereview.store.tables.reports import ReportReferenceRow
from prereview.store.tables.review import ReviewRow, SampleResultRow, SubmissionRow
from prereview.vault.guard import AuthorizedSubmission
from prereview.vault.policy import Operation
from prereview.vault.sharing import Purpose, SourceFacts, may_leave

MAX_LABEL = 200


class ReferenceError(PrereviewError):
    """A reference designation cannot be made or removed as asked."""


@dataclass(frozen=True)
class ReferenceRecord:
    review_id: str
    label: str
    model: str
    scored_samples: int
    designated_by: str
    created_at: datetime

    def as_dict(self) -> dict[str, object]:
        return {
            "review": self.review_id,
            "label": self.label,
            "model": self.model,
            "scored_samples": self.scored_samples,
            "designated_by": self.designated_by,
            "created_at": self.created_at.isoformat(),
        }


def _review(s: Session, handle: AuthorizedSubmission) -> ReviewRow:
    """The review of the submission a `references.manage` handle names."""
    handle.check(Operation.REFERENCES_MANAGE)
    submission = s.get(SubmissionRow, handle.submission_id)
    review = submission.review if submission is not None else None
    if review is None:
        raise UnknownReviewError(handle.reference)
    return review


def _record(s: Session, row: ReportReferenceRow) -> ReferenceRecord:
    review = s.get(ReviewRow, row.review_id)
    assert review is not None
    sub = review.submission
    scored = s.execute(
        select(func.count())
        .select_from(SampleResultRow)
        .where(SampleResultRow.review_id == row.review_id, SampleResultRow.score.is_not(None))
    ).scalar_one()
    model = f"{sub.model_name} {sub.model_version}" if sub.model_version else sub.model_name
    return ReferenceRecord(
        review_id=row.review_id,
        label=row.label,
        model=model,
        scored_samples=int(scored),
        designated_by=row.designated_by,
        created_at=row.created_at,
    )


def designate_reference(
    db: Database, handle: AuthorizedSubmission, label: str, actor: str
) -> ReferenceRecord:
    """Mark the review of the submission `handle` names as an agency reference run, shown as
    `label`."""
    label = " ".join(label.split())
    if not label or len(label) > MAX_LABEL:
        raise ReferenceError(f"a reference label must be 1 to {MAX_LABEL} characters")
    try:
        with db.session() as s:
            review = _review(s, handle)
            decision = may_leave(SourceFacts.of(review.submission), Purpose.REFERENCE_RUN)
            if not decision.allowed:
                raise ReferenceError(
                    f"review {review.id} cannot serve as a reference: {decision.reason}"
                )
            existing = s.get(ReportReferenceRow, review.id)
            if existing is not None:
                existing.label = label
                existing.designated_by = actor
                row = existing
            else:
                row = ReportReferenceRow(
                    review_id=review.id, label=label, designated_by=actor, created_at=utcnow()
                )
                s.add(row)
            s.flush()
            return _record(s, row)
    except IntegrityError:
        raise ReferenceError(f"the label {label!r} already names another reference") from None


def list_references(db: Database) -> list[ReferenceRecord]:
    with db.session() as s:
        rows = s.execute(
            select(ReportReferenceRow).order_by(ReportReferenceRow.created_at)
        ).scalars()
        return [_record(s, r) for r in rows]


def remove_reference(db: Database, handle: AuthorizedSubmission) -> str:
    """Undesignate; the review and its results stay. Returns the review id."""
    with db.session() as s:
        review = _review(s, handle)
        row = s.get(ReportReferenceRow, review.id)
        if row is None:
            raise ReferenceError(f"review {review.id} is not a reference")
        s.delete(row)
        return review.id
