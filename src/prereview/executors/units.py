"""Cutting a plan into work units: each task of the plan on at most `size` of its samples.

Samples already recorded for every epoch are left out, so a resumed run (on any executor) only
cuts what is left; units are small enough that a lost node costs little to redo and that two
nodes share a task.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from prereview.executors.interface import WorkUnit
from prereview.planning.catalog import resolve_task
from prereview.planning.planner import AssessmentPlan, PlannedTask


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
    """Task by task, the next task built on a helper thread while this one's units are handed
    out and run: building a task generates its instances (memory safety: compiling and
    verifying each, ~2.5 s a task on a 2-core host), and built on the head's dispatch loop it
    left the nodes idle at every task boundary. One build at a time; an abandoned cut waits
    for the build in flight (no instance directory is left half-written)."""
    tasks = list(plan.tasks)
    if not tasks:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prereview-cut") as pool:
        ahead = pool.submit(sample_ids, tasks[0].factory, tasks[0].args)
        for n, item in enumerate(tasks):
            ids, epochs = ahead.result()  # a build's error surfaces here, as when built inline
            if n + 1 < len(tasks):
                ahead = pool.submit(sample_ids, tasks[n + 1].factory, tasks[n + 1].args)
            yield from _task_units(item, ids, epochs, done, size)


def _task_units(
    item: PlannedTask,
    ids: list[str | int],
    epochs: int,
    done: dict[tuple[str, str], set[int]],
    size: int,
) -> Iterator[WorkUnit]:
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
