"""Fixtures for findings tests: a migrated store on SQLite and PostgreSQL, an initialized home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.store import Database, migrate
from tests.store.databases import database_url, fresh_postgres_url  # noqa: F401


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:  # noqa: F811
    """A migrated, empty store on each backend."""
    migrate(database_url)
    with Database(database_url) as database:
        yield database


@pytest.fixture
def cli(prereview_home: Path) -> CliRunner:
    """A CLI runner on an initialized data dir (SQLite)."""
    runner = CliRunner()
    result = runner.invoke(app, ["init", "--json"])
    assert result.exit_code == 0, result.output
    return runner
