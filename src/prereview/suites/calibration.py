"""`calibration`: an Inspect task whose cost is known exactly — `samples` x `turns` model calls.

It measures nothing about capability. It exists to measure an endpoint's real throughput and to
check the planner's time model against it (benchmarks/bench_planner.py), and to exercise the
assessment machinery in tests without a sandbox.
"""

from __future__ import annotations

import hashlib

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageUser
from inspect_ai.scorer import includes
from inspect_ai.solver import Generate, Solver, TaskState, solver


@solver
def repeat_generate(turns: int) -> Solver:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        for turn in range(turns):
            if turn:
                state.messages.append(ChatMessageUser(content="Repeat the word once more."))
            state = await generate(state)
        return state

    return solve


@task
def calibration(samples: int = 20, turns: int = 2, seed: int = 0) -> Task:
    words = [hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()[:8] for i in range(max(1, samples))]
    dataset = [
        Sample(input=f"Reply with the word {word} and nothing else.", target=word, id=f"cal-{i}")
        for i, word in enumerate(words)
    ]
    return Task(
        dataset=dataset, solver=repeat_generate(turns), scorer=includes(), name="calibration"
    )
