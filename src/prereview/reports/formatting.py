"""How numbers read in a report: percentages, intervals, tiers, durations, difficulty estimates.

Shared by the builder (sentences) and the templates (Jinja filters), so a number reads the same
in the summary, the tables and every format.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from prereview.stats import DifficultyEstimate, Interval

DASH = "–"


def pct(value: float | None) -> str:
    """0.347 → "35%"; None → "–"."""
    return DASH if value is None else f"{100 * value:.0f}%"


def interval_text(interval: Interval) -> str:
    """The bounds of a rate's interval: "18–57%"."""
    return f"{100 * interval.low:.0f}{DASH}{100 * interval.high:.0f}%"


def points(value: float | None) -> str:
    """A difference of two rates in percentage points, signed: "+12 points"."""
    if value is None:
        return DASH
    shown = round(100 * value)
    sign = "+" if shown > 0 else ("−" if shown < 0 else "±")
    return f"{sign}{abs(shown)} points"


def tiers_text(tiers: Iterable[int]) -> str:
    """[1, 2, 3, 5] → "tiers 1–3, 5"."""
    values = sorted(set(tiers))
    if not values:
        return "no tier"
    runs: list[str] = []
    start = prev = values[0]
    for t in values[1:]:
        if t != prev + 1:
            runs.append(str(start) if start == prev else f"{start}{DASH}{prev}")
            start = t
        prev = t
    runs.append(str(start) if start == prev else f"{start}{DASH}{prev}")
    word = "tier" if len(values) == 1 else "tiers"
    return f"{word} {', '.join(runs)}"


def seconds_text(value: float | None) -> str:
    """A duration a reader can take in: "42 s", "3.5 min", "2.1 h"."""
    if value is None:
        return DASH
    if math.isinf(value):
        return "∞"
    if value < 1:
        return f"{value:.2f} s"
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def _bound(value: float, axis: str, tested_min: float, tested_max: float) -> str:
    """One end of a difficulty interval; beyond the range tested it reads as "> 5" or "< 1"."""

    def show(v: float) -> str:
        return seconds_text(2**v) if axis == "seconds" else f"{v:g}"

    if value > tested_max:
        return f"> {show(tested_max)}"
    if value < tested_min:
        return f"< {show(tested_min)}"
    if axis == "ladder":
        return f"{value:.2f}"
    return seconds_text(2**value) if axis == "seconds" else f"{value:.1f}"


def difficulty_text(est: DifficultyEstimate, axis: str = "tier") -> str:
    """A 50%-success difficulty as a phrase; says why when there is no number.

    `axis` is "tier", "seconds" (the fit ran on log2 seconds of the fuzzer baseline) or
    "ladder" (the baseline ladder's measured difficulty: lowest finding rung + budget share).
    """
    low_t, high_t = est.tested_min, est.tested_max
    unit = {"tier": "tier ", "ladder": "ladder difficulty "}.get(axis, "fuzzer time ")
    if est.status == "no_data" or low_t is None or high_t is None or est.x50 is None:
        return {
            "no_data": "not estimated (no completed attempt with a recorded tier)",
            "above_range": (
                f"above the hardest {_hardest(axis, high_t)} tested (every attempt succeeded)"
            ),
            "below_range": (
                f"below the easiest {_hardest(axis, low_t)} tested (no attempt succeeded)"
            ),
            "not_decreasing": "not estimated (success did not fall as difficulty rose)",
        }.get(est.status, "not estimated")
    conf = f"{100 * est.confidence:g}%"
    point = (
        seconds_text(2**est.x50)
        if axis == "seconds"
        else f"{est.x50:.2f}"
        if axis == "ladder"
        else f"{est.x50:.1f}"
    )
    text = f"{unit}{point}"
    if est.low is not None and est.high is not None:
        text += (
            f" ({conf} CI {_bound(est.low, axis, low_t, high_t)} to "
            f"{_bound(est.high, axis, low_t, high_t)})"
        )
    if est.extrapolated:
        text += ", extrapolated beyond the range tested"
    return text


def _hardest(axis: str, value: float | None) -> str:
    if value is None:
        return axis
    if axis == "ladder":
        return f"ladder difficulty ({value:g})"
    return f"tier ({value:g})" if axis == "tier" else f"fuzzer time ({seconds_text(2**value)})"
