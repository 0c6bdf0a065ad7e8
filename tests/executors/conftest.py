"""Fixtures: an initialized SQLite install with a submitter and the coordinator (from the review
tests), for assessments run on an executor."""

from __future__ import annotations

from tests.review.conftest import (  # noqa: F401
    sqlite_install,
    sqlite_reviewer,
    sqlite_service,
    sqlite_services,
)
from tests.store.databases import _sqlite_template  # noqa: F401
