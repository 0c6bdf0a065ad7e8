"""The data dir: where the database, Inspect logs, artifacts and keys of one agency install live."""

from __future__ import annotations

import os
from typing import Any

from prereview.config import Settings

_SUBDIRS = ("logs", "artifacts", "keys", "reports", "locks")


def initialize_home(settings: Settings, *, save_token: bool = True) -> dict[str, Any]:
    """Create the data dir with private permissions, migrate the database, create the vault's
    keys and first coordinator; idempotent.

    The coordinator's token is returned (under "token") only when it was created now, and
    with `save_token` also written to the config file (0600) so this CLI can use it.
    """
    from prereview.store import migrate, redact_url
    from prereview.vault.service import bootstrap, remember_token

    created = not settings.home.exists()
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    for sub in _SUBDIRS:
        (settings.home / sub).mkdir(mode=0o700, exist_ok=True)
    os.chmod(settings.home, 0o700)
    schema = migrate(settings)
    first = bootstrap(settings)
    saved = None
    if first.token is not None and save_token:
        saved = settings.config_path or settings.home / "config.toml"
        remember_token(saved, first.token)
    return {
        "home": str(settings.home),
        "created": created,
        "database": redact_url(settings.database_url),
        "schema": sorted(schema.current),
        "coordinator": first.coordinator if first.token is not None else None,
        "token": first.token,
        "token_saved_to": str(saved) if saved else None,
    }
