"""The data dir: where the database, Inspect logs, artifacts and keys of one agency install live."""

from __future__ import annotations

import os
from typing import Any

from prereview.config import Settings

_SUBDIRS = ("logs", "artifacts", "keys", "reports", "locks")


def initialize_home(settings: Settings) -> dict[str, Any]:
    """Create the data dir with private permissions and migrate the database; idempotent."""
    from prereview.store import migrate, redact_url

    created = not settings.home.exists()
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    for sub in _SUBDIRS:
        (settings.home / sub).mkdir(mode=0o700, exist_ok=True)
    os.chmod(settings.home, 0o700)
    schema = migrate(settings)
    return {
        "home": str(settings.home),
        "created": created,
        "database": redact_url(settings.database_url),
        "schema": sorted(schema.current),
    }
