"""Key records say when a key-encryption key was retired by rotation.

Revision ID: vault_0002_kek_rotation
Revises: vault_0001_initial
Create Date: 2026-11-30 19:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "vault_0002_kek_rotation"
down_revision: str | Sequence[str] | None = "vault_0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vault_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vault_keys", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
