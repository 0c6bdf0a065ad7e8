"""Alembic, run from code: `migrate()` upgrades a database to every branch head.

The Alembic environment ships inside the package (`store/migrations/`), so installs need no
alembic.ini. Revisions live under `migrations/versions/<branch>/`, one folder per domain branch
(each folder is a version location); table classes live in `store/tables/<branch>.py` and are
all imported here, so autogenerate and the schema-drift test see the whole model.
"""

from __future__ import annotations

import fcntl
import functools
import importlib
import os
import pkgutil
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from prereview.config import Settings
from prereview.store.base import Base
from prereview.store.database import Database, DatabaseError, describe_failure

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = zlib.crc32(b"prereview.store.migrate")


def load_tables() -> MetaData:
    """Import every `prereview.store.tables.*` module; returns the metadata they registered."""
    from prereview.store import tables

    for info in pkgutil.iter_modules(tables.__path__):
        importlib.import_module(f"{tables.__name__}.{info.name}")
    return Base.metadata


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic `Config` for our environment; pass it to `alembic.command.*` when developing."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    versions = MIGRATIONS_DIR / "versions"
    branch_dirs = sorted(p for p in versions.iterdir() if p.is_dir() and p.name != "__pycache__")
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("file_template", "%%(rev)s")
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in branch_dirs))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _scripts() -> ScriptDirectory:
    """The migration scripts: package data, fixed for the life of the process (loading them
    takes longer than opening the database, so a process that opens it often loads them once)."""
    return ScriptDirectory.from_config(alembic_config())


def script_heads() -> set[str]:
    return set(_scripts().get_heads())


@dataclass(frozen=True)
class SchemaStatus:
    current: frozenset[str]
    heads: frozenset[str]

    @property
    def up_to_date(self) -> bool:
        return self.current == self.heads


def schema_status(engine: Engine) -> SchemaStatus:
    with engine.connect() as conn:
        current = frozenset(MigrationContext.configure(conn).get_current_heads())
    script = _scripts()
    heads = frozenset(script.get_heads())
    # A branch head that another branch `depends_on` (vault -> review) is applied, yet Alembic
    # does not list it among the current heads: count it as reached.
    try:
        applied = {r.revision for r in script.iterate_revisions(tuple(current), "base") if r}
    except Exception:  # a revision this code does not know (a newer prereview migrated it)
        applied = set(current)
    return SchemaStatus(current | frozenset(h for h in heads if h in applied), heads)


@contextmanager
def _migration_lock(db: Database, conn: Connection) -> Iterator[None]:
    """Serialize concurrent `migrate()` calls: a PostgreSQL advisory lock, or a file lock."""
    if db.dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
            conn.commit()
        return
    database = make_url(db.url).database
    if db.dialect != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def migrate(target: Settings | str, revision: str = "heads") -> SchemaStatus:
    """Upgrade the database of `target` (settings or a URL) to `revision` (all heads by default).

    Idempotent and safe to call from several processes at once.
    """
    url = target.database_url if isinstance(target, Settings) else target
    try:
        with Database(url) as db, db.engine.connect() as conn, _migration_lock(db, conn):
            command.upgrade(alembic_config(url, conn), revision)
            conn.commit()
            return schema_status(db.engine)
    except SQLAlchemyError as exc:
        raise DatabaseError(describe_failure(exc, url)) from None
