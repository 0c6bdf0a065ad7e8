"""The `ray` executor: the plan's work units on the nodes of an existing Ray cluster.

Before anything is written (`preflight`): the address must answer, every node with CPUs must
run the head's prereview, Ray and Python versions and pass its readiness checks (`prereview
doctor --node`, run there); else one line and nothing runs.

A node that passed holds for READY_FOR_S in this head process: a later run checks only nodes
it has not seen pass (new or restarted ones); the others report their versions only.

The run (`execute`): a fresh X25519 key pair (private half in this process only); units are cut
from what is not yet recorded, one task at a time, and handed to the ready nodes
(`dispatch.Dispatcher`: a unit lost with its node goes to another; a node that joins mid-run
is probed first); each result holds the unit's Inspect logs sealed to the run's key. The head
opens them into the review's plaintext window (sealed into the vault like a local run's logs) and
records each final sample once, keyed by (task, sample, epoch): a second attempt of a unit, or a
log seen again on resume, records nothing new. The submitter's rate limits hold cluster-wide
(`ClusterRateLimit`, one named actor per run). A withdrawal, Ctrl-C or a lost cluster cancels
every unit (forced after `cancel_grace_s`); nodes then sweep what killed units left.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspect_ai.log import read_eval_log
from sqlalchemy import select

from prereview.domain.lifecycle import SubmissionState
from prereview.executors import cluster, node
from prereview.executors.cluster import parse_address
from prereview.executors.dispatch import CutError, Dispatcher, cpu_nodes, first_line, probe
from prereview.executors.interface import (
    Executor,
    ExecutorError,
    UnitResult,
    UnitSettings,
)
from prereview.executors.ratelimit import ClusterRateLimit
from prereview.executors.sealing import RunKey, SealError
from prereview.executors.units import iter_units, sample_ids
from prereview.review.assessment import AssessmentOutcome, PlanRun
from prereview.review.results import (
    PLAN_ITEM_METADATA,
    SampleOutcome,
    is_final,
    log_ref,
    outcome_of,
    outcomes_in_logs,
    record_outcomes,
)
from prereview.review.service import ReviewService
from prereview.review.views import SubmissionRecord
from prereview.store.tables.review import SubmissionRow
from prereview.vault.errors import ShreddedError

logger = logging.getLogger(__name__)


READY_FOR_S = 600.0
"""How long a node's passed readiness checks hold for later runs of this head process (they
still compare versions). A node that joins, or restarts (a new node id), is checked again;
mid-run, the dispatcher checks it."""
_READY: dict[tuple[str, str, tuple[str, ...] | None], tuple[float, node.NodeReport]] = {}


def _key(families: list[str] | None) -> tuple[str, ...] | None:
    return tuple(families) if families is not None else None


class RayExecutor(Executor):
    name = "ray"

    def __init__(
        self,
        address: str,
        *,
        unit_samples: int = 4,
        connect_timeout_s: float = 5.0,
        readiness_timeout_s: float = 180.0,
        cancel_grace_s: float = 2.0,
    ) -> None:
        self.address = address
        self.host, self.port = parse_address(address)
        if unit_samples < 1:
            raise ExecutorError("a work unit holds at least one sample")
        self.unit_samples = unit_samples
        self.connect_timeout_s = connect_timeout_s
        self.readiness_timeout_s = readiness_timeout_s
        self.cancel_grace_s = cancel_grace_s
        self.nodes: list[node.NodeReport] = []
        self.families: list[str] | None = None
        """The families the nodes were checked for (nodes that join mid-run are, too)."""
        self.timings: list[dict[str, float]] = []
        """Per unit of the last run: the worker's phases plus the head's (`submitted`,
        `ready`: epoch seconds; `get`, `ingest`, `record`: seconds). For benchmarks."""
        self.ran_on: collections.Counter[str] = collections.Counter()
        """Units per node of the last run."""
        self.refused_nodes: set[str] = set()
        """Nodes that joined during the last run and failed their readiness probe."""
        self.timeline: dict[str, float] = {}
        """The head's marks (epoch seconds) of the last preflight and run: `connected`, `ready`,
        `execute`, `setup`, `first_cut`, `first_dispatched`, `first_started` (on the worker),
        `last_recorded`, `stopped`, `ended`, `closed`. For benchmarks: where a run's time goes
        outside its units."""
        self._connected = False
        self._prebuild: threading.Thread | None = None

    # -- before anything is written ------------------------------------------------------------

    def preflight(self, record: SubmissionRecord | None = None, suite: str | None = None) -> None:
        """Connect; refuse in one line a cluster that cannot run this review (the nodes must
        have the tools of the families the review's suite uses). Once passed, it holds for this
        executor's next run (the nodes were checked moments ago)."""
        if self._connected and self.nodes:
            return
        self.timeline = {}
        try:
            self._connect()
            self.timeline["connected"] = time.time()
            self._prebuild = _prebuild(record)
            self.families = _families(record, suite)
            self.nodes = self._ready_nodes(self.families)
            self.timeline["ready"] = time.time()
        except ExecutorError:
            if self._prebuild is not None:  # no instance directory left half-written at exit
                self._prebuild.join()
                self._prebuild = None
            self.close()
            raise

    def _connect(self) -> None:
        """Join the cluster (kept if `cluster.start_early` joined it for this run)."""
        cluster.join(self.address, self.connect_timeout_s)
        self._connected = True

    def _ready_nodes(self, families: list[str] | None) -> list[node.NodeReport]:
        import ray

        deadline = time.monotonic() + self.readiness_timeout_s
        mine = node.versions()
        warming = cluster.take_warming(self.address)
        if warming:  # started while the head imported: below, warm processes answer
            self._passed_early(warming, families, mine, deadline)
        workers = cpu_nodes()
        if not workers:
            raise ExecutorError(f"the Ray cluster at {self.address} has no node with CPUs")
        now = time.monotonic()
        refs: dict[Any, str] = {}
        checked: set[str] = set()
        for node_id in workers:
            seen = _READY.get((self.address, node_id, _key(families)))
            if seen is None or now - seen[0] >= READY_FOR_S:
                checked.add(node_id)
            # a node that passed moments ago reports its versions only (and warms up)
            refs[probe(node_id, families, check=node_id in checked)] = node_id
        ready, late = ray.wait(
            list(refs), num_returns=len(refs), timeout=max(deadline - time.monotonic(), 1.0)
        )
        if late:
            raise ExecutorError(
                f"node {refs[late[0]][:12]} did not report readiness within "
                f"{self.readiness_timeout_s:.0f} s; check it with `prereview doctor --node`"
            )
        reports: list[node.NodeReport] = []
        problems: list[str] = []
        for ref in ready:
            try:
                rep: node.NodeReport = ray.get(ref)
            except Exception as exc:
                problems.append(f"node {refs[ref][:12]} could not report: {first_line(exc)}")
                continue
            problem = node.problem(rep, mine)
            key = (self.address, rep.node_id, _key(families))
            if problem:
                problems.append(problem)
                _READY.pop(key, None)
            elif rep.node_id in checked:
                _READY[key] = (now, rep)
            reports.append(rep)
        if problems:
            raise ExecutorError(
                " | ".join(p.replace("\n", " ") for p in problems)
                + " — nothing was scheduled (same release on every node; `prereview doctor "
                "--node` there)"
            )
        return reports

    def _passed_early(
        self,
        warming: list[Any],
        families: list[str] | None,
        mine: dict[str, str],
        deadline: float,
    ) -> None:
        """Wait for the early probes (`cluster.start_early`); a node whose checks passed there
        for this run's families (or every family's), with the head's versions, holds as
        checked: the probe below only asks its versions."""
        import ray

        done, _ = ray.wait(
            warming, num_returns=len(warming), timeout=max(deadline - time.monotonic(), 0.0)
        )
        now = time.monotonic()
        for ref in done:
            with contextlib.suppress(Exception):  # the preflight's own probe says why
                rep: node.NodeReport = ray.get(ref)
                covers = rep.checked_for is None or (
                    families is not None and set(families) <= set(rep.checked_for)
                )
                if rep.checked and covers and node.problem(rep, mine) is None:
                    _READY[(self.address, rep.node_id, _key(families))] = (now, rep)

    def close(self) -> None:
        if self._connected:
            with contextlib.suppress(Exception):
                cluster.leave()
            self._connected = False

    # -- the run -------------------------------------------------------------------------------

    def execute(self, run: PlanRun) -> AssessmentOutcome:
        if not self._connected:
            self.preflight(run.record)
        if self._prebuild is not None:  # the first task's instances: built once, not twice at once
            self._prebuild.join()
            self._prebuild = None
        self.timeline["execute"] = time.time()
        self.timings, self.ran_on, self.refused_nodes = [], collections.Counter(), set()
        try:
            return RayRun(self, run).run()
        finally:
            self.close()
            self.timeline["closed"] = time.time()


class RayRun:
    """One run on the cluster. `ingest` opens a unit's sealed logs into the review's plaintext
    window and returns their final samples; `record` stores those not recorded yet, so a unit
    that two attempts finished, or a log seen again, adds nothing."""

    def __init__(self, executor: RayExecutor, run: PlanRun) -> None:
        self.executor = executor
        self.run_ = run
        self.service: ReviewService = run.service
        self.submission_id = run.record.id
        self.log_key = f"reviews/{run.review_id}/logs"
        self.tiers = {t.key: t.tier for t in run.plan.tasks}
        self.key = RunKey.generate()
        self.recorded = 0
        self.withdrawn = False
        self.failures: list[str] = []
        self._limit_actor: Any = None

    def _is_withdrawn(self) -> bool:
        with self.service.db.session() as s:
            state = s.execute(
                select(SubmissionRow.state).where(SubmissionRow.id == self.submission_id)
            ).scalar_one_or_none()
        return state == SubmissionState.WITHDRAWN.value

    def record(self, outcomes: list[SampleOutcome]) -> None:
        try:
            self.recorded += record_outcomes(
                self.service.db,
                self.service.content,
                self.submission_id,
                self.run_.review_id,
                self.run_.run_id,
                outcomes,
                keys=self.service.access.vault.keys,
            )
        except ShreddedError:
            self.withdrawn = True

    def ingest(self, result: UnitResult, log_dir: Path) -> list[SampleOutcome]:
        """Open the unit's sealed logs into the plaintext window; its final samples."""
        outcomes: list[SampleOutcome] = []
        for sealed in result.logs:
            name = Path(sealed.name).name
            if name != sealed.name or not name.endswith(".eval"):
                self.failures.append(f"unit {result.unit_id}: refused log name {sealed.name!r}")
                continue
            try:
                plain = self.key.open(name, sealed.blob)
            except SealError as exc:
                self.failures.append(f"unit {result.unit_id}: {exc}")
                continue
            path = log_dir / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(plain)
            log = read_eval_log(str(path))
            key = (log.eval.metadata or {}).get(PLAN_ITEM_METADATA)
            if key not in self.tiers:
                continue
            for sample in log.samples or []:
                if is_final(sample):
                    ref = log_ref(self.log_key, name, str(sample.id), sample.epoch)
                    outcomes.append(outcome_of(sample, key, log.eval.task, self.tiers[key], ref))
        return outcomes

    def _limiter(self) -> str | None:
        """Start the run's cluster-wide limit, when the submitter declared one. Not waited
        for: units get its handle, and their first requests wait while it starts."""
        import ray

        rec = self.run_.record
        if rec.requests_per_minute is None and rec.max_connections is None:
            return None
        name = f"prereview-limit-{self.run_.run_id}"
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = ray.get_runtime_context().get_node_id()  # the head's node: lost with the run only
        actor: Any = ray.remote(ClusterRateLimit).options(
            name=name,
            namespace=node.NAMESPACE,
            num_cpus=0,
            max_restarts=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=True),
        )
        self._limit_actor = actor.remote(rec.requests_per_minute, rec.max_connections)
        return name

    def run(self) -> AssessmentOutcome:
        run = self.run_
        status: str
        detail: str | None = None
        interrupted = lost = False
        cut_failed: str | None = None
        with self.service.content.working_dir(self.submission_id, self.log_key) as log_dir:
            recovered, _ = outcomes_in_logs(log_dir, self.log_key, self.tiers)
            self.record(recovered)
            done = {(r.task_key, r.sample_id, r.epoch) for r in self.service.results(run.record.id)}
            if run.progress is not None:
                run.progress.start(run.plan.total_samples, len(done))
            dispatch: Dispatcher | None = None
            try:
                settings = UnitSettings(
                    run_id=run.run_id,
                    model=run.record.model,
                    base_url=run.record.base_url,
                    model_args=dict(run.record.model_args),
                    max_connections=run.record.max_connections,
                    sample_time_limit_s=run.plan.sample_time_limit_s,
                    max_tokens=run.plan.max_tokens,
                    seal_to=self.key.public,
                    limiter=self._limiter(),
                )
                dispatch = Dispatcher(
                    [n.node_id for n in self.executor.nodes],
                    self.executor.families,
                    iter_units(run.plan, done, self.executor.unit_samples),
                    settings,
                    run.api_key,
                    self._limit_actor,
                    self.failures,
                    self.executor.timeline,
                )
                self.executor.timeline["setup"] = time.time()
                last_poll = time.monotonic()
                while not dispatch.finished() and not self.withdrawn:
                    dispatch.fill()
                    for result, head in dispatch.wait(run.poll_s):
                        mark = time.perf_counter()
                        outcomes = self.ingest(result, log_dir)
                        head["ingest"] = time.perf_counter() - mark
                        self.record(outcomes)
                        head["record"] = time.perf_counter() - mark - head["ingest"]
                        self.executor.timings.append({**result.phases, **head})
                        self.executor.timeline["last_recorded"] = time.time()
                        started = result.phases.get("started")
                        if started is not None:
                            first = self.executor.timeline.get("first_started", started)
                            self.executor.timeline["first_started"] = min(first, started)
                        self.executor.ran_on[result.node_id] += 1
                        if run.progress is not None:
                            for o in outcomes:
                                run.progress.advance(o.task_key, o.sample_id)
                    if time.monotonic() - last_poll >= run.poll_s:
                        last_poll = time.monotonic()
                        if self._is_withdrawn():
                            self.withdrawn = True
                        dispatch.watch_nodes()
            except KeyboardInterrupt:
                interrupted = True
            except CutError as exc:
                cut_failed = f"the head could not cut the plan into units ({exc})"
            except Exception as exc:  # the cluster went away (GCS lost, driver disconnected)
                lost = True
                detail = (
                    f"the Ray cluster at {self.executor.address} was lost "
                    f"({first_line(exc)}); continue with `prereview assess "
                    f"{self.submission_id} --resume`"
                )
            finally:
                if dispatch is not None:
                    self.executor.refused_nodes = set(dispatch.refused)
                self._stop(dispatch.outstanding() if dispatch is not None else [])
                self.executor.timeline["stopped"] = time.time()
                if run.progress is not None:
                    run.progress.stop()
        record = self.service.get(self.submission_id)
        assert record.review is not None
        planned, finished = record.review.samples_planned, record.review.samples_done
        if self.withdrawn or self.service.access.vault.keys.shredded(self.submission_id):
            status, detail = "stopped_withdrawn", "the submitter withdrew the submission"
        elif interrupted:
            status = "interrupted"
            detail = f"continue with `prereview assess {self.submission_id} --resume`"
        elif cut_failed is not None:
            status, detail = "failed", f"{cut_failed}; fix it, then --resume"
        elif lost:
            status = "interrupted"
        elif finished >= planned:
            status, detail = "completed", None
        else:
            status = "failed"
            reasons = "; ".join(self.failures[:2])
            detail = (
                f"{planned - finished} planned samples did not finish"
                f"{': ' + reasons if reasons else ''}; see the logs, then --resume"
            )[:500]
        self.service.end_run(run.run_id, status, detail)
        self.executor.timeline["ended"] = time.time()
        return AssessmentOutcome(
            submission_id=self.submission_id,
            review_id=run.review_id,
            run_id=run.run_id,
            run_number=run.run_number,
            status=status,
            samples_planned=planned,
            samples_done=finished,
            recorded_this_run=self.recorded,
            log_key=self.log_key,
            detail=detail,
        )

    def _stop(self, pending: list[Any]) -> None:
        """Cancel every unit still out (forced after the grace period), retire the run's limit,
        and have every live node sweep what killed units left. Best effort: the cluster may be
        gone, and then there is nothing to stop."""
        import ray

        with contextlib.suppress(Exception):
            if self._limit_actor is not None:
                self._limit_actor.stop.remote()
        _quietly(lambda: [ray.cancel(ref, force=False) for ref in pending])
        if pending:
            with contextlib.suppress(Exception):
                _, still = ray.wait(
                    pending, num_returns=len(pending), timeout=self.executor.cancel_grace_s
                )
                _quietly(lambda: [ray.cancel(ref, force=True) for ref in still])
        with contextlib.suppress(Exception):
            if self._limit_actor is not None:
                ray.kill(self._limit_actor)
        with contextlib.suppress(Exception):
            sweep_nodes(timeout_s=30.0)


def _families(record: SubmissionRecord | None, suite: str | None) -> list[str] | None:
    """The task families a run of `record` uses: its stored plan's, else `suite`'s (or the
    default suite's); None (check every family) when that cannot be told."""
    from prereview.planning.catalog import default_suite, get_suite, resolve_task

    try:
        plan = record.review.plan if record is not None and record.review is not None else None
        if plan is not None:
            return sorted({resolve_task(t.factory).family for t in plan.tasks})
        if record is None and suite is None:
            return None
        return sorted({t.factory.family for t in get_suite(suite or default_suite()).tasks})
    except Exception:  # an unknown suite is refused later, in one line, by the planner
        return None


def _prebuild(record: SubmissionRecord | None) -> threading.Thread | None:
    """Build the stored plan's first task on the head while the nodes report readiness (the
    head waits idle then): its instances are generated now, so cutting the first unit only
    reads them and the first node starts up to seconds earlier. A failure here is left to the
    cut, which reports it in one line."""
    plan = record.review.plan if record is not None and record.review is not None else None
    if plan is None or not plan.tasks:
        return None
    first = plan.tasks[0]

    def build() -> None:
        with contextlib.suppress(Exception):
            sample_ids(first.factory, first.args)

    thread = threading.Thread(target=build, name="prereview-prebuild", daemon=True)
    thread.start()
    return thread


def _quietly(action: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):
        action()


def sweep_nodes(timeout_s: float = 30.0) -> int:
    """Every live node with CPUs sweeps its plaintext window; returns what was removed."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    sweeper = ray.remote(node.sweep)
    refs = [
        sweeper.options(
            num_cpus=0,
            max_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        ).remote()
        for node_id in cpu_nodes()
    ]
    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
    return sum(int(ray.get(r)) for r in ready)
