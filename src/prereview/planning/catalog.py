"""Suites a review can run, as data: each task with its priority, sample count and expected cost.

A suite names Inspect task factories (`module:function`) and the arguments to call them with;
`sample_arg` names the argument that sets how many samples the task generates, so the planner
can shrink a task to fit the time left. Priority 1 runs first and is dropped last.

Adding a task family is a few lines: a `TaskSpec` per (task, tier) in a new `Suite`, with
`requires` naming the module that must import for the suite to be offered.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from prereview.errors import PrereviewError

if TYPE_CHECKING:  # importing Inspect costs seconds; the CLI lists suites without it
    from inspect_ai import Task


class UnknownSuiteError(PrereviewError):
    pass


@dataclass(frozen=True)
class TaskSpec:
    key: str
    """Unique within the suite; names the task in plans, results and reports."""
    factory: str
    """`module:function` of an Inspect `@task`."""
    samples: int
    priority: int
    args: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    sample_arg: str | None = None
    """Task argument that sets the number of samples (None: fixed, cannot shrink)."""
    sample_unit: int = 1
    """Samples per unit of `sample_arg` (memsafety's `count` is per tier and bug class)."""
    seed_arg: str | None = None
    """Task argument taking the generation seed: drawn fresh for each plan (instances the model
    cannot have seen), then fixed in the stored plan so a resumed run rebuilds the same ones."""
    min_samples: int = 1
    """Fewer samples than this say too little to be worth running: drop instead."""
    tier: int | None = None
    requests_per_sample: float = 1.0
    """Expected generate calls per sample (an agent loop: turns x attempts)."""
    overhead_s_per_sample: float = 0.0
    """Seconds per sample that are not model time (sandbox build, scoring)."""
    setup_s: float = 2.0
    """Seconds to start the task (dataset generation, sandbox images)."""
    description: str = ""

    def task_args(self, samples: int, seed: int | None = None) -> dict[str, Any]:
        args = dict(self.args)
        if self.sample_arg is not None:
            args[self.sample_arg] = max(1, samples // self.sample_unit)
        if self.seed_arg is not None and seed is not None:
            args[self.seed_arg] = seed
        return args

    def load_factory(self) -> Callable[..., Task]:
        module, _, name = self.factory.partition(":")
        factory = getattr(importlib.import_module(module), name)
        if not callable(factory):
            raise TypeError(f"{self.factory} is not callable")
        return factory  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    tasks: tuple[TaskSpec, ...]
    requires: str | None = None
    """A module that must import for this suite to be offered (a family still being built)."""
    sample_time_limit_s: int | None = None
    """Inspect's per-sample time limit for every task of the suite (None: none)."""
    max_tokens: int | None = None
    """Cap on tokens per model reply (None: the provider's default). A time limit cannot stop a
    reply being generated, so a suite meant for a slow local model bounds replies instead."""

    def available(self) -> bool:
        if self.requires is None:
            return True
        module, _, attr = self.requires.partition(":")
        try:
            loaded = importlib.import_module(module)
        except ImportError:
            return False
        return not attr or hasattr(loaded, attr)


_SMOKE = "prereview.suites.smoke:smoke"
_CALIBRATION = "prereview.planning.calibration:calibration"
_MEMSAFETY = "prereview.suites.memsafety.tasks"


def _memsafety(
    tiers: tuple[int, ...],
    bug_classes: tuple[str, ...] | None,
    count: int,
    attempts: int,
    message_limit: int,
    fuzz_seconds: int,
) -> tuple[TaskSpec, ...]:
    """PoC tasks before patch tasks, lower tiers first: a model that cannot reach a tier-1 crash
    says more about tier 4 than a tier-4 run cut short by the deadline would.

    Cost model: an agent turn adds an assistant and a tool message, so a sample makes at most
    about message_limit / 2 generate calls per attempt; sandbox builds and scoring add seconds
    (patch scoring fuzzes for `fuzz_seconds`)."""
    classes = len(bug_classes) if bug_classes else 6
    specs = []
    for kind in ("poc", "patch"):
        for tier in tiers:
            args: dict[str, Any] = {
                "tiers": [tier],
                "attempts": attempts,
                "message_limit": message_limit,
            }
            if bug_classes:
                args["bug_classes"] = list(bug_classes)
            if kind == "patch":
                args["fuzz_seconds"] = fuzz_seconds
            specs.append(
                TaskSpec(
                    key=f"memsafety_{kind}/tier{tier}",
                    factory=f"{_MEMSAFETY}:memsafety_{kind}",
                    args=MappingProxyType(args),
                    sample_arg="count",
                    sample_unit=classes,
                    seed_arg="seed",
                    samples=count * classes,
                    min_samples=classes,
                    tier=tier,
                    priority=tier * 2 - (1 if kind == "poc" else 0),
                    requests_per_sample=message_limit / 2 * attempts,
                    overhead_s_per_sample=5.0 + (fuzz_seconds + 10.0 if kind == "patch" else 0.0),
                    setup_s=10.0,
                    description=f"memory-safety {kind} tier {tier}",
                )
            )
    return tuple(specs)


SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite(
            "smoke",
            "plumbing check: one forced tool call and an answer per sample",
            (
                TaskSpec(
                    key="smoke",
                    factory=_SMOKE,
                    sample_arg="samples",
                    samples=3,
                    priority=1,
                    requests_per_sample=2.0,
                    setup_s=1.0,
                    description="smoke: add two integers with a tool",
                ),
            ),
        ),
        Suite(
            "calibration",
            "a known number of model calls per sample, to measure an endpoint's real throughput",
            (
                TaskSpec(
                    key="calibration",
                    factory=_CALIBRATION,
                    args=MappingProxyType({"turns": 2}),
                    sample_arg="samples",
                    samples=100,
                    priority=1,
                    requests_per_sample=2.0,
                    setup_s=3.0,
                    description="calibration: two generate calls per sample",
                ),
            ),
        ),
        Suite(
            "memsafety-quick",
            "memory-safety PoC and patch, tiers 1-2, one bug class, short agent loops (the demo)",
            _memsafety(
                (1, 2),
                ("heap-buffer-overflow",),
                count=1,
                attempts=1,
                message_limit=6,
                fuzz_seconds=5,
            ),
            requires=f"{_MEMSAFETY}:memsafety_poc",
            sample_time_limit_s=90,
            max_tokens=128,
        ),
        Suite(
            "memsafety",
            "memory-safety PoC and patch, tiers 1-5, every bug class, 3 instances each",
            _memsafety(
                (1, 2, 3, 4, 5), None, count=3, attempts=2, message_limit=80, fuzz_seconds=20
            ),
            requires=f"{_MEMSAFETY}:memsafety_poc",
        ),
    )
}


def available_suites() -> list[str]:
    return [name for name, suite in SUITES.items() if suite.available()]


def default_suite() -> str:
    return "memsafety" if SUITES["memsafety"].available() else "smoke"


def get_suite(name: str) -> Suite:
    suite = SUITES.get(name)
    if suite is None or not suite.available():
        reason = "is not installed yet" if suite is not None else "is unknown"
        raise UnknownSuiteError(
            f"suite {name!r} {reason}; available: {', '.join(available_suites())}"
        )
    return suite
