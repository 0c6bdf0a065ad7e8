"""Submissions record whether their results may appear in the developer's later reviews.

Existing submissions keep the behaviour they were reviewed under (comparison allowed).

Revision ID: review_0003_compare_later
Revises: review_0002_model_args
Create Date: 2026-11-30 18:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "review_0003_compare_later"
down_revision: str | Sequence[str] | None = "review_0002_model_args"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "compare_in_later_reviews",
                sa.Boolean(),
                server_default=sa.true(),
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_column("compare_in_later_reviews")
