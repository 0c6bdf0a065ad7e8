"""Per-scope data keys: created on first use, wrapped by the KEK in `vault_data_keys`, and
destroyed for good by `shred`.

A scope is a submission id (everything of one submission shares its key, so one shred removes
all of it). Unwrapped keys live only in this process's memory.

Destroying a key must leave nothing behind in a copy of the store:

- SQLite: the row is overwritten with `secure_delete` on (freed bytes are zeroed in the page),
  then the WAL is checkpointed and truncated, so neither the database file nor the WAL keeps
  the old page.
- PostgreSQL: the table is rewritten with `VACUUM FULL`, which leaves no dead tuple in the
  table's files; WAL archives and base backups taken before the shred still hold the wrapped
  key until they expire (README: use an external KMS provider where that matters).

Writers of a scope's rows and the shred are ordered by `hold`: a transaction that holds the
scope either commits before the shred's transaction (whose purge then sees its rows) or starts
after it and sees the key destroyed. SQLite: the first statement is a (no-op) write, so the
transaction owns the database's one write lock before it reads anything. PostgreSQL: the key
row is read `FOR UPDATE`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError as SqlIntegrityError
from sqlalchemy.orm import Session

from prereview.store.base import utcnow
from prereview.store.database import Database
from prereview.store.tables.vault import DataKeyRow, VaultKeyRow
from prereview.vault.envelope import new_data_key
from prereview.vault.errors import ShreddedError, VaultError
from prereview.vault.keys.interface import KeyProvider, WrappedKey

RECHECK_S = 1.0
"""How long an unwrapped key is used before its row is read again (to notice a shred)."""


@dataclass(frozen=True)
class ShredRecord:
    """What is left of a shredded key: when, why, under which KEK it had been wrapped."""

    scope: str
    kek_id: str
    shredded_at: datetime
    reason: str
    already: bool
    store_compacted: bool


class DataKeyRing:
    """The data keys of every scope, unwrapped on demand through the `KeyProvider`."""

    def __init__(self, db: Database, provider: KeyProvider) -> None:
        self.db = db
        self.provider = provider
        self._cache: dict[str, tuple[bytes, bytes, float]] = {}  # scope -> (wrapped, key, checked)

    def key(self, scope: str, *, create: bool = False) -> bytes:
        """The unwrapped data key of `scope`; created when `create` and none exists yet."""
        # The row is re-read at most every RECHECK_S: a scope shredded by another process stops
        # working here within that time although this process still has the key unwrapped (a
        # running assessment's withdrawal watcher polls at the same pace).
        cached = self._cache.get(scope)
        if cached is not None and time.monotonic() - cached[2] < RECHECK_S:
            return cached[1]
        with self.db.session() as session:
            row = session.get(DataKeyRow, scope)
            if row is not None:
                return self._unwrap(row)
        if not create:
            raise VaultError(f"{scope} has no data key: nothing of it was ever sealed")
        data_key = new_data_key()
        wrapped = self.provider.wrap(data_key, scope)
        try:
            with self.db.session() as session:
                # locked: a rotation holds this row until it commits, then the retirement shows
                kek = session.get(VaultKeyRow, wrapped.kek_id, with_for_update=True)
                if kek is not None and kek.retired_at is not None:
                    raise VaultError(
                        "the key-encryption key was rotated while this command ran: run it again"
                    )
                session.add(
                    DataKeyRow(scope=scope, kek_id=wrapped.kek_id, wrapped_key=wrapped.blob)
                )
        except SqlIntegrityError:  # another process created it first: use theirs
            return self.key(scope)
        self._cache[scope] = (wrapped.blob, data_key, time.monotonic())
        return data_key

    def _unwrap(self, row: DataKeyRow) -> bytes:
        if row.wrapped_key is None:
            self._cache.pop(row.scope, None)
            raise ShreddedError(row.scope, row.shred_reason)
        cached = self._cache.get(row.scope)
        # a rotation by another process rewraps the same data key under a KEK this process
        # does not hold: the key unwrapped before stays valid
        if cached is not None and (
            cached[0] == row.wrapped_key or row.kek_id != self.provider.kek_id
        ):
            data_key = cached[1]
        else:
            data_key = self.provider.unwrap(WrappedKey(row.kek_id, row.wrapped_key), row.scope)
        self._cache[row.scope] = (row.wrapped_key, data_key, time.monotonic())
        return data_key

    def adopt(self, provider: KeyProvider) -> None:
        """Use `provider` from now on (after a rotation rewrapped every key under it)."""
        self.provider = provider
        self._cache.clear()

    def has_key(self, scope: str) -> bool:
        with self.db.session() as session:
            row = session.get(DataKeyRow, scope)
            return row is not None and row.wrapped_key is not None

    def hold(self, session: Session, scope: str) -> bool:
        """Order the caller's transaction against any shred of `scope` (see the module doc);
        returns whether the key is live. Call it first in the transaction: what the
        transaction writes after a True is either purged by a later shred or never races one.
        """
        if self.db.dialect == "sqlite":
            session.execute(text("UPDATE vault_data_keys SET scope = scope WHERE 1 = 0"))
            raw = session.connection().connection.dbapi_connection
            if not getattr(raw, "in_transaction", False):  # fail closed, never unordered
                raise VaultError("cannot take the store's write lock to order a shred")
        wrapped = session.execute(
            select(DataKeyRow.wrapped_key).where(DataKeyRow.scope == scope).with_for_update()
        ).first()
        return wrapped is not None and wrapped[0] is not None

    def confirm_live(self, scope: str) -> None:
        """ShreddedError when the key of `scope` is destroyed now (read from the store, not the
        cache): a writer that sealed with a cached key learns that it raced a shred."""
        query = select(DataKeyRow.wrapped_key.is_(None), DataKeyRow.shred_reason).where(
            DataKeyRow.scope == scope
        )
        with self.db.engine.connect() as conn:  # one indexed read, no ORM session
            found = conn.execute(query).first()
        if found is not None and found[0]:
            self._cache.pop(scope, None)
            raise ShreddedError(scope, found[1])

    def shredded(self, scope: str) -> DataKeyRow | None:
        with self.db.session() as session:
            row = session.get(DataKeyRow, scope)
            return row if row is not None and row.wrapped_key is None else None

    def scopes(self) -> list[str]:
        with self.db.session() as session:
            return list(session.scalars(select(DataKeyRow.scope).order_by(DataKeyRow.scope)))

    def shred(
        self, scope: str, reason: str, purge: Callable[[Session], int] | None = None
    ) -> ShredRecord:
        """Destroy the data key of `scope`; idempotent. Creates a (destroyed) record when the
        scope never had a key, so a later write cannot silently start a new one.

        `purge` runs in the same transaction, after `hold`: it removes the rows of the scope
        (every time, also when the key was destroyed before, so no writer that held the scope
        can leave a row behind) and returns how many rows it changed."""
        self._cache.pop(scope, None)
        now = utcnow()
        with self.db.session() as session:
            if self.db.dialect == "sqlite":
                session.execute(text("PRAGMA secure_delete=ON"))
            self.hold(session, scope)
            changed = purge(session) if purge is not None else 0
            row = session.get(DataKeyRow, scope)
            if row is not None and row.wrapped_key is None:
                assert row.shredded_at is not None
                done = ShredRecord(
                    scope, row.kek_id, row.shredded_at, row.shred_reason or reason, True, True
                )
            else:
                done = None
                if row is None:
                    row = DataKeyRow(scope=scope, kek_id=self.provider.kek_id, wrapped_key=None)
                    session.add(row)
                else:
                    self.provider.destroy(WrappedKey(row.kek_id, row.wrapped_key or b""), scope)
                    row.wrapped_key = None  # secure_delete zeroes the freed bytes in the page
                row.shredded_at = now
                row.shred_reason = reason
                kek_id = row.kek_id
        if done is not None:
            if changed:
                compacted = self._compact()
                return ShredRecord(
                    scope, done.kek_id, done.shredded_at, done.reason, True, compacted
                )
            return done
        compacted = self._compact()
        return ShredRecord(scope, kek_id, now, reason, False, compacted)

    def _compact(self) -> bool:
        """Push the shred through to the files: no old page in the WAL or in dead tuples."""
        if self.db.dialect == "sqlite":
            for _ in range(50):
                with self.db.engine.connect() as conn:
                    busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").scalar()
                if not busy:
                    return True
                time.sleep(0.1)  # a reader holds an old snapshot; its end frees the WAL
            return False
        if self.db.dialect == "postgresql":
            autocommit = self.db.engine.execution_options(isolation_level="AUTOCOMMIT")
            with autocommit.connect() as conn:
                # the old versions of purged and redacted rows too, not only the key's
                conn.exec_driver_sql("VACUUM FULL vault_data_keys, submissions, sample_results")
            return True
        return False
