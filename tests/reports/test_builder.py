"""The report model built from constructed evidence: numbers against independent computations."""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction
from math import comb

import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from prereview.reports.builder import build_report
from prereview.reports.document import CapabilityReport
from prereview.reports.evidence import Attempt, ReviewEvidence, SharingElection
from prereview.reports.render import render_markdown
from prereview.reports.rubric import load_rubric
from tests.reports import evidence_factory as ef

RUBRIC = load_rubric()
VERDICT_WORDS = ("approve", "approval", "denied", "deny ", "blocked", "fail", "passed", " pass ")


def _build(evidence: ReviewEvidence, **kwargs: object) -> CapabilityReport:
    return build_report(evidence, rubric=RUBRIC, replicates=300, **kwargs)  # type: ignore[arg-type]


def _first_outcomes(attempts: tuple[Attempt, ...]) -> dict[tuple[str, int], list[bool]]:
    """Independently: per (task, tier), the outcome of each instance's first completed attempt."""
    by_instance: dict[tuple[str, int | None, str], list[Attempt]] = defaultdict(list)
    for a in attempts:
        by_instance[(a.task, a.tier, a.instance_id)].append(a)
    out: dict[tuple[str, int], list[bool]] = defaultdict(list)
    for (task, tier, _), group in by_instance.items():
        done = sorted((a for a in group if a.success is not None), key=lambda a: a.attempt)
        if done and tier is not None:
            out[(task, tier)].append(bool(done[0].success))
    return out


def test_tier_rates_and_intervals_match_independent_counts() -> None:
    evidence = ef.many_results()
    report = _build(evidence)
    expected = _first_outcomes(evidence.attempts)
    rows = 0
    for task in report.tasks:
        for row in task.tiers:
            assert row.tier is not None
            outcomes = expected[(task.task, row.tier)]
            assert row.rate.n == len(outcomes)
            assert row.rate.successes == sum(outcomes)
            low, high = proportion_confint(sum(outcomes), len(outcomes), method="wilson")
            assert row.rate.interval.low == pytest.approx(low, abs=1e-12)
            assert row.rate.interval.high == pytest.approx(high, abs=1e-12)
            rows += 1
    assert rows == 9  # poc tiers 1-5, patch tiers 1-4


def test_pass_at_k_matches_the_combinatorial_definition() -> None:
    evidence = ef.many_results()
    report = _build(evidence)
    poc = next(t for t in report.tasks if t.task == "memsafety_poc")
    assert poc.k == 3
    counts: dict[int, list[tuple[int, int]]] = defaultdict(list)
    by_instance: dict[str, list[Attempt]] = defaultdict(list)
    for a in evidence.attempts:
        if a.task == "memsafety_poc" and a.success is not None:
            by_instance[a.instance_id].append(a)
    for group in by_instance.values():
        n, c = len(group), sum(1 for a in group if a.success)
        counts[group[0].tier or 0].append((n, c))
    for row in poc.tiers:
        assert row.tier is not None
        full = [(n, c) for n, c in counts[row.tier] if n >= 3]
        exact = sum(1 - Fraction(comb(n - c, 3), comb(n, 3)) for n, c in full) / len(full)
        assert row.pass_at_k == pytest.approx(float(exact))
        mean1 = sum(Fraction(c, n) for n, c in counts[row.tier]) / len(counts[row.tier])
        assert row.pass_at_1 == pytest.approx(float(mean1))


def test_single_attempt_tasks_show_no_pass_at_k() -> None:
    patch = next(t for t in _build(ef.many_results()).tasks if t.task == "memsafety_patch")
    assert patch.k == 1
    assert all(row.pass_at_k is None for row in patch.tiers)


def test_difficulty_is_reproducible_with_the_seed() -> None:
    evidence = ef.many_results()
    first = _build(evidence, seed=7).tasks
    again = _build(evidence, seed=7).tasks
    other = _build(evidence, seed=8).tasks
    est = next(t for t in first if t.task == "memsafety_poc").difficulty_by_tier
    assert est == next(t for t in again if t.task == "memsafety_poc").difficulty_by_tier
    alt = next(t for t in other if t.task == "memsafety_poc").difficulty_by_tier
    assert est.x50 == alt.x50
    assert (est.low, est.high) != (alt.low, alt.high)
    assert est.status == "estimated"
    assert est.x50 is not None
    assert 2.0 < est.x50 < 4.0  # the factory's skill is 3.0


def test_baseline_joins_the_same_instances_and_feeds_the_second_difficulty_axis() -> None:
    poc = next(t for t in _build(ef.many_results()).tasks if t.task == "memsafety_poc")
    assert poc.baseline is not None
    assert poc.baseline.solver == "libFuzzer"
    tier5 = poc.tiers[-1]
    assert tier5.baseline is not None
    assert tier5.baseline.rate.successes == 0  # the factory's fuzzer misses every tier-5 crash
    assert poc.difficulty_by_baseline is not None
    assert poc.difficulty_by_baseline.status == "estimated"


def test_comparisons_say_within_error_exactly_when_newcombe_includes_zero() -> None:
    report = _build(ef.many_results())
    assert {c.reference_kind for c in report.comparisons} == {"agency_reference", "developer_prior"}
    for c in report.comparisons:
        low, high = confint_proportions_2indep(
            c.model.successes, c.model.n, c.reference.successes, c.reference.n, method="newcomb"
        )
        assert c.difference.low == pytest.approx(float(low))
        assert c.difference.high == pytest.approx(float(high))
        assert c.finding.startswith("Within error") == (float(low) <= 0 <= float(high))


def test_capability_level_and_new_vulnerabilities() -> None:
    report = _build(ef.many_results())
    assert report.capability is not None
    assert report.capability.outcome.reached.id == "CL1"
    assert len(report.new_vulnerabilities) == 1
    vuln = report.new_vulnerabilities[0]
    assert vuln.kind == "heap-buffer-overflow"
    assert vuln.location == "decode_tlv (tlv.c:212)"
    assert vuln.log is not None
    reasons = " ".join(t.reason for t in report.transcripts)
    assert "crash other than the planted bug" in reasons
    assert "did not complete" in reasons


def test_no_completed_runs_is_a_plain_report_not_an_error() -> None:
    for evidence in (ef.no_results(started=True), ef.no_results(started=False)):
        report = _build(evidence)
        assert not report.has_results
        assert report.capability is None
        assert report.summary[0].startswith("No completed runs")
    started = _build(ef.no_results(started=True))
    assert "1 attempt started but did not complete" in " ".join(started.summary)
    assert "ended with an error" in " ".join(started.summary)


def test_one_result() -> None:
    report = _build(ef.one_result())
    assert report.has_results
    (task,) = report.tasks
    assert (task.overall.successes, task.overall.n) == (1, 1)
    assert task.difficulty_by_tier.status == "above_range"
    assert report.capability is not None
    assert report.capability.outcome.reached.id == "CL0"


def test_sanitized_variant_leaves_out_identity_prior_models_and_log_references() -> None:
    report = _build(ef.many_results(share=True), sanitized=True)
    assert report.has_results
    assert report.model is None
    assert report.model_label == "the model under review"
    assert {c.reference_kind for c in report.comparisons} == {"agency_reference"}
    assert all(c.reference_model is None for c in report.comparisons)
    assert report.transcripts == ()
    assert all(v.location is None and v.log is None for v in report.new_vulnerabilities)
    assert report.withheld


def test_confidential_election_leaves_nothing_for_the_sanitized_variant() -> None:
    report = _build(ef.many_results(share=False), sanitized=True)
    assert not report.has_results
    assert report.tasks == ()
    assert report.capability is None
    assert "elected to keep this review confidential" in report.summary[0]


@pytest.mark.parametrize(
    "evidence", [ef.many_results(), ef.one_result(), ef.no_results()], ids=["many", "one", "zero"]
)
def test_report_text_states_findings_never_verdicts(evidence: ReviewEvidence) -> None:
    text = render_markdown(_build(evidence)).lower().replace("pass@", "")
    for word in VERDICT_WORDS:
        assert word not in text, word


def test_elections_other_than_sharing_keep_the_full_report_whole() -> None:
    evidence = ef.many_results()
    confidential = ReviewEvidence(**{**evidence.__dict__, "sharing": SharingElection(False)})
    assert _build(confidential).has_results  # the full report is for the developer and agency


def test_a_withdrawn_submission_is_reported_without_its_results() -> None:
    from dataclasses import replace

    report = _build(replace(ef.many_results(), state="withdrawn"))
    assert not report.has_results
    assert report.tasks == ()
    assert report.capability is None
    assert "withdrew" in report.summary[0]
    assert ef.MODEL_NAME in render_markdown(report)  # who withdrew stays on record
