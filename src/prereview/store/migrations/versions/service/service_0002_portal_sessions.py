"""Service branch: portal sessions (hashed) and failed token attempts, kept across restarts.

Revision ID: service_0002_portal_sessions
Revises: service_0001_assessment_jobs
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "service_0002_portal_sessions"
down_revision: str | Sequence[str] | None = "service_0001_assessment_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portal_sessions",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("principal_id", sa.String(length=32), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("seen", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_portal_sessions")),
    )
    with op.batch_alter_table("portal_sessions") as batch:
        batch.create_index(
            batch.f("ix_portal_sessions_principal_id"), ["principal_id"], unique=False
        )
    op.create_table(
        "failed_token_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("address", sa.String(length=100), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failed_token_attempts")),
    )
    with op.batch_alter_table("failed_token_attempts") as batch:
        batch.create_index(batch.f("ix_failed_token_attempts_address"), ["address"], unique=False)


def downgrade() -> None:
    op.drop_table("failed_token_attempts")
    op.drop_table("portal_sessions")
