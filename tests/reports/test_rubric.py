"""The capability rubric: the shipped file, errors that name the line, and cumulative levels."""

from __future__ import annotations

from pathlib import Path

import pytest

from prereview.reports.rubric import (
    RubricError,
    known_families,
    load_rubric,
    parse_rubric,
)
from prereview.stats import Interval, wilson_interval

FAMILIES = ("memsafety",)

GOOD = """\
name: test rubric
version: "1"
statement: Findings only.
frameworks:
  fw:
    name: A Framework
    version: v1
    category: Cyber
    thresholds:
      High: "Quoted text."
levels:
  - id: L0
    name: floor
    summary: nothing reached
  - id: L1
    name: first
    summary: easy tiers
    criteria:
      - family: memsafety
        task: memsafety_poc
        tiers: "1-2"
        metric: success_rate_lower
        at_least: 0.25
        min_instances: 4
  - id: L2
    name: second
    summary: hard tier
    criteria:
      - family: memsafety
        task: memsafety_poc
        tiers: 3
        metric: success_rate
        at_least: 0.5
    context: [fw.High]
"""


class FakeMeasurements:
    """Instances solved per tier of memsafety_poc, as the rubric asks about them."""

    def __init__(self, per_tier: dict[int, tuple[int, int]], k: float | None = None) -> None:
        self.per_tier = per_tier
        self.k = k

    def _pool(self, low: int, high: int) -> tuple[int, int]:
        wins = sum(w for t, (w, _) in self.per_tier.items() if low <= t <= high)
        n = sum(n for t, (_, n) in self.per_tier.items() if low <= t <= high)
        return wins, n

    def rate(self, family: str, task: str | None, min_tier: int, max_tier: int) -> Interval:
        return wilson_interval(*self._pool(min_tier, max_tier))

    def instances(self, family: str, task: str | None, min_tier: int, max_tier: int) -> int:
        return self._pool(min_tier, max_tier)[1]

    def pass_at_k(
        self, family: str, task: str | None, min_tier: int, max_tier: int, k: int
    ) -> float | None:
        return self.k

    def difficulty50_lower(self, family: str, task: str | None) -> float | None:
        return None


def test_shipped_rubric_loads_against_the_installed_families() -> None:
    assert "memsafety" in known_families()
    rubric = load_rubric()
    assert [level.id for level in rubric.levels] == ["CL0", "CL1", "CL2", "CL3", "CL4"]
    quoted = {t.key for t in rubric.frameworks}
    assert "openai-preparedness-v2.High" in quoted
    assert "openai-preparedness-v2.Critical" in quoted
    assert any(k.startswith("gdm-fsf") for k in quoted)
    assert "eu-gpai-cop.Cyber offence" in quoted
    assert not rubric.levels[0].criteria
    assert all(level.criteria for level in rubric.levels[1:])


def test_shipped_rubric_never_words_an_approval() -> None:
    rubric = load_rubric()
    words = " ".join(
        [rubric.statement]
        + [f"{lv.name} {lv.summary} {lv.recommendation or ''}" for lv in rubric.levels]
    ).lower()
    for word in ("approve", "approval", "denied", "deny", "blocked", "pass", "fail"):
        assert word not in words


def test_levels_are_reached_cumulatively() -> None:
    rubric = parse_rubric(GOOD, families=FAMILIES)
    strong = FakeMeasurements({1: (10, 10), 2: (9, 10), 3: (7, 10)})
    from prereview.reports.rubric import evaluate_rubric

    outcome = evaluate_rubric(rubric, strong)
    assert outcome.reached.id == "L2"
    assert outcome.levels[2].level.context[0].text == "Quoted text."

    # L2's own criterion holds, but L1's does not: the rubric stops at L0 and says why
    gap = FakeMeasurements({1: (1, 10), 2: (1, 10), 3: (9, 10)})
    outcome = evaluate_rubric(rubric, gap)
    assert outcome.reached.id == "L0"
    assert any("L2 are met as well" in f for f in outcome.findings)


def test_too_few_instances_is_not_measurable_and_said_so() -> None:
    from prereview.reports.rubric import evaluate_rubric

    rubric = parse_rubric(GOOD, families=FAMILIES)
    outcome = evaluate_rubric(rubric, FakeMeasurements({1: (2, 2)}))
    first = outcome.levels[1].criteria[0]
    assert not first.met
    assert not first.measurable
    assert "needs 4" in first.measured
    assert outcome.reached.id == "L0"
    assert any("could not be assessed" in f for f in outcome.findings)


def test_pass_at_k_criterion() -> None:
    from prereview.reports.rubric import evaluate_rubric

    text = GOOD.replace("metric: success_rate\n", "metric: pass_at_k\n        k: 3\n")
    rubric = parse_rubric(text, families=FAMILIES)
    data = FakeMeasurements({1: (10, 10), 2: (10, 10), 3: (2, 10)}, k=0.6)
    assert evaluate_rubric(rubric, data).reached.id == "L2"
    data = FakeMeasurements({1: (10, 10), 2: (10, 10), 3: (2, 10)}, k=None)
    crit = evaluate_rubric(rubric, data).levels[2].criteria[0]
    assert not crit.measurable
    assert "attempts" in crit.measured


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        (
            "      - family: memsafety\n        task: memsafety_poc\n        tiers: 3",
            "      - family: webexploit\n        task: memsafety_poc\n        tiers: 3",
            29,
            "unknown task family 'webexploit'",
        ),
        ("metric: success_rate\n", "metric: accuracy\n", 32, "unknown metric"),
        ('tiers: "1-2"', 'tiers: "3-1"', 21, "tiers must be"),
        ("at_least: 0.5", "at_least: 50", 33, "fraction between 0 and 1"),
        ("context: [fw.High]", "context: [fw.Medium]", 34, "names no framework"),
        ("    name: second\n", "    name: second\n    colour: red\n", 27, "unknown key 'colour'"),
        ("  - id: L2", "  - id: L1", 25, "used twice"),
        ("        at_least: 0.25\n", "", 19, "missing required key 'at_least'"),
    ],
)
def test_errors_name_the_line(old: str, new: str, line: int, message: str) -> None:
    assert old in GOOD
    broken = GOOD.replace(old, new, 1)
    with pytest.raises(RubricError) as info:
        parse_rubric(broken, "my-rubric.yaml", families=FAMILIES)
    text = str(info.value)
    assert text.startswith(f"my-rubric.yaml line {line}:"), text
    assert message in text


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "rubric.yaml"
    path.write_text(GOOD.replace("context: [fw.High]", "context: [fw.High"))
    with pytest.raises(RubricError) as info:
        load_rubric(path, families=FAMILIES)
    assert str(info.value).startswith(f"{path} line ")
    assert "not valid YAML" in str(info.value)


def test_unreadable_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match="cannot read rubric"):
        load_rubric(tmp_path / "missing.yaml", families=FAMILIES)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(RubricError, match="empty"):
        load_rubric(empty, families=FAMILIES)


def test_first_level_is_a_floor_without_criteria() -> None:
    text = GOOD.replace(
        "    summary: nothing reached\n",
        "    summary: nothing reached\n    criteria:\n      - family: memsafety\n"
        "        tiers: 1\n        metric: success_rate\n        at_least: 0.1\n",
    )
    with pytest.raises(RubricError, match="line 12: the first level is the floor"):
        parse_rubric(text, "r.yaml", families=FAMILIES)
