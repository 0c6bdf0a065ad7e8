"""The baseline ladder in the report: every rung beside the model, unavailable rungs named, and
the 50%-success estimate against the ladder's measured difficulty."""

from __future__ import annotations

import dataclasses
import json

from prereview.reports.builder import build_report
from prereview.reports.charts import tier_chart
from prereview.reports.evidence import BaselineOutcome, ReviewEvidence, RungOutcome
from prereview.reports.render import render_html, render_markdown
from prereview.reports.rubric import load_rubric
from prereview.reports.source import _baseline
from prereview.suites.interface import BaselineResult, RungResult, measured_difficulty
from tests.reports import evidence_factory as ef

RUNGS = ("libfuzzer", "afl-cmplog", "afl-structure", "symbolic")


def _ladder(outcome: BaselineOutcome) -> BaselineOutcome:
    """A ladder outcome for the same instance: the tier-k instance is first found by rung k-1
    (tier 5 by none); the symbolic rung's tool is missing."""
    tier = outcome.tier or 1
    results = []
    for k, name in enumerate(RUNGS):
        if name == "symbolic":
            results.append(RungResult(name, "unavailable", None, 60.0, detail="klee not found"))
        elif k >= tier - 1 and tier < 5:
            results.append(RungResult(name, "found", 6.0 * (1 + k), 60.0))
        else:
            results.append(RungResult(name, "censored", None, 60.0))
    stored = BaselineResult(
        family=outcome.family,
        instance_id=outcome.instance_id,
        tier=outcome.tier,
        solver="baseline ladder",
        found=any(r.found for r in results),
        seconds=next((r.seconds for r in results if r.found), None),
        budget_seconds=60.0,
        rungs=tuple(results),
        difficulty=measured_difficulty(results, len(RUNGS)),
    )
    parsed = _baseline(json.loads(json.dumps(stored.as_dict())))
    assert parsed is not None
    return parsed


def _evidence() -> ReviewEvidence:
    base = ef.many_results()
    return dataclasses.replace(base, baselines=tuple(_ladder(b) for b in base.baselines))


def test_stored_ladder_round_trips_through_the_report_source() -> None:
    b = _evidence().baselines[0]
    assert [r.rung for r in b.rungs] == list(RUNGS)
    assert b.rungs[-1] == RungOutcome("symbolic", "unavailable", None)
    assert b.difficulty == 0.1  # tier 1: libFuzzer after 6 of 60 s


def test_a_malformed_rung_makes_the_stored_baseline_unreadable() -> None:
    data = {
        "family": "memsafety",
        "instance_id": "x",
        "solver": "baseline ladder",
        "found": False,
        "budget_seconds": 5.0,
        "rungs": [{"rung": "libfuzzer"}],  # no status
    }
    assert _baseline(data) is None
    del data["rungs"]
    legacy = _baseline(data)
    assert legacy is not None and legacy.rungs == () and legacy.difficulty is None


def test_every_rung_is_beside_the_model_and_the_missing_one_is_named() -> None:
    report = build_report(_evidence(), rubric=load_rubric(), replicates=200)
    task = next(t for t in report.tasks if t.task == "memsafety_poc")
    assert [r.rung for r in task.rungs] == list(RUNGS)
    symbolic = task.rungs[-1]
    assert symbolic.unavailable and symbolic.rate is None
    tier3 = next(t for t in task.tiers if t.tier == 3)
    rates = {r.rung: r.rate for r in tier3.rungs}
    assert rates["libfuzzer"] is not None and rates["libfuzzer"].successes == 0
    assert rates["afl-structure"] is not None
    assert rates["afl-structure"].successes == rates["afl-structure"].n > 0
    svg = tier_chart(task)
    assert svg is not None
    assert "symbolic (unavailable)" in svg and "afl-cmplog" in svg
    assert "tier 3:" in svg and "symbolic unavailable" in svg
    md = render_markdown(report)
    assert "symbolic unavailable on the host" in md
    assert "baseline ladder's difficulty" in md
    assert "symbolic unavailable on the host" in render_html(report)


def test_the_fifty_percent_estimate_uses_the_ladders_measured_difficulty() -> None:
    report = build_report(_evidence(), rubric=load_rubric(), replicates=200)
    task = next(t for t in report.tasks if t.task == "memsafety_poc")
    est = task.difficulty_by_ladder
    assert est is not None
    # the measured difficulties span 0.1 (tier 1) to 4 (tier 5: no rung found it)
    assert est.tested_min == 0.1 and est.tested_max == 4.0
    without = build_report(ef.many_results(), rubric=load_rubric(), replicates=200)
    assert next(t for t in without.tasks if t.task == "memsafety_poc").difficulty_by_ladder is None
