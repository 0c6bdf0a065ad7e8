"""Tables of the `review` branch: organizations, submissions and their state history, reviews,
assessment runs and per-sample results.

Rows hold metadata and numbers only. Content of a submission (Inspect logs, transcripts, result
payloads, reports) goes through `prereview.store.content`, and rows refer to it by key, so the
vault can encrypt it without touching these tables.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from prereview.domain.lifecycle import SubmissionState
from prereview.domain.submission import Confidentiality
from prereview.store.base import Base, UTCDateTime, utcnow


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


SUBMISSION_STATES = [s.value for s in SubmissionState]
CONFIDENTIALITY = [c.value for c in Confidentiality]
RUN_STATUSES = ["running", "completed", "interrupted", "stopped_withdrawn", "failed"]


class OrganizationRow(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubmissionRow(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        CheckConstraint(_in("state", SUBMISSION_STATES), name="state"),
        CheckConstraint(_in("confidentiality", CONFIDENTIALITY), name="confidentiality"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(300))
    base_url: Mapped[str | None] = mapped_column(String(500))
    api_key_env: Mapped[str | None] = mapped_column(String(128))
    model_args: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    requests_per_minute: Mapped[float | None] = mapped_column(Float)
    max_connections: Mapped[int] = mapped_column(Integer)
    seconds_per_request: Mapped[float] = mapped_column(Float)
    release_date: Mapped[date] = mapped_column(Date)
    submitted_on: Mapped[date] = mapped_column(Date)
    window_policy: Mapped[str] = mapped_column(String(64))
    terms_version: Mapped[str] = mapped_column(String(32))
    confidentiality: Mapped[str] = mapped_column(String(32))
    # the submitter's consent to this review's results appearing in its later reviews' reports
    compare_in_later_reviews: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=true()
    )
    state: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    organization: Mapped[OrganizationRow] = relationship(lazy="joined")
    review: Mapped[ReviewRow | None] = relationship(back_populates="submission", uselist=False)


class SubmissionEventRow(Base):
    """The state history of a submission: every transition, who made it and when."""

    __tablename__ = "submission_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReviewRow(Base):
    """One review per submission: the stored plan and where its runs write."""

    __tablename__ = "reviews"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    submission_id: Mapped[str] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), unique=True
    )
    suite: Mapped[str | None] = mapped_column(String(64))
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    report_key: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    submission: Mapped[SubmissionRow] = relationship(back_populates="review")


class AssessmentRunRow(Base):
    """One invocation of `prereview assess` (the first or a `--resume`)."""

    __tablename__ = "assessment_runs"
    __table_args__ = (
        CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        UniqueConstraint("review_id", "number"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    review_id: Mapped[str] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    resumed: Mapped[bool] = mapped_column(default=False)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detail: Mapped[str | None] = mapped_column(Text)


class SampleResultRow(Base):
    """One scored sample of one task of a review; unique per (review, task, sample, epoch)."""

    __tablename__ = "sample_results"
    __table_args__ = (UniqueConstraint("review_id", "task_key", "sample_id", "epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    review_id: Mapped[str] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("assessment_runs.id", ondelete="SET NULL")
    )
    task_key: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(200))
    tier: Mapped[int | None] = mapped_column(Integer)
    sample_id: Mapped[str] = mapped_column(String(200))
    epoch: Mapped[int] = mapped_column(Integer, default=1)
    score: Mapped[float | None] = mapped_column(Float)
    score_value: Mapped[str | None] = mapped_column(String(200))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_time_s: Mapped[float | None] = mapped_column(Float)
    working_time_s: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    log_ref: Mapped[str] = mapped_column(String(500))
    payload_key: Mapped[str | None] = mapped_column(String(300))
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
