"""Database fixtures for store tests: every test gets a fresh, empty SQLite file *and* a fresh
PostgreSQL database.

PostgreSQL comes from `PREREVIEW_TEST_POSTGRES_URL`, which `scripts/with-postgres.sh` exports
(`make test` wraps pytest with it and sets `PREREVIEW_REQUIRE_POSTGRES=1`). Without the URL the
PostgreSQL cases FAIL when that flag is set (CI) and are skipped, saying so, when it is not (a
developer running pytest by hand). Other test packages reuse these fixtures with
`from tests.store.databases import database_url  # noqa: F401`.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_ENV = "PREREVIEW_TEST_POSTGRES_URL"
REQUIRE_ENV = "PREREVIEW_REQUIRE_POSTGRES"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def postgres_server_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    message = (
        f"{POSTGRES_ENV} is not set: run the store tests under scripts/with-postgres.sh "
        "(make test does)"
    )
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(message)
    pytest.skip(f"{message}; skipped because {REQUIRE_ENV} is not 1")


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """A new empty database on the test server, dropped after the test."""
    server = make_url(postgres_server_url())
    name = f"prereview_test_{secrets.token_hex(6)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (no schema): for tests of the migrations themselves."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("fresh_postgres_url"))


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from prereview.store import migrate

    path = tmp_path_factory.mktemp("template") / "migrated.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_template() -> Iterator[str]:
    from prereview.store import migrate

    server = make_url(postgres_server_url())
    name = f"prereview_template_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    migrate(server.set(database=name).render_as_string(hide_password=False))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def migrated_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database already at every migration head (copied from a per-session template,
    which is much faster than migrating each test's database)."""
    if request.param == "sqlite":
        target = tmp_path / "store.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    template = request.getfixturevalue("_postgres_template")
    server = make_url(postgres_server_url())
    name = f"prereview_test_{secrets.token_hex(6)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
