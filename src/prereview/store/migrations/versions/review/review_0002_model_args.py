"""Submissions keep non-secret Inspect model args (e.g. n_ctx for local models).

Revision ID: review_0002_model_args
Revises: review_0001_initial
Create Date: 2026-11-30 14:44:57.022421
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "review_0002_model_args"
down_revision: str | Sequence[str] | None = "review_0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_args", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_column("model_args")
