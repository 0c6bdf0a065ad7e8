"""Tables of the `reports` branch: which reviews serve as reference runs for comparisons.

A reference run is an ordinary review in the store (the agency assesses its reference models
through the same workflow), designated here with the label reports show. Results are not copied:
reports read the designated review's own sample results, so a reference is always exactly what
was measured. Earlier models of the same developer need no row: reports find them by
organization.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from prereview.store.base import Base, UTCDateTime, utcnow

REFERENCE_KINDS = ["agency_reference"]


class ReportReferenceRow(Base):
    __tablename__ = "report_references"
    __table_args__ = (
        CheckConstraint(
            "kind IN (" + ", ".join(repr(k) for k in REFERENCE_KINDS) + ")", name="kind"
        ),
    )

    review_id: Mapped[str] = mapped_column(
        ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32), default="agency_reference")
    designated_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
