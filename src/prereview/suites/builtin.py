"""prereview's two plumbing families, registered through the same entry points as any other:
`smoke` (a model answers through Inspect and uses a tool) and `calibration` (a known number of
model calls per sample, to measure an endpoint's throughput). Neither measures capability."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from prereview.suites.interface import SampleCost, Suite, TaskFactory, TaskFamily, TaskSpec

if TYPE_CHECKING:
    from inspect_ai import Task


def _smoke() -> Callable[..., Task]:
    from prereview.suites.smoke import smoke

    return smoke


def _calibration() -> Callable[..., Task]:
    from prereview.suites.calibration import calibration

    return calibration


class SmokeFamily(TaskFamily):
    name = "smoke"
    description = "plumbing check: one forced tool call and an answer per sample"

    def tasks(self) -> Sequence[TaskFactory]:
        return (TaskFactory(self.name, "smoke", _smoke),)

    def cost(self, task: str, tier: int | None, args: Mapping[str, Any]) -> SampleCost:
        return SampleCost(requests=2.0)

    def suites(self) -> Sequence[Suite]:
        (factory,) = self.tasks()
        return (
            Suite(
                "smoke",
                self.description,
                (
                    TaskSpec.costed(
                        self.cost("smoke", None, {}),
                        key="smoke",
                        factory=factory,
                        sample_arg="samples",
                        samples=3,
                        priority=1,
                        setup_s=1.0,
                        description="smoke: add two integers with a tool",
                    ),
                ),
                quick=True,
            ),
        )


class CalibrationFamily(TaskFamily):
    name = "calibration"
    description = (
        "a known number of model calls per sample, to measure an endpoint's real throughput"
    )

    def tasks(self) -> Sequence[TaskFactory]:
        return (
            TaskFactory(
                self.name,
                "calibration",
                _calibration,
                aliases=("prereview.planning.calibration:calibration",),
            ),
        )

    def cost(self, task: str, tier: int | None, args: Mapping[str, Any]) -> SampleCost:
        return SampleCost(requests=float(args.get("turns", 2)))

    def suites(self) -> Sequence[Suite]:
        (factory,) = self.tasks()
        args = MappingProxyType({"turns": 2})
        return (
            Suite(
                "calibration",
                self.description,
                (
                    TaskSpec.costed(
                        self.cost("calibration", None, args),
                        key="calibration",
                        factory=factory,
                        args=args,
                        sample_arg="samples",
                        samples=100,
                        priority=1,
                        setup_s=3.0,
                        description="calibration: two generate calls per sample",
                    ),
                ),
            ),
        )
