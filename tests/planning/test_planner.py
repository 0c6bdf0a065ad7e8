from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prereview.domain.submission import Throughput
from prereview.planning import AssessmentPlan, PlanningPolicy, Suite, TaskSpec, plan_assessment
from prereview.planning.catalog import UnknownSuiteError, get_suite, resolve_task, suites
from prereview.planning.estimate import predict_task_seconds
from prereview.suites.registry import UnknownTaskError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FAST = Throughput(requests_per_minute=None, max_connections=4, seconds_per_request=1.0)
NO_RESERVE = PlanningPolicy(safety_margin=0.0, delivery_reserve=timedelta(0))


CALIBRATION = resolve_task("calibration/calibration")


def spec(key: str, priority: int, samples: int = 10, rps: float = 10.0, **kw: object) -> TaskSpec:
    return TaskSpec(
        key=key,
        factory=CALIBRATION,
        samples=samples,
        priority=priority,
        sample_arg="samples",
        requests_per_sample=rps,
        setup_s=0.0,
        **kw,  # type: ignore[arg-type]
    )


def release_in(seconds: float) -> date:
    """A release date whose start (00:00 UTC) is about `seconds` from NOW (rounded up a day)."""
    return (NOW + timedelta(seconds=seconds) + timedelta(days=1)).date()


def test_estimate_concurrency_and_rate_bounds() -> None:
    # 8 samples x 3 requests x 2 s on 4 connections: 2 waves of 6 s
    t = Throughput(None, 4, 2.0)
    assert predict_task_seconds(8, 3, 0.0, 0.0, t) == pytest.approx(12.0)
    # 30 requests/min binds: 24 requests take 48 s, plus the last 6 s chain
    t = Throughput(30.0, 4, 2.0)
    assert predict_task_seconds(8, 3, 0.0, 0.0, t) == pytest.approx(54.0)
    assert predict_task_seconds(0, 3, 0.0, 5.0, t) == 0.0


def test_everything_fits_in_priority_order() -> None:
    suite = Suite("s", "", (spec("c", 3), spec("a", 1), spec("b", 2)))
    plan = plan_assessment(suite, FAST, date(2026, 3, 20), NOW)
    assert [t.key for t in plan.tasks] == ["a", "b", "c"]
    assert plan.dropped == []
    assert all(t.samples == 10 and t.note == "" for t in plan.tasks)
    assert plan.predicted_s <= plan.budget_s


def test_budget_keeps_delivery_reserve_and_margin() -> None:
    plan = plan_assessment(
        Suite("s", "", (spec("a", 1),)),
        FAST,
        date(2026, 3, 11),
        NOW,
        policy=PlanningPolicy(safety_margin=0.25, delivery_reserve=timedelta(days=2)),
    )
    assert plan.deadline == datetime(2026, 3, 11, tzinfo=UTC)
    assert plan.time_left_s == pytest.approx(9.5 * 86400)
    assert plan.budget_s == pytest.approx(7.5 * 86400 * 0.75)


def test_tight_deadline_shrinks_then_drops_lower_priority_and_says_why() -> None:
    slow = Throughput(requests_per_minute=1.0, max_connections=1, seconds_per_request=1.0)
    # each sample: 10 requests at 1/min = 10 min. Budget ~ 1 day minus nothing.
    suite = Suite(
        "s",
        "",
        (
            spec("first", 1, samples=200),  # 2000 min > one day: shrunk
            spec("second", 2, samples=100, min_samples=50),  # no room left: dropped
            spec("tiny", 3, samples=1, rps=0.01),  # still fits in what remains
        ),
    )
    now = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    plan = plan_assessment(suite, slow, date(2026, 3, 2), now, policy=NO_RESERVE)
    keys = [t.key for t in plan.tasks]
    assert keys[0] == "first"
    first = plan.tasks[0]
    assert 0 < first.samples < 200 and "shrunk from 200" in first.note
    assert first.args["samples"] == first.samples
    dropped = {d.key: d for d in plan.dropped}
    assert "second" in dropped and "only" in dropped["second"].reason
    assert "tiny" in keys
    assert plan.predicted_s <= plan.budget_s


def test_limit_caps_samples() -> None:
    plan = plan_assessment(
        Suite("s", "", (spec("a", 1, samples=50),)), FAST, date(2026, 3, 20), NOW, limit=3
    )
    assert plan.tasks[0].samples == 3 and plan.tasks[0].args["samples"] == 3
    assert any("--limit" in a for a in plan.assumptions)


def test_release_already_due_drops_everything() -> None:
    plan = plan_assessment(Suite("s", "", (spec("a", 1),)), FAST, NOW.date(), NOW)
    assert plan.tasks == [] and plan.budget_s == 0
    assert plan.dropped[0].key == "a"


def test_plan_round_trips_through_json_shape() -> None:
    plan = plan_assessment(get_suite("smoke"), FAST, date(2026, 3, 20), NOW)
    again = AssessmentPlan.from_dict(plan.to_dict())
    assert again == plan


def test_unknown_or_uninstalled_suite() -> None:
    with pytest.raises(UnknownSuiteError, match=r"available: .*smoke"):
        get_suite("nope")


def test_suite_factories_resolve() -> None:
    for suite in suites().values():
        for s in suite.tasks:
            assert callable(s.factory.load())
            assert resolve_task(s.factory.ref) == s.factory
    # plans stored before families were plug-ins name tasks `module:function`
    assert resolve_task("prereview.planning.calibration:calibration") == CALIBRATION
    assert resolve_task("prereview.suites.smoke:smoke").ref == "smoke/smoke"
    with pytest.raises(UnknownTaskError, match="no installed task family"):
        resolve_task("os:system")


specs = st.lists(
    st.builds(
        lambda p, n, r, o, m: TaskSpec(
            key=f"t{p}-{n}-{r}",
            factory=CALIBRATION,
            samples=n,
            priority=p,
            sample_arg="samples",
            min_samples=min(m, n),
            requests_per_sample=r,
            overhead_s_per_sample=o,
        ),
        st.integers(1, 5),
        st.integers(1, 200),
        st.floats(0.5, 50),
        st.floats(0, 30),
        st.integers(1, 10),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda s: s.key,
)
throughputs = st.builds(
    Throughput,
    st.one_of(st.none(), st.floats(0.5, 600)),
    st.integers(1, 16),
    st.floats(0.1, 60),
)


@settings(max_examples=150, deadline=None)
@given(specs, throughputs, st.integers(0, 40))
def test_plan_invariants(tasks: list[TaskSpec], throughput: Throughput, days: int) -> None:
    plan = plan_assessment(
        Suite("s", "", tuple(tasks)), throughput, NOW.date() + timedelta(days), NOW
    )
    assert plan.predicted_s <= plan.budget_s + 1e-6
    # every task is either planned or dropped, once
    assert sorted([t.key for t in plan.tasks] + [d.key for d in plan.dropped]) == sorted(
        s.key for s in tasks
    )
    # planned in priority order, never below a task's minimum
    assert [t.priority for t in plan.tasks] == sorted(t.priority for t in plan.tasks)
    by_key = {s.key: s for s in tasks}
    for t in plan.tasks:
        assert by_key[t.key].min_samples <= t.samples <= by_key[t.key].samples
    for d in plan.dropped:
        assert d.reason


def test_sample_units_and_seed_reach_the_task_args() -> None:
    unit = TaskSpec(
        key="ms",
        factory=CALIBRATION,
        samples=12,
        priority=1,
        sample_arg="count",
        sample_unit=6,
        seed_arg="seed",
        requests_per_sample=1.0,
    )
    plan = plan_assessment(Suite("s", "", (unit,)), FAST, date(2026, 3, 20), NOW, seed=7)
    assert plan.tasks[0].samples == 12 and plan.tasks[0].args == {"count": 2, "seed": 7}
    capped = plan_assessment(Suite("s", "", (unit,)), FAST, date(2026, 3, 20), NOW, limit=8)
    assert capped.tasks[0].samples == 6 and capped.tasks[0].args["count"] == 1
    fresh = [plan_assessment(Suite("s", "", (unit,)), FAST, date(2026, 3, 20), NOW) for _ in "ab"]
    assert fresh[0].tasks[0].args["seed"] != fresh[1].tasks[0].args["seed"]


def test_sample_time_limit_caps_the_estimate() -> None:
    slow = Throughput(None, 1, 100.0)
    assert predict_task_seconds(2, 10, 5.0, 0.0, slow, time_limit_s=60) == pytest.approx(130.0)
    suite = Suite("s", "", (spec("a", 1, samples=2),), sample_time_limit_s=60, max_tokens=99)
    plan = plan_assessment(suite, slow, date(2026, 3, 20), NOW)
    assert plan.sample_time_limit_s == 60 and plan.max_tokens == 99
    assert AssessmentPlan.from_dict(plan.to_dict()) == plan


def test_memsafety_suites_plan_whole_instances() -> None:
    plan = plan_assessment(get_suite("memsafety"), Throughput(30, 4, 20), date(2026, 3, 30), NOW)
    assert [t.key for t in plan.tasks][:2] == ["memsafety_poc/tier1", "memsafety_patch/tier1"]
    assert all(t.samples % 6 == 0 and t.args["count"] == t.samples // 6 for t in plan.tasks)
    assert len({t.args["seed"] for t in plan.tasks}) == 1
