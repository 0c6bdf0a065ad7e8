"""Fixtures for the review workflow: an initialized install on SQLite or PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from prereview.config import Settings, load_settings
from prereview.domain.submission import ModelAccess, Throughput
from prereview.home import initialize_home
from prereview.review.service import ReviewService, SubmissionRequest
from prereview.store.tables.review import (
    AssessmentRunRow,
    OrganizationRow,
    ReviewRow,
    SampleResultRow,
    SubmissionEventRow,
    SubmissionRow,
)
from tests.store.databases import (  # noqa: F401
    _postgres_template,
    _sqlite_template,
    migrated_database_url,
)

ORG = "Example Labs"


def in_days(n: int) -> date:
    return date.today() + timedelta(days=n)


def simulated_request(
    latency: float = 0.01, connections: int = 4, record: Path | None = None, **kw: object
) -> SubmissionRequest:
    """A submission of the `simulated` model: known latency, answers from a script."""
    args: dict[str, object] = {"latency": latency, "connections": connections}
    if record is not None:
        args["record"] = str(record)
    args.update(kw)
    return SubmissionRequest(
        organization=ORG,
        access=ModelAccess("simulated/test"),
        release_date=in_days(21),
        throughput=Throughput(None, connections, max(latency, 0.01)),
        model_args=args,
    )


def row_counts(service: ReviewService) -> dict[str, int]:
    tables = (
        OrganizationRow,
        SubmissionRow,
        SubmissionEventRow,
        ReviewRow,
        AssessmentRunRow,
        SampleResultRow,
    )
    with service.db.session() as s:
        return {
            t.__tablename__: s.execute(select(func.count()).select_from(t)).scalar_one()
            for t in tables
        }


@pytest.fixture
def install(
    migrated_database_url: str,  # noqa: F811
    prereview_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    """An initialized install; the environment points the CLI and subprocesses at it too."""
    monkeypatch.setenv("PREREVIEW_DATABASE_URL", migrated_database_url)
    settings = load_settings()
    initialize_home(settings)
    return settings


@pytest.fixture
def sqlite_install(
    prereview_home: Path,
    _sqlite_template: Path,  # noqa: F811
) -> Settings:
    prereview_home.mkdir(mode=0o700)
    shutil.copyfile(_sqlite_template, prereview_home / "prereview.db")
    settings = load_settings()
    initialize_home(settings)
    return settings


@pytest.fixture
def service(install: Settings) -> Iterator[ReviewService]:
    with ReviewService.open(install) as svc:
        yield svc


@pytest.fixture
def sqlite_service(sqlite_install: Settings) -> Iterator[ReviewService]:
    with ReviewService.open(sqlite_install) as svc:
        yield svc
