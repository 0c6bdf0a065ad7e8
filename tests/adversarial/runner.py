"""Run many agents through one real Inspect task: one sample per agent, one eval per task.

The samples are the task's own (same files, sandbox, solver and scorer); each copy's prompt ends
with the agent's name, which is how the `scripted` model knows which script to replay.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspect_ai import Task, eval, task_with
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessage, ChatMessageUser, get_model
from inspect_ai.scorer import Score
from inspect_ai.tool import ToolInfo

from .cheats import Cheat, Target

_TAG = re.compile(r"\[adversarial agent: ([\w-]+)\]\s*$")
MAX_TURNS = 8


def _agent_of(messages: list[ChatMessage]) -> str:
    for m in messages:
        if isinstance(m, ChatMessageUser):
            found = _TAG.search(m.text.strip())
            if found:
                return found.group(1)
    raise AssertionError("no agent tag in the sample's prompt")


def tagged_task(task: Task, cheats: list[Cheat]) -> Task:
    """`task` with one copy of its bug class's sample per cheat, ids = cheat names."""
    base = {}
    for s in task.dataset:
        assert s.metadata is not None
        base[s.metadata["bug_class"]] = s
    samples = []
    for c in cheats:
        s = base[c.bug.value]
        samples.append(
            Sample(
                id=c.name,
                input=f"{s.input}\n\n[adversarial agent: {c.name}]",
                target=s.target,
                files=s.files,
                setup=s.setup,
                metadata={**(s.metadata or {}), "adversarial_agent": c.name},
            )
        )
    return task_with(task, dataset=MemoryDataset(samples, name=f"adversarial-{task.name}"))


def run_agents(
    task: Task, cheats: list[Cheat], targets: dict[str, Target], log_dir: Path
) -> dict[str, Score | str]:
    """Each cheat's score (or the sample's error text) after one eval of `task`."""
    by_name = {c.name: c for c in cheats}
    cache: dict[str, list[dict[str, Any]]] = {}

    def turns_of(name: str) -> list[dict[str, Any]]:
        if name not in cache:
            cheat = by_name[name]
            cache[name] = cheat.turns(targets[cheat.bug.value])
        return cache[name]

    def step(k: int) -> Callable[[list[ChatMessage], list[ToolInfo]], dict[str, Any]]:
        def play(messages: list[ChatMessage], tools: list[ToolInfo]) -> dict[str, Any]:
            turns = turns_of(_agent_of(messages))
            return turns[k] if k < len(turns) else {"content": "done"}

        return play

    model = get_model(
        "scripted/adversary", turns=[step(k) for k in range(MAX_TURNS)], memoize=False
    )
    (log,) = eval(
        tagged_task(task, cheats),
        model=model,
        log_dir=str(log_dir),
        display="none",
        fail_on_error=False,
    )
    assert log.samples is not None, log.error
    out: dict[str, Score | str] = {}
    for s in log.samples:
        if s.scores:
            out[str(s.id)] = next(iter(s.scores.values()))
        else:
            out[str(s.id)] = f"no score: {s.error.message if s.error else 'unknown'}"
    return out
