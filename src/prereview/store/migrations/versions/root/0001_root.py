"""Root of every domain branch; creates nothing.

Revision ID: 0001_root
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0001_root"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
