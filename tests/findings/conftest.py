"""Fixtures for findings tests: a migrated store on SQLite and PostgreSQL, an initialized home."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.store import Database
from tests.store.databases import (  # noqa: F401
    _postgres_template,
    _sqlite_template,
    migrated_database_url,
)


@pytest.fixture
def db(migrated_database_url: str) -> Iterator[Database]:  # noqa: F811
    """A migrated, empty store on each backend."""
    with Database(migrated_database_url) as database:
        yield database


@pytest.fixture
def cli(prereview_home: Path, _sqlite_template: Path) -> CliRunner:  # noqa: F811
    """A CLI runner on an initialized data dir (SQLite, copied from the migrated template)."""
    prereview_home.mkdir(mode=0o700)
    shutil.copyfile(_sqlite_template, prereview_home / "prereview.db")
    runner = CliRunner()
    result = runner.invoke(app, ["init", "--json"])
    assert result.exit_code == 0, result.output
    return runner
