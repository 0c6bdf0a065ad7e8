"""Service branch: the queue of assessments the web service hands to the worker.

Revision ID: service_0001_assessment_jobs
Revises: 0001_root
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "service_0001_assessment_jobs"
down_revision: str | Sequence[str] | None = "0001_root"
branch_labels: str | Sequence[str] | None = ("service",)
depends_on: str | Sequence[str] | None = "review_0001_initial"


def upgrade() -> None:
    op.create_table(
        "assessment_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("submission_id", sa.String(length=32), nullable=False),
        sa.Column("principal_id", sa.String(length=32), nullable=False),
        sa.Column("suite", sa.String(length=100), nullable=True),
        sa.Column("sample_limit", sa.Integer(), nullable=True),
        sa.Column("resume", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("worker_pid", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'cancel_requested', 'completed', 'failed', "
            "'cancelled', 'interrupted', 'stopped_withdrawn')",
            name=op.f("ck_assessment_jobs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_assessment_jobs_submission_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_jobs")),
    )
    with op.batch_alter_table("assessment_jobs") as batch:
        batch.create_index(batch.f("ix_assessment_jobs_status"), ["status"], unique=False)
        batch.create_index(
            batch.f("ix_assessment_jobs_submission_id"), ["submission_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("assessment_jobs")
