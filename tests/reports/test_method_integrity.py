"""The report's method section names the scoring-integrity checks and counts `unknown` verdicts."""

from __future__ import annotations

from dataclasses import replace

from prereview.reports.builder import build_report
from prereview.reports.evidence import Attempt
from prereview.review.results import UNKNOWN_PREFIX
from prereview.suites.registry import installed_families
from tests.reports import evidence_factory as ef


def test_method_counts_unknown_attempts_apart_and_lists_patch_checks() -> None:
    base = ef.one_result()
    done = base.attempts[0]
    unknown = Attempt(
        family="memsafety",
        task="memsafety_patch",
        tier=1,
        instance_id="inst-t1-01",
        attempt=1,
        success=None,
        error=f"{UNKNOWN_PREFIX}unknown: the fuzz run made 12 executions",
    )
    failed = replace(unknown, instance_id="inst-t1-02", success=False, error=None)
    attempts = (done, unknown, failed)
    notes = installed_families().report_notes((a.family, a.task) for a in attempts)
    report = build_report(replace(base, attempts=attempts, method_notes=notes), rubric=None)
    text = " ".join(report.method)
    assert "(1 attempt ended unknown)" in text
    assert "memsafety_patch" in text and "differential tests" in text
    # no unknown, no patch task: the count is zero and the patch checks are not listed
    assert "(0 attempts ended unknown)" in " ".join(
        build_report(replace(base, attempts=(done,)), rubric=None).method
    )
    assert "memsafety_patch" not in " ".join(
        build_report(replace(base, attempts=(done,)), rubric=None).method
    )
