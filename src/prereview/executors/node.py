"""What runs on a worker node: its report (versions, readiness), a unit, the sweep.

A unit runs Inspect in a fresh private directory of the node's plaintext window (a tmpfs, or the
node's `plaintext_dir`), with Inspect's temp, data and cache dirs inside it. When Inspect
returns, each log is sealed to the run's public key and the directory is deleted; the unit
returns sealed bytes only. The model credential is an argument of the call, kept in memory for
the unit's model and dropped with it. A unit killed mid-run (its node lost, the run withdrawn)
leaves its directory unlocked: `sweep` removes it, at the start of every unit, after every run,
and at node start (`prereview doctor --node`). The node never sees a submission's data key.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.metadata
import os
import platform
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prereview.config import load_settings
from prereview.executors.interface import SealedLog, UnitResult, UnitSettings, WorkUnit
from prereview.executors.sealing import seal
from prereview.vault.workspace import _CONFINED, PlaintextWorkspace, confine_temp

NAMESPACE = "prereview"
"""The Ray namespace of prereview's named actors (a run's rate limit)."""

NODE_TAG = Path("prereview-ray-node")
"""Stands for the data dir in the node's workspace paths: a node has none."""


@dataclass(frozen=True)
class NodeReport:
    node_id: str
    host: str
    versions: dict[str, str]
    failed: list[str] = field(default_factory=list)
    """Required readiness checks that failed, as 'name: detail'."""
    checked: bool = False
    """The readiness checks ran (`failed` lists what failed of them)..."""
    checked_for: list[str] | None = None
    """...for these families (None: every family's)."""


def versions() -> dict[str, str]:
    """What must match between the head and every node."""
    import ray

    return {
        "prereview": importlib.metadata.version("prereview"),
        "ray": ray.__version__,
        "python": platform.python_version(),
    }


def problem(rep: NodeReport, head: dict[str, str]) -> str | None:
    """Why the head must not schedule onto the node that sent `rep` (None: it may)."""
    label = f"node {rep.node_id[:12]} ({rep.host})"
    wrong = [
        f"{what} {rep.versions.get(what)}, this head {version}"
        for what, version in head.items()
        if rep.versions.get(what) != version
    ]
    if wrong:
        return f"version mismatch: {label} runs {'; '.join(wrong)}"
    if rep.failed:
        return f"{label} fails readiness: {rep.failed[0]}"
    return None


def node_workspace() -> PlaintextWorkspace:
    from prereview.vault.service import plaintext_base

    return PlaintextWorkspace(plaintext_base(load_settings()), NODE_TAG)


def sweep(workspace: PlaintextWorkspace | None = None) -> int:
    """Delete what killed units left in this node's plaintext window; returns how many."""
    workspace = workspace or node_workspace()
    removed = 0
    for orphan in workspace.orphans():
        workspace.remove(orphan.path)
        removed += 1
    return removed + workspace.sweep_abandoned()


def report(check: bool = True, families: list[str] | None = None) -> NodeReport:
    """This node's versions and, with `check`, its failed readiness checks (after a sweep): the
    sandbox, the plaintext window and the tools of `families` (None: every family's). Also
    warms the worker process for the run's units (a run is its own Ray job, with its own
    worker processes): what a unit imports or loads is imported or loaded here, during the
    preflight (`warm_inspect`)."""
    import ray

    import prereview.models.simulated
    import prereview.planning.catalog  # noqa: F401
    from prereview.doctor import run_node_checks

    warm_inspect()

    failed: list[str] = []
    if check:
        sweep()
        failed = [
            f"{r.name}: {r.detail}"
            for r in run_node_checks(
                load_settings(), set(families) if families is not None else None
            )
            if r.required and not r.ok
        ]
    return NodeReport(
        node_id=ray.get_runtime_context().get_node_id(),
        host=socket.gethostname(),
        versions=versions(),
        failed=failed,
        checked=check,
        checked_for=sorted(families) if families is not None else None,
    )


def warm_inspect() -> None:
    """Load in this process what Inspect loads lazily in its first eval, so a run's first unit
    does not pay for it inside its sample: the eval entry point, the ACP server module that every
    eval imports (its pydantic schema) and the model-info database that the first generate reads
    (~0.8 s each on a 2-core host: the first sample in a fresh worker took 0.8-1.5 s, later ones
    0.3-0.4 s)."""
    from inspect_ai import eval as _eval  # noqa: F401
    from inspect_ai.model import get_model_info

    with contextlib.suppress(ImportError):  # a private module: a later Inspect may move it
        importlib.import_module("inspect_ai.agent._acp.server")
    get_model_info("openai/gpt-4o")  # any listed name: the lookup loads the whole database


def _limit(model: Any, limiter: Any, attempt: str) -> None:
    """Every request of `model` first takes a slot of the run's cluster-wide limit (`limiter`:
    the handle of the run's `ClusterRateLimit` actor; calls wait while it starts), held by this
    node and unit `attempt`."""
    import ray

    holder = ray.get_runtime_context().get_node_id()
    inner = model.api.generate

    async def generate(*args: Any, **kwargs: Any) -> Any:
        while True:
            grant = await limiter.acquire.remote(holder, attempt)
            if grant.wait_s <= 0:
                break
            await asyncio.sleep(grant.wait_s)
        try:
            return await inner(*args, **kwargs)
        finally:
            limiter.release.remote(grant.lease)

    model.api.generate = generate


class Phases:
    """Seconds spent per named phase of one unit (for `UnitResult.phases`)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {"started": time.time()}
        self._mark = time.perf_counter()

    def lap(self, name: str) -> None:
        """The time since the last lap goes to `name`."""
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._mark
        self._mark = now

    def done(self) -> dict[str, float]:
        self.seconds["ended"] = time.time()
        return self.seconds


def run_unit(
    unit: WorkUnit,
    settings: UnitSettings,
    api_key: str | None,
    limiter: Any = None,
    attempt: str = "",
) -> UnitResult:
    """Run one unit here; see the module docstring. `limiter`: the run's rate-limit actor,
    when the submitter declared limits; the slots this `attempt` takes are its own."""
    import ray

    phases = Phases()
    import prereview.models.simulated  # noqa: F401  (registers the `simulated` provider)

    node_id = ray.get_runtime_context().get_node_id()
    workspace = node_workspace()
    sweep(workspace)
    trace = workspace.confine_inspect_traces() or _confined_trace()
    phases.lap("sweep")
    try:
        return _run_in_workspace(
            workspace, unit, settings, api_key, (limiter, attempt), node_id, phases
        )
    finally:
        if trace is not None and trace.exists():
            os.truncate(trace, 0)  # the worker process lives on; the unit's transcript not


def _confined_trace() -> Path | None:
    chosen = os.environ.get("INSPECT_TRACE_FILE")
    return Path(chosen) if chosen and chosen == os.environ.get(_CONFINED) else None


def _run_in_workspace(
    workspace: PlaintextWorkspace,
    unit: WorkUnit,
    settings: UnitSettings,
    api_key: str | None,
    limit: tuple[Any, str],
    node_id: str,
    phases: Phases,
) -> UnitResult:
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import GenerateConfig, get_model

    from prereview.planning.catalog import resolve_task
    from prereview.review.results import PLAN_ITEM_METADATA

    phases.lap("import")
    with workspace.open("unit", f"{settings.run_id}/{unit.unit_id}") as ws, confine_temp(ws):
        model = get_model(
            settings.model,
            base_url=settings.base_url,
            api_key=api_key,
            config=GenerateConfig(max_connections=settings.max_connections),
            memoize=False,
            **settings.model_args,
        )
        del api_key  # the model holds it, in memory, for this unit only
        if limit[0] is not None:
            _limit(model, *limit)
        phases.lap("model")
        task = resolve_task(unit.factory)(**unit.args)
        task.metadata = {**(task.metadata or {}), PLAN_ITEM_METADATA: unit.task_key}
        phases.lap("task")
        sys.stdout.flush()
        inspect_eval(
            task,
            model=model,
            log_dir=str(ws.files),
            sample_id=list(unit.sample_ids),
            display="none",
            max_samples=settings.max_connections or model.api.max_connections(),
            fail_on_error=False,
            retry_on_error=1,
            score_display=False,
            time_limit=settings.sample_time_limit_s,
            max_tokens=settings.max_tokens,
        )
        phases.lap("eval")
        logs = [
            SealedLog(path.name, seal(settings.seal_to, path.name, path.read_bytes()))
            for path in sorted(ws.files.glob("*.eval"))
        ]
        phases.lap("seal")
    phases.lap("wipe")
    return UnitResult(unit.unit_id, node_id, os.getpid(), logs, phases=phases.done())
