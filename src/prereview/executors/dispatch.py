"""Which node runs which unit: the head hands units to the nodes that passed readiness.

Each unit is pinned to one ready node (Ray's node affinity), so a node that joins mid-run gets
nothing until its own readiness probe passes (it is probed when first seen), and a node that
failed it gets nothing at all. A node holds at most its CPUs plus `AHEAD` units: the next unit
waits in the node's queue and starts as soon as one ends, while the head opens and records the
last one (pipelining) without handing the whole plan to one node. A unit lost with its node, or
with a crashed worker process, goes back to the queue (at most `ATTEMPTS` tries in all); a unit
whose own code raised is a failure, not retried. A node's slots of the run's rate limit come
back as soon as the head sees the node lost, or the attempt that held them end.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prereview.errors import PrereviewError
from prereview.executors import node
from prereview.executors.interface import UnitResult, UnitSettings, WorkUnit

logger = logging.getLogger(__name__)


class CutError(PrereviewError):
    """The head could not cut a task of the plan into units (building the task failed)."""


AHEAD = 1
"""Units queued on a node beyond its CPUs."""
ATTEMPTS = 4
"""Tries of a unit lost with its node or worker process (Ray's own default retries are 3)."""
ORPHAN_GRACE_S = 10.0
"""How long a unit whose node is gone may take to report its loss before it is retried."""
SUSPECT_S = 10.0
"""How long a node that just lost a unit gets no new one (it may be dying: the cluster tells
a lost node in seconds, a unit's loss comes first)."""


def first_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def cpu_nodes() -> dict[str, int]:
    """The live nodes that can run units, with their CPUs (the head may have none)."""
    import ray

    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return {
        n["NodeID"]: int(n["Resources"].get("CPU", 0))
        for n in nodes
        if n["Alive"] and n["Resources"].get("CPU", 0) >= 1
    }


def probe(node_id: str, families: list[str] | None, check: bool = True) -> Any:
    """Start node `node_id`'s report (`node.report`; with `check`, its readiness checks)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task: Any = ray.remote(node.report)
    return task.options(
        num_cpus=0,
        max_retries=0,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
    ).remote(check, families)


@dataclass
class _Out:
    """A unit handed to a node and not back yet."""

    unit: WorkUnit
    node_id: str
    attempt: str
    submitted: float
    orphaned_at: float | None = None


class Dispatcher:
    """The run's queue of units and the ready nodes they go to; see the module docstring."""

    def __init__(
        self,
        ready: list[str],
        families: list[str] | None,
        units: Iterator[WorkUnit],
        settings: UnitSettings,
        api_key: str | None,
        limiter: Any,
        failures: list[str],
        timeline: dict[str, float] | None = None,
    ) -> None:
        import ray

        alive = cpu_nodes()
        self.nodes = {n: alive[n] for n in ready if n in alive}
        """Ready nodes and their CPUs: checked by the preflight, or by a probe mid-run."""
        self.refused: set[str] = set()
        self.families = families
        self.units = units
        self.settings = settings
        self._api_key = api_key
        self.limiter = limiter
        self.failures = failures
        self.retry: collections.deque[WorkUnit] = collections.deque()
        self.tries: collections.Counter[str] = collections.Counter()
        self.never_ran: collections.Counter[str] = collections.Counter()
        self.out: dict[Any, _Out] = {}
        self.suspect: dict[str, float] = {}  # node -> until (monotonic)
        self.probes: dict[Any, str] = {}
        self._head_versions = node.versions()
        self._cut_all = False
        self._task: Any = ray.remote(node.run_unit)
        self.timeline = timeline if timeline is not None else {}
        """`first_cut`, `first_dispatched` (epoch seconds) are marked here; for benchmarks."""

    def finished(self) -> bool:
        return self._cut_all and not self.retry and not self.out

    def outstanding(self) -> list[Any]:
        """Every task still out (units and probes): what a stop cancels."""
        return [*self.out, *self.probes]

    def fill(self) -> None:
        """Hand units to ready nodes with room, least loaded first."""
        while (target := self._room()) is not None and (unit := self._next_unit()) is not None:
            self._submit(unit, target)

    def _room(self) -> str | None:
        load = collections.Counter(o.node_id for o in self.out.values() if o.orphaned_at is None)
        now = time.monotonic()
        free = [
            (load[n] / cpus, n)
            for n, cpus in self.nodes.items()
            if load[n] < cpus + AHEAD and self.suspect.get(n, 0.0) <= now
        ]
        return min(free)[1] if free else None

    def _next_unit(self) -> WorkUnit | None:
        if self.retry:
            return self.retry.popleft()
        try:
            unit = next(self.units, None)
        except Exception as exc:  # not the cluster's fault: the run fails, resumable
            raise CutError(first_line(exc)) from None
        if unit is None:
            self._cut_all = True
        else:
            self.timeline.setdefault("first_cut", time.time())
        return unit

    def _submit(self, unit: WorkUnit, node_id: str) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.tries[unit.unit_id] += 1
        attempt = f"{unit.unit_id}@{self.tries[unit.unit_id]}"
        ref = self._task.options(
            num_cpus=1,
            max_retries=0,  # retried here, on another ready node
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        ).remote(unit, self.settings, self._api_key, self.limiter, attempt)
        self.out[ref] = _Out(unit, node_id, attempt, time.time())
        self.timeline.setdefault("first_dispatched", self.out[ref].submitted)

    def wait(self, timeout_s: float) -> list[tuple[UnitResult, dict[str, float]]]:
        """Results that came back within `timeout_s` (with the head's timings so far); a lost
        unit goes back to the queue, a probe's node becomes ready or refused."""
        import ray
        from ray.exceptions import (
            RayError,
            RayTaskError,
            TaskCancelledError,
            TaskUnschedulableError,
        )

        refs = self.outstanding()
        if not refs:
            time.sleep(timeout_s)  # no ready node has room: wait for one to join
            return []
        ready, rest = ray.wait(refs, num_returns=1, timeout=timeout_s)
        if not ready:
            return []
        if rest:  # and whatever else is back by now
            ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        results: list[tuple[UnitResult, dict[str, float]]] = []
        for ref in ready:
            if ref in self.probes:
                self._probed(ref)
                continue
            out = self.out.pop(ref, None)
            if out is None:
                continue
            head = {"submitted": out.submitted, "ready": time.time()}
            mark = time.perf_counter()
            try:
                result: UnitResult = ray.get(ref)
            except (RayTaskError, TaskCancelledError) as exc:  # the unit's own failure
                self.failures.append(f"unit {out.unit.unit_id}: {first_line(exc)}")
                continue
            except TaskUnschedulableError as exc:  # its node was gone before it started
                self.never_ran[out.unit.unit_id] += 1
                if self.never_ran[out.unit.unit_id] <= ATTEMPTS:
                    self.tries[out.unit.unit_id] -= 1  # not a try: it never ran
                self._lost(out, first_line(exc))
                continue
            except RayError as exc:  # lost with its node or worker process
                self._lost(out, first_line(exc))
                continue
            finally:
                self._ended(out)
            head["get"] = time.perf_counter() - mark
            results.append((result, head))
        return results

    def _ended(self, out: _Out) -> None:
        if self.limiter is not None:  # a crashed attempt's slots come back now
            self.limiter.end_attempt.remote(out.attempt)

    def _lost(self, out: _Out, why: str) -> None:
        self.suspect[out.node_id] = time.monotonic() + SUSPECT_S
        if self.tries[out.unit.unit_id] < ATTEMPTS:
            logger.info("unit %s lost (%s); retried", out.unit.unit_id, why)
            self.retry.append(out.unit)
        else:
            self.failures.append(f"unit {out.unit.unit_id}: {why} ({ATTEMPTS} attempts)")

    def watch_nodes(self) -> None:
        """Drop lost nodes (their units go back to the queue), probe nodes that joined."""
        import ray

        alive = cpu_nodes()
        for gone in [n for n in self.nodes if n not in alive]:
            logger.info("node %s lost", gone[:12])
            del self.nodes[gone]
        now = time.monotonic()
        for ref, out in list(self.out.items()):
            if out.node_id in alive:
                continue
            if out.orphaned_at is None:
                out.orphaned_at = now
            elif now - out.orphaned_at >= ORPHAN_GRACE_S:  # Ray did not report it: retry
                del self.out[ref]
                ray.cancel(ref, force=True)
                self._ended(out)
                self._lost(out, "its node was lost")
        probing = set(self.probes.values())
        for joined in alive.keys() - self.nodes.keys() - self.refused - probing:
            self.probes[probe(joined, self.families)] = joined
        if self.limiter is not None:  # slots held by lost nodes come back
            self.limiter.retain.remote(list(alive))

    def _probed(self, ref: Any) -> None:
        import ray

        node_id = self.probes.pop(ref)
        try:
            rep: node.NodeReport = ray.get(ref)
        except Exception as exc:
            why: str | None = f"node {node_id[:12]} could not report: {first_line(exc)}"
        else:
            why = node.problem(rep, self._head_versions)
        if why is not None:
            logger.warning("%s; no unit is scheduled there", why)
            self.refused.add(node_id)
            return
        cpus = cpu_nodes().get(node_id)
        if cpus:
            logger.info("node %s joined and is ready", node_id[:12])
            self.nodes[node_id] = cpus
