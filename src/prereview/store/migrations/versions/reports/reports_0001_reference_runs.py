"""Reports branch: reviews designated as reference runs for comparisons in reports.

Revision ID: reports_0001_reference_runs
Revises: 0001_root
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "reports_0001_reference_runs"
down_revision: str | Sequence[str] | None = "0001_root"
branch_labels: str | Sequence[str] | None = ("reports",)
depends_on: str | Sequence[str] | None = "review_0001_initial"


def upgrade() -> None:
    op.create_table(
        "report_references",
        sa.Column("review_id", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("designated_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('agency_reference')", name=op.f("ck_report_references_kind")),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["reviews.id"],
            name=op.f("fk_report_references_review_id_reviews"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("review_id", name=op.f("pk_report_references")),
        sa.UniqueConstraint("label", name=op.f("uq_report_references_label")),
    )


def downgrade() -> None:
    op.drop_table("report_references")
