"""A task family that exists only in the test suite: the proof that a family is one module and
one registration, with no edit to prereview's core.

`echofile_write` asks the model to write a file with given content in its bwrap sandbox; the
scorer copies what was written into a fresh sandbox and reads it back there, so the verdict does
not depend on anything still running in the agent's sandbox. A scorer that cannot decide returns
the interface's `unknown` score.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.agent import react
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, accuracy, scorer
from inspect_ai.solver import TaskState
from inspect_ai.tool import bash
from inspect_ai.util import sandbox

from prereview.sandbox import isolated_sandbox
from prereview.suites.interface import (
    BaselineResult,
    HostCheck,
    PlannedRun,
    Progress,
    SampleCost,
    Suite,
    TaskFactory,
    TaskFamily,
    TaskSpec,
    unknown_score,
)

FAMILY = "echofile"
ANSWER = "answer.txt"


def wanted(index: int) -> str:
    return f"echo-{index}"


@scorer(metrics=[accuracy()])
def read_back_in_fresh_sandbox():  # type: ignore[no-untyped-def]
    async def score(state: TaskState, target: Target) -> Score:
        try:
            written = await sandbox().read_file(ANSWER, text=False)
        except FileNotFoundError:
            return Score(value=INCORRECT, explanation=f"no {ANSWER}")
        try:
            async with isolated_sandbox() as fresh:
                await fresh.write_file(ANSWER, written)
                seen = await fresh.exec(["cat", ANSWER])
        except Exception as exc:  # the grader's own failure: neither success nor failure
            return unknown_score(ANSWER, f"fresh sandbox failed: {type(exc).__name__}")
        ok = seen.success and seen.stdout.strip() == target.text
        return Score(value=CORRECT if ok else INCORRECT, answer=seen.stdout.strip())

    return score


@task
def echofile_write(samples: int = 2, tier: int = 1) -> Task:
    """Write a file with the given content; scored by reading it back in a fresh sandbox."""
    return Task(
        dataset=MemoryDataset(
            [
                Sample(
                    id=f"echo-{i}",
                    input=f"Write exactly {wanted(i)!r} into {ANSWER}, then submit.",
                    target=wanted(i),
                    metadata={"family": FAMILY, "instance_id": f"echo-{i}", "tier": tier},
                )
                for i in range(samples)
            ]
        ),
        solver=react(tools=[bash(timeout=60)]),
        scorer=read_back_in_fresh_sandbox(),
        sandbox="bwrap",
        name="echofile_write",
        metadata={"family": FAMILY},
    )


def _load() -> Callable[..., Task]:
    return echofile_write


class EchoFileFamily(TaskFamily):
    name = FAMILY
    description = "write a file with given content (a family defined only in the tests)"
    tiers = (1,)

    def tasks(self) -> Sequence[TaskFactory]:
        return (TaskFactory(FAMILY, "echofile_write", _load),)

    def cost(self, task: str, tier: int | None, args: Mapping[str, Any]) -> SampleCost:
        return SampleCost(requests=2.0, tokens=200.0, wall_s=1.0, sandbox_cpu_s=0.5)

    def suites(self) -> Sequence[Suite]:
        (factory,) = self.tasks()
        return (
            Suite(
                "echofile-quick",
                "two echo files",
                (
                    TaskSpec.costed(
                        self.cost(factory.name, 1, {}),
                        key="echofile_write/tier1",
                        factory=factory,
                        sample_arg="samples",
                        samples=2,
                        priority=1,
                        tier=1,
                        setup_s=1.0,
                    ),
                ),
                quick=True,
            ),
        )

    def host_checks(self) -> Sequence[HostCheck]:
        found = shutil.which("bwrap")
        return (HostCheck("echofile: bwrap on PATH", found is not None, found or "no bwrap"),)

    def run_baseline(
        self, planned: Sequence[PlannedRun], budget_s: float, progress: Progress | None = None
    ) -> Sequence[BaselineResult]:
        """The non-AI baseline: a fixed program that copies the wanted text (always finds it)."""
        out = []
        with tempfile.TemporaryDirectory() as tmp:
            for run in planned:
                for i in range(int(run.args.get("samples", 2))):
                    start = time.monotonic()
                    path = Path(tmp, ANSWER)
                    path.write_text(wanted(i))
                    found = path.read_text() == wanted(i)
                    out.append(
                        BaselineResult(
                            family=FAMILY,
                            instance_id=f"echo-{i}",
                            tier=1,
                            solver="copy-program",
                            found=found,
                            seconds=time.monotonic() - start,
                            budget_seconds=budget_s,
                        )
                    )
        return out

    def report_notes(self, tasks: Sequence[str]) -> Sequence[str]:
        return ("Echo files were read back in a fresh sandbox, never in the agent's.",)


class OutOfVocabularyFamily(EchoFileFamily):
    """Breaks the interface: tier 7 is not in the shared vocabulary."""

    name = "outofvocab"
    tiers = (7,)

    def tasks(self) -> Sequence[TaskFactory]:
        return ()

    def suites(self) -> Sequence[Suite]:
        return ()
