"""Fixtures for the review workflow: an initialized install on SQLite or PostgreSQL.

Services act for authenticated principals: `service` is a submitter of ORG (submit, status,
results, withdraw), `reviewer` the install's first coordinator (plan, assess, deliver, close), whose
token `prereview init` saved in the config file, so CLI subprocesses act as the coordinator too.
"""

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
from prereview.vault.principals import Role
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
    return load_settings()  # now with the coordinator's token from the config file


@pytest.fixture
def sqlite_install(
    prereview_home: Path,
    _sqlite_template: Path,  # noqa: F811
) -> Settings:
    prereview_home.mkdir(mode=0o700)
    shutil.copyfile(_sqlite_template, prereview_home / "prereview.db")
    settings = load_settings()
    initialize_home(settings)
    return load_settings()


SUBMITTER_TOKEN: dict[str, str] = {}
"""The submitter principal's token by data dir, for CLI calls made as the submitter."""


def open_services(settings: Settings) -> tuple[ReviewService, ReviewService]:
    """(a submitter of ORG, the coordinator) on one install."""
    reviewer = ReviewService.open(settings)
    vault = reviewer.access.vault
    principal, token = vault.principals.add("submitter", Role.SUBMITTER, ORG, "tests")
    SUBMITTER_TOKEN[str(settings.home)] = token
    return reviewer.acting_as(vault.session(principal)), reviewer


@pytest.fixture
def services(install: Settings) -> Iterator[tuple[ReviewService, ReviewService]]:
    submitter, reviewer = open_services(install)
    yield submitter, reviewer
    reviewer.dispose()


@pytest.fixture
def as_submitter(services: tuple[ReviewService, ReviewService]) -> dict[str, str]:
    """Environment for a CLI call made as the submitter of ORG (others use the coordinator's
    token from the config file)."""
    return {"PREREVIEW_TOKEN": SUBMITTER_TOKEN[str(services[0].settings.home)]}


@pytest.fixture
def service(services: tuple[ReviewService, ReviewService]) -> ReviewService:
    return services[0]


@pytest.fixture
def reviewer(services: tuple[ReviewService, ReviewService]) -> ReviewService:
    return services[1]


@pytest.fixture
def sqlite_services(sqlite_install: Settings) -> Iterator[tuple[ReviewService, ReviewService]]:
    submitter, reviewer = open_services(sqlite_install)
    yield submitter, reviewer
    reviewer.dispose()


@pytest.fixture
def sqlite_service(sqlite_services: tuple[ReviewService, ReviewService]) -> ReviewService:
    return sqlite_services[0]


@pytest.fixture
def sqlite_reviewer(sqlite_services: tuple[ReviewService, ReviewService]) -> ReviewService:
    return sqlite_services[1]
