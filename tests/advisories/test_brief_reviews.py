"""Briefs from real reviews: a shareable review's results appear as anonymous capability lines;
a confidential review's never do; neither model's identity reaches the brief."""

from __future__ import annotations

import dataclasses
import re

from prereview.advisories.readiness import produce_briefs
from prereview.domain.submission import Confidentiality, ModelAccess
from prereview.review.assessment import run_assessment
from prereview.review.service import ReviewService
from tests.review.conftest import (  # noqa: F401
    _sqlite_template,
    simulated_request,
    sqlite_install,
    sqlite_reviewer,
    sqlite_service,
    sqlite_services,
)


def test_only_shareable_reviews_contribute_and_anonymously(
    sqlite_service: ReviewService,  # noqa: F811
    sqlite_reviewer: ReviewService,  # noqa: F811
) -> None:
    shared = dataclasses.replace(
        simulated_request(after_script="42 153 17"),
        access=ModelAccess("simulated/zephyr-omega"),
        model_name="Zephyr Omega",
        confidentiality=Confidentiality.SHARE_SANITIZED,
    )
    private = dataclasses.replace(
        simulated_request(after_script="no idea"),
        access=ModelAccess("simulated/quasar-nine"),
        model_name="Quasar Nine",
    )
    for request in (shared, private):
        record = sqlite_service.submit(request)
        assert run_assessment(sqlite_reviewer, record.id, suite="smoke").status == "completed"
    (water,) = produce_briefs(
        sqlite_reviewer.settings, session=sqlite_reviewer.access, sector_codes=["water"]
    )
    assert water.reviews == 1  # the confidential review is not counted
    text = water.path.read_text()
    assert "1 pre-release review(s) contributed" in text
    line = next(x for x in text.splitlines() if x.startswith("| smoke"))
    assert line.endswith("| 1 | 100% | 3 / 3 |")  # the shareable model solved every sample
    for term in ("Zephyr Omega", "zephyr-omega", "Quasar Nine", "quasar-nine", "Example Labs"):
        assert not re.search(re.escape(term), text, re.IGNORECASE), term
