"""The Inspect metrics every family's scorers report, kept in one place so `unknown` (the grader
contract's third outcome) is left out of accuracy the same way in every family. Imports Inspect:
only scorer modules import this (the interface itself stays Inspect-free)."""

from __future__ import annotations

from inspect_ai.scorer import CORRECT, Metric, SampleScore, metric

from prereview.suites.interface import is_unknown


@metric
def decided_accuracy() -> Metric:
    """Accuracy over the samples that got a verdict (`unknown` ones are left out, not failed)."""

    def compute(scores: list[SampleScore]) -> float:
        decided = [s.score for s in scores if not is_unknown(s.score.metadata)]
        if not decided:
            return 0.0
        return sum(1.0 for s in decided if s.value == CORRECT) / len(decided)

    return compute


@metric
def unknown_count() -> Metric:
    """How many samples ended `unknown`."""

    def compute(scores: list[SampleScore]) -> int:
        return sum(1 for s in scores if is_unknown(s.score.metadata))

    return compute
