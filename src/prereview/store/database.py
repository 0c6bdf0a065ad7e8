"""Engines and sessions for the configured database: a SQLite file by default, PostgreSQL by URL.

SQLite gets foreign keys enforced, WAL journaling (a running assessment writes while `status`
reads), a busy timeout, so two prereview processes on one data dir wait rather than fail, and
secure_delete on every connection (deleted and overwritten rows are zeroed in the file).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from prereview.config import Settings
from prereview.errors import PrereviewError


class DatabaseError(PrereviewError):
    """The database cannot be used as configured; the message says what to do."""


def redact_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a malformed URL: say nothing about its content
        return "<unparseable database URL>"


def describe_failure(exc: BaseException, url: str) -> str:
    """One line on why the database failed, with the URL's password scrubbed from it."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    try:
        password = make_url(url).password
    except Exception:
        password = None
    if password:
        first = first.replace(str(password), "***")
    return f"cannot use database {redact_url(url)}: {first[:300]}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    # freed pages are zeroed, so a row rewritten or deleted (a redacted identity, a shredded
    # result) leaves no old copy in the file's free pages, not only during a shred
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def create_store_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except Exception:
        raise DatabaseError(f"database URL is not valid: {redact_url(url)}") from None
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


class Database:
    """One engine and its session factory; `session()` commits on success, rolls back on error."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_store_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()


def open_database(settings: Settings) -> Database:
    """The database of an initialized install, at the schema this code needs.

    Raises a clear error when `prereview init` has not been run (no data dir) or when the schema
    is behind the migrations this version ships (run `prereview init` again to upgrade).
    """
    from prereview.store.migration import schema_status

    settings.require_initialized()
    db = Database(settings.database_url)
    try:
        status = schema_status(db.engine)
    except SQLAlchemyError as exc:
        db.dispose()
        raise DatabaseError(describe_failure(exc, settings.database_url)) from None
    if not status.current:
        db.dispose()
        raise DatabaseError(
            f"database {redact_url(settings.database_url)} has no prereview schema: "
            "run `prereview init` first"
        )
    if not status.up_to_date:
        db.dispose()
        raise DatabaseError(
            f"database schema is at {', '.join(sorted(status.current))} but this prereview needs "
            f"{', '.join(sorted(status.heads))}: run `prereview init` to upgrade it"
        )
    return db
