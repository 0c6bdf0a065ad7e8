"""The vault on both backends: shredding leaves no wrapped key in the table, and concurrent
writers keep one valid audit chain (PostgreSQL serializes appends with an advisory lock)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from prereview.config import load_settings
from prereview.home import initialize_home
from prereview.vault.audit import AuditEvent
from prereview.vault.errors import ShreddedError
from prereview.vault.service import Vault
from tests.store.databases import (  # noqa: F401
    _postgres_template,
    _sqlite_template,
    migrated_database_url,
)
from tests.vault.conftest import add_submission


@pytest.fixture
def vault(
    migrated_database_url: str,  # noqa: F811
    prereview_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Vault:
    monkeypatch.setenv("PREREVIEW_DATABASE_URL", migrated_database_url)
    initialize_home(load_settings())
    return Vault.open(load_settings())


def test_shred_compacts_the_key_table(vault: Vault) -> None:
    sid = add_submission(vault, "Org A")
    vault.content.write(sid, "reports/r.md", b"secret report")
    record = vault.shredder.shred(sid, "withdrawn")
    assert record.store_compacted
    with vault.db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT wrapped_key FROM vault_data_keys WHERE scope = :s"), {"s": sid}
        ).scalar()
    assert stored is None
    with pytest.raises(ShreddedError):
        vault.content.read(sid, "reports/r.md")
    vault.close()


def test_concurrent_appends_keep_one_chain(vault: Vault) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                vault.audit.append(AuditEvent("submission.read", "allowed", target=f"{n}-{i}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = vault.audit.verify()
    assert report.ok and report.entries >= 60
    vault.close()
