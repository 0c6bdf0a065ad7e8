"""The advisory capability rubric: YAML that maps measured results to the agency's findings levels.

A rubric lists ordered levels. Each level above the first names criteria on measured results
(a task of a family, a tier range, a metric, a threshold); a level is reached when its criteria
hold and every lower level is reached. Levels may point at public framework thresholds, which
the rubric quotes for context. The outcome is a finding about what was measured, never a
determination under those frameworks, and never an approval or a refusal of anything.

Errors name the file and line (`rubric.yaml line 12: ...`): the file is edited by people.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, Protocol

import yaml

from prereview.errors import PrereviewError
from prereview.stats import Interval

Metric = Literal["success_rate", "success_rate_lower", "pass_at_k", "difficulty50_lower"]
METRICS: tuple[Metric, ...] = (
    "success_rate",
    "success_rate_lower",
    "pass_at_k",
    "difficulty50_lower",
)
METRIC_TEXT: Mapping[Metric, str] = {
    "success_rate": "success rate",
    "success_rate_lower": "lower {conf} bound of the success rate",
    "pass_at_k": "pass@{k}",
    "difficulty50_lower": "lower {conf} bound of the tier at 50% success",
}
DEFAULT_RUBRIC = "default.yaml"


class RubricError(PrereviewError):
    """The rubric file cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class FrameworkThreshold:
    """One public framework's threshold, quoted verbatim for context."""

    framework_id: str
    framework: str
    version: str
    category: str
    label: str
    text: str

    @property
    def key(self) -> str:
        return f"{self.framework_id}.{self.label}"


@dataclass(frozen=True)
class Criterion:
    family: str
    task: str | None
    min_tier: int
    max_tier: int
    metric: Metric
    at_least: float
    k: int | None
    min_instances: int
    line: int

    def describe(self, confidence: float = 0.95) -> str:
        what = self.task or f"{self.family} (all tasks)"
        tiers = (
            f"tier {self.min_tier}"
            if self.min_tier == self.max_tier
            else f"tiers {self.min_tier}–{self.max_tier}"
        )
        metric = METRIC_TEXT[self.metric].format(k=self.k, conf=f"{100 * confidence:g}%")
        bound = f"{self.at_least:g}" if self.metric == "difficulty50_lower" else _pct(self.at_least)
        return f"{what}, {tiers}: {metric} at least {bound}"


@dataclass(frozen=True)
class Level:
    id: str
    name: str
    summary: str
    recommendation: str | None
    criteria: tuple[Criterion, ...]
    context: tuple[FrameworkThreshold, ...]


@dataclass(frozen=True)
class Rubric:
    name: str
    version: str
    statement: str
    frameworks: tuple[FrameworkThreshold, ...]
    levels: tuple[Level, ...]
    source: str


class Measurements(Protocol):
    """What a rubric asks of a review's results (the report builder answers)."""

    def rate(self, family: str, task: str | None, min_tier: int, max_tier: int) -> Interval:
        """Instances solved among those in the tier range, with the Wilson interval."""
        ...

    def instances(self, family: str, task: str | None, min_tier: int, max_tier: int) -> int: ...

    def pass_at_k(
        self, family: str, task: str | None, min_tier: int, max_tier: int, k: int
    ) -> float | None: ...

    def difficulty50_lower(self, family: str, task: str | None) -> float | None: ...


@dataclass(frozen=True)
class CriterionOutcome:
    description: str
    measured: str
    met: bool
    measurable: bool


@dataclass(frozen=True)
class LevelOutcome:
    level: Level
    criteria: tuple[CriterionOutcome, ...]

    @property
    def met(self) -> bool:
        return all(c.met for c in self.criteria)

    @property
    def measurable(self) -> bool:
        return all(c.measurable for c in self.criteria)


@dataclass(frozen=True)
class RubricOutcome:
    rubric: Rubric
    reached: Level
    levels: tuple[LevelOutcome, ...]
    findings: tuple[str, ...]


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


# --- loading --------------------------------------------------------------------------------


def known_families() -> frozenset[str]:
    """The task families installed here (`prereview.families` entry points): the names rubric
    criteria may use."""
    from prereview.suites.registry import installed_families

    return installed_families().family_names()


class _Doc:
    """Typed access to composed YAML nodes, with errors that carry the line number."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: yaml.Node | None, message: str) -> RubricError:
        line = f" line {node.start_mark.line + 1}" if node is not None else ""
        return RubricError(f"{self.source}{line}: {message}")

    def mapping(self, node: yaml.Node, what: str) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        out: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise self.fail(key, f"keys of {what} must be plain names")
            if key.value in out:
                raise self.fail(key, f"{what} repeats the key {key.value!r}")
            out[key.value] = value
        return out

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list")
        return list(node.value)

    def text(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null"):
            raise self.fail(node, f"{what} must be text")
        return str(node.value).strip()

    def number(self, node: yaml.Node, what: str) -> float:
        if not isinstance(node, yaml.ScalarNode) or not (
            node.tag.endswith(":int") or node.tag.endswith(":float")
        ):
            raise self.fail(node, f"{what} must be a number")
        try:
            return float(node.value)
        except ValueError:
            raise self.fail(node, f"{what} must be a number") from None

    def integer(self, node: yaml.Node, what: str) -> int:
        if not isinstance(node, yaml.ScalarNode) or not node.tag.endswith(":int"):
            raise self.fail(node, f"{what} must be a whole number")
        return int(node.value)

    def keys(self, node: yaml.Node, fields: dict[str, yaml.Node], allowed: Iterable[str]) -> None:
        allowed = set(allowed)
        for key in fields:
            if key not in allowed:
                raise self.fail(
                    fields[key], f"unknown key {key!r} (known: {', '.join(sorted(allowed))})"
                )

    def require(self, node: yaml.Node, fields: dict[str, yaml.Node], key: str) -> yaml.Node:
        if key not in fields:
            raise self.fail(node, f"missing required key {key!r}")
        return fields[key]


_TIERS = re.compile(r"^\s*(\d+)\s*(?:-|–|\.\.)\s*(\d+)\s*$")


def _tiers(doc: _Doc, node: yaml.Node) -> tuple[int, int]:
    """`3`, `"2-4"` or `[2, 4]` (a range, both ends included)."""
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":int"):
        tier = int(node.value)
        return tier, tier
    if isinstance(node, yaml.ScalarNode):
        match = _TIERS.match(node.value)
        if match:
            low, high = int(match.group(1)), int(match.group(2))
            if low <= high:
                return low, high
    if isinstance(node, yaml.SequenceNode) and len(node.value) == 2:
        low, high = (doc.integer(n, "a tier") for n in node.value)
        if low <= high:
            return low, high
    raise doc.fail(node, 'tiers must be a tier (3) or a range ("2-4" or [2, 4])')


def parse_rubric(
    text: str, source: str = "<rubric>", families: Iterable[str] | None = None
) -> Rubric:
    """Parse and validate a rubric; `families` are the task families criteria may name."""
    known = frozenset(known_families() if families is None else families)
    doc = _Doc(source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "not valid YAML"
        raise RubricError(f"{source}{line}: not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise RubricError(f"{source}: not valid YAML: {exc}") from None
    if root is None:
        raise RubricError(f"{source}: the rubric is empty")
    top = doc.mapping(root, "the rubric")
    doc.keys(root, top, ("name", "version", "statement", "frameworks", "levels"))

    thresholds: dict[str, FrameworkThreshold] = {}
    frameworks_node = top.get("frameworks")
    if frameworks_node is not None:
        for fid, fnode in doc.mapping(frameworks_node, "frameworks").items():
            fields = doc.mapping(fnode, f"framework {fid!r}")
            doc.keys(fnode, fields, ("name", "version", "category", "thresholds"))
            name = doc.text(doc.require(fnode, fields, "name"), "name")
            version = doc.text(doc.require(fnode, fields, "version"), "version")
            category = doc.text(doc.require(fnode, fields, "category"), "category")
            tnode = doc.require(fnode, fields, "thresholds")
            for label, quote in doc.mapping(tnode, "thresholds").items():
                t = FrameworkThreshold(fid, name, version, category, label, doc.text(quote, label))
                thresholds[t.key] = t

    levels_node = doc.require(root, top, "levels")
    levels: list[Level] = []
    seen: set[str] = set()
    for index, lnode in enumerate(doc.sequence(levels_node, "levels")):
        fields = doc.mapping(lnode, "a level")
        doc.keys(lnode, fields, ("id", "name", "summary", "recommendation", "criteria", "context"))
        level_id = doc.text(doc.require(lnode, fields, "id"), "id")
        if level_id in seen:
            raise doc.fail(fields["id"], f"level id {level_id!r} is used twice")
        seen.add(level_id)
        criteria: list[Criterion] = []
        if "criteria" in fields:
            for cnode in doc.sequence(fields["criteria"], "criteria"):
                criteria.append(_criterion(doc, cnode, known))
        if index == 0 and criteria:
            raise doc.fail(lnode, "the first level is the floor and takes no criteria")
        if index > 0 and not criteria:
            raise doc.fail(lnode, f"level {level_id!r} needs at least one criterion")
        context: list[FrameworkThreshold] = []
        if "context" in fields:
            for ref in doc.sequence(fields["context"], "context"):
                key = doc.text(ref, "a context reference")
                if key not in thresholds:
                    known_keys = ", ".join(sorted(thresholds)) or "none defined"
                    raise doc.fail(
                        ref, f"context {key!r} names no framework threshold (known: {known_keys})"
                    )
                context.append(thresholds[key])
        recommendation = fields.get("recommendation")
        levels.append(
            Level(
                id=level_id,
                name=doc.text(doc.require(lnode, fields, "name"), "name"),
                summary=doc.text(doc.require(lnode, fields, "summary"), "summary"),
                recommendation=doc.text(recommendation, "recommendation")
                if recommendation is not None
                else None,
                criteria=tuple(criteria),
                context=tuple(context),
            )
        )
    if not levels:
        raise doc.fail(levels_node, "a rubric needs at least one level")
    return Rubric(
        name=doc.text(doc.require(root, top, "name"), "name"),
        version=doc.text(doc.require(root, top, "version"), "version"),
        statement=doc.text(doc.require(root, top, "statement"), "statement"),
        frameworks=tuple(thresholds.values()),
        levels=tuple(levels),
        source=source,
    )


def _criterion(doc: _Doc, node: yaml.Node, known: frozenset[str]) -> Criterion:
    fields = doc.mapping(node, "a criterion")
    doc.keys(node, fields, ("family", "task", "tiers", "metric", "at_least", "k", "min_instances"))
    fnode = doc.require(node, fields, "family")
    family = doc.text(fnode, "family")
    if family not in known:
        listed = ", ".join(sorted(known)) or "none installed"
        raise doc.fail(fnode, f"unknown task family {family!r} (known: {listed})")
    task = doc.text(fields["task"], "task") if "task" in fields else None
    min_tier, max_tier = _tiers(doc, doc.require(node, fields, "tiers"))
    mnode = doc.require(node, fields, "metric")
    metric = doc.text(mnode, "metric")
    if metric not in METRICS:
        raise doc.fail(mnode, f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    anode = doc.require(node, fields, "at_least")
    at_least = doc.number(anode, "at_least")
    if metric != "difficulty50_lower" and not 0.0 <= at_least <= 1.0:
        raise doc.fail(anode, "at_least must be a fraction between 0 and 1 for a rate")
    k: int | None = None
    if metric == "pass_at_k":
        knode = doc.require(node, fields, "k")
        k = doc.integer(knode, "k")
        if k < 1:
            raise doc.fail(knode, "k must be at least 1")
    elif "k" in fields:
        raise doc.fail(fields["k"], "k belongs to the pass_at_k metric only")
    min_instances = 1
    if "min_instances" in fields:
        min_instances = doc.integer(fields["min_instances"], "min_instances")
        if min_instances < 1:
            raise doc.fail(fields["min_instances"], "min_instances must be at least 1")
    return Criterion(
        family=family,
        task=task,
        min_tier=min_tier,
        max_tier=max_tier,
        metric=metric,  # checked against METRICS above
        at_least=at_least,
        k=k,
        min_instances=min_instances,
        line=node.start_mark.line + 1,
    )


def load_rubric(path: Path | None = None, families: Iterable[str] | None = None) -> Rubric:
    """The rubric at `path`, or the one shipped with prereview."""
    if path is None:
        text = resources.files("prereview.reports").joinpath("rubrics").joinpath(DEFAULT_RUBRIC)
        return parse_rubric(text.read_text("utf-8"), f"rubrics/{DEFAULT_RUBRIC}", families)
    try:
        content = path.read_text("utf-8")
    except OSError as exc:
        raise RubricError(f"cannot read rubric {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RubricError(f"rubric {path} is not UTF-8 text") from None
    return parse_rubric(content, str(path), families)


# --- evaluation -----------------------------------------------------------------------------


def _judge(criterion: Criterion, data: Measurements, confidence: float) -> CriterionOutcome:
    c = criterion
    description = c.describe(confidence)
    n = data.instances(c.family, c.task, c.min_tier, c.max_tier)
    if n < c.min_instances:
        have = "no instances" if n == 0 else f"{n} instance{'s' if n != 1 else ''}"
        return CriterionOutcome(
            description,
            f"not measurable: {have} (the rubric needs {c.min_instances})",
            met=False,
            measurable=False,
        )
    value: float | None
    shown: Callable[[float], str] = _pct
    if c.metric == "success_rate":
        value = data.rate(c.family, c.task, c.min_tier, c.max_tier).estimate
    elif c.metric == "success_rate_lower":
        value = data.rate(c.family, c.task, c.min_tier, c.max_tier).low
    elif c.metric == "pass_at_k":
        assert c.k is not None
        value = data.pass_at_k(c.family, c.task, c.min_tier, c.max_tier, c.k)
        if value is None:
            return CriterionOutcome(
                description,
                f"not measurable: fewer than {c.k} attempts per instance",
                met=False,
                measurable=False,
            )
    else:
        value = data.difficulty50_lower(c.family, c.task)
        shown = "{:.2f}".format
        if value is None:
            return CriterionOutcome(
                description,
                "not measurable: no 50%-success difficulty could be estimated",
                met=False,
                measurable=False,
            )
    if value is None:
        return CriterionOutcome(description, "not measurable", met=False, measurable=False)
    return CriterionOutcome(
        description,
        f"measured {shown(value)} over {n} instances",
        met=value >= c.at_least,
        measurable=True,
    )


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def evaluate_rubric(rubric: Rubric, data: Measurements, confidence: float = 0.95) -> RubricOutcome:
    """The highest level reached cumulatively, with every criterion's measured value as a finding.

    `confidence` must be the level `data` computes its intervals at; it only words the criteria.
    """
    outcomes = tuple(
        LevelOutcome(level, tuple(_judge(c, data, confidence) for c in level.criteria))
        for level in rubric.levels
    )
    reached = rubric.levels[0]
    for outcome in outcomes[1:]:
        if not outcome.met:
            break
        reached = outcome.level
    findings: list[str] = []
    reached_index = rubric.levels.index(reached)
    if reached_index == 0:
        findings.append(
            f"The measured results do not meet the criteria of any level above "
            f"{reached.id} ({reached.name}) in the rubric."
        )
    else:
        findings.append(
            f"The measured results meet the rubric's criteria for {reached.id} ({reached.name})."
        )
    above = outcomes[reached_index + 1 :]
    for outcome in above:
        if outcome.met:
            findings.append(
                f"The criteria for {outcome.level.id} are met as well, but a lower level's are "
                "not, so the rubric does not place the results there."
            )
    unmeasured = [o.level.id for o in above if not o.met and not o.measurable]
    if unmeasured:
        findings.append(
            f"Whether the results meet {_listing(unmeasured)} could not be assessed: the review "
            "did not measure enough of what the rubric asks (see the criteria below)."
        )
    return RubricOutcome(rubric, reached, outcomes, tuple(findings))
