"""Tables of the `service` branch: the assessment queue the web service fills and the worker
drains; the portal's sessions and the failed token attempts it throttles, so that both survive
a restart of the server.

A job names a submission, the principal who queued it (the worker acts as that principal,
re-checked when it starts), and what to run. Its status survives restarts of both processes:
a job left `running` by a worker that died is resumed (`assess --resume` semantics).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from prereview.store.base import Base, UTCDateTime, utcnow

JOB_STATUSES = [
    "queued",
    "running",
    "cancel_requested",
    "completed",
    "failed",
    "cancelled",
    "interrupted",
    "stopped_withdrawn",
]
ACTIVE_JOB_STATUSES = ("queued", "running", "cancel_requested")


class AssessmentJobRow(Base):
    __tablename__ = "assessment_jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(repr(s) for s in JOB_STATUSES) + ")", name="status"
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    submission_id: Mapped[str] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    principal_id: Mapped[str] = mapped_column(String(32))
    suite: Mapped[str | None] = mapped_column(String(100), nullable=True)
    sample_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    resume: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(32), default="queued", index=True)
    worker_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PortalSessionRow(Base):
    """A portal session: the SHA-256 of its cookie value (never the value), its principal and
    its clock (seconds since the epoch)."""

    __tablename__ = "portal_sessions"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal_id: Mapped[str] = mapped_column(String(32), index=True)
    created: Mapped[float] = mapped_column(Float)
    seen: Mapped[float] = mapped_column(Float)


class FailedTokenAttemptRow(Base):
    """One failed token attempt from a client address (seconds since the epoch)."""

    __tablename__ = "failed_token_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(100), index=True)
    at: Mapped[float] = mapped_column(Float)
