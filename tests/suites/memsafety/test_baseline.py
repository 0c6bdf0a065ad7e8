from __future__ import annotations

import json

import pytest

from prereview.suites.memsafety.baseline import (
    BASELINE_FILE,
    FuzzOutcome,
    difficulty_correlation,
    fuzz_instance,
)
from prereview.suites.memsafety.instance import Instance
from prereview.suites.memsafety.spec import BugClass

from .conftest import pick


def _outcome(tier: int, seconds: float | None, budget: float = 60.0) -> FuzzOutcome:
    return FuzzOutcome(
        instance_id=f"i{tier}-{seconds}",
        tier=tier,
        bug_class="double-free",
        budget_s=budget,
        seed=1,
        max_runs=None,
        crashed=seconds is not None,
        time_to_crash_s=seconds,
        executions=int((seconds or budget) * 1000),
        matched_planted=seconds is not None,
        report=None,
    )


def test_spearman_on_censored_times() -> None:
    rising = [
        _outcome(1, 0.5),
        _outcome(1, 1.0),
        _outcome(2, 4.0),
        _outcome(2, 9.0),
        _outcome(3, None),
        _outcome(4, None),
        _outcome(5, None),
    ]
    rho = difficulty_correlation(rising)
    assert rho is not None and rho > 0.8
    falling = [_outcome(1, None), _outcome(2, 30.0), _outcome(3, 2.0), _outcome(4, 0.1)]
    rho = difficulty_correlation(falling)
    assert rho is not None and rho < -0.8
    assert difficulty_correlation(rising, by="executions") == pytest.approx(
        difficulty_correlation(rising)
    )
    assert difficulty_correlation([_outcome(1, None), _outcome(2, None)]) is None
    assert _outcome(3, None).censored_time_s == 60.0


@pytest.mark.slow
def test_libfuzzer_finds_the_planted_tier1_bug_and_stores_it(instances: list[Instance]) -> None:
    inst = pick(instances, tier=1, bug=BugClass.HEAP_OVERFLOW)
    outcome = fuzz_instance(inst, budget_s=120, seed=1, max_runs=2_000_000)
    assert outcome.crashed and outcome.matched_planted, outcome
    assert outcome.time_to_crash_s is not None and outcome.executions > 0
    stored = json.loads((inst.build_dir / BASELINE_FILE).read_text())
    assert stored["instance_id"] == inst.id and stored["censored_time_s"] == outcome.time_to_crash_s
