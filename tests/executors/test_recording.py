"""What comes back from a unit is recorded once per sample, and only if it opens with the run's
key: a second attempt of the same unit, or a log altered on the way, adds nothing."""

from __future__ import annotations

from typing import cast

from inspect_ai.model import Model

from prereview.executors.interface import SealedLog, UnitResult
from prereview.executors.ray import RayExecutor, RayRun
from prereview.executors.sealing import seal
from prereview.review.assessment import PlanRun, run_assessment
from prereview.review.service import ReviewService
from tests.review.conftest import simulated_request


def test_a_unit_that_two_attempts_finished_is_recorded_once(
    sqlite_service: ReviewService, sqlite_reviewer: ReviewService
) -> None:
    # a real unit log: what Inspect wrote for two samples, taken from a finished local run
    done = sqlite_service.submit(simulated_request(after_script="hello"))
    first = run_assessment(sqlite_reviewer, done.id, suite="calibration", limit=2)
    (log_name,) = [
        k for k in sqlite_reviewer.content.keys(done.id, first.log_key + "/") if k.endswith(".eval")
    ]
    log = sqlite_reviewer.content.read(done.id, log_name)
    name = log_name.rsplit("/", 1)[1]

    record = sqlite_service.submit(simulated_request(after_script="hello"))
    plan = sqlite_reviewer.plan(record.id, suite="calibration", limit=2)
    review_id, run_id, number = sqlite_reviewer.begin_run(record.id, resumed=False)
    run = RayRun(
        RayExecutor("127.0.0.1:1"),
        PlanRun(
            sqlite_reviewer,
            sqlite_reviewer.get(record.id),
            review_id,
            run_id,
            number,
            plan,
            cast(Model, None),
            None,
            None,
            1.0,
        ),
    )
    attempt = UnitResult(
        "calibration#0", "node-a", 1, [SealedLog(name, seal(run.key.public, name, log))]
    )
    altered = UnitResult(
        "calibration#0", "node-c", 3, [SealedLog(name, seal(run.key.public, name, log)[:-1])]
    )
    with sqlite_reviewer.content.working_dir(record.id, run.log_key) as log_dir:
        outcomes = run.ingest(attempt, log_dir)
        assert sorted(o.sample_id for o in outcomes) == ["cal-0", "cal-1"]
        run.record(outcomes)
        run.record(run.ingest(attempt, log_dir))  # a second attempt of the same unit finished
        assert run.ingest(altered, log_dir) == []
    assert run.recorded == 2
    assert run.failures == [
        f"unit calibration#0: sealed log {name!r} does not open with this run's key "
        "(altered or foreign)"
    ]
    results = sqlite_reviewer.results(record.id)
    assert sorted((r.sample_id, r.epoch) for r in results) == [("cal-0", 1), ("cal-1", 1)]
    assert all(r.run_id == run_id and r.log_ref.startswith(run.log_key) for r in results)
