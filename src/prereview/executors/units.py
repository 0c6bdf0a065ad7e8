"""Cutting a plan into work units: each task of the plan on at most `size` of its samples.

Samples already recorded for every epoch are left out, so a resumed run (on any executor) only
cuts what is left; units are small enough that a lost node costs little to redo and that two
nodes share a task.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prereview.executors.interface import WorkUnit
from prereview.planning.catalog import resolve_task
from prereview.planning.planner import AssessmentPlan


def sample_ids(factory: str, args: dict[str, object]) -> tuple[list[str | int], int]:
    """The ids of the samples the task runs, and its epochs (ids as Inspect numbers them when
    the dataset gives none)."""
    task = resolve_task(factory)(**args)
    ids: list[str | int] = [
        s.id if s.id is not None else n for n, s in enumerate(task.dataset, start=1)
    ]
    epochs = task.epochs or 1
    return ids, int(epochs)


def cut_units(
    plan: AssessmentPlan, recorded: Iterable[tuple[str, str, int]], size: int = 4
) -> list[WorkUnit]:
    """Units for what is not yet recorded; `recorded` holds (task key, sample id, epoch)."""
    return list(iter_units(plan, recorded, size))


def iter_units(
    plan: AssessmentPlan, recorded: Iterable[tuple[str, str, int]], size: int = 4
) -> Iterator[WorkUnit]:
    """`cut_units`, one task at a time: the first units can run while later tasks are built."""
    if size < 1:
        raise ValueError("a unit holds at least one sample")
    done: dict[tuple[str, str], set[int]] = {}
    for key, sample, epoch in recorded:
        done.setdefault((key, sample), set()).add(epoch)
    return _units(plan, done, size)


def _units(
    plan: AssessmentPlan, done: dict[tuple[str, str], set[int]], size: int
) -> Iterator[WorkUnit]:
    for item in plan.tasks:
        ids, epochs = sample_ids(item.factory, item.args)
        todo = [i for i in ids if len(done.get((item.key, str(i)), set())) < epochs]
        for n in range(0, len(todo), size):
            yield WorkUnit(
                unit_id=f"{item.key}#{n // size}",
                task_key=item.key,
                factory=item.factory,
                args=dict(item.args),
                tier=item.tier,
                sample_ids=todo[n : n + size],
            )
