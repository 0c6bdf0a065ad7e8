"""The provider inside Inspect: `sandbox="bwrap"` with the standard bash/python tools and react."""

from __future__ import annotations

from pathlib import Path

from inspect_ai import Task, eval
from inspect_ai.agent import react
from inspect_ai.dataset import Sample
from inspect_ai.model import get_model
from inspect_ai.scorer import Score, Target, accuracy, scorer
from inspect_ai.solver import TaskState
from inspect_ai.tool import bash, python
from inspect_ai.util import sandbox
from inspect_ai.util._sandbox.registry import registry_find_sandboxenv

from prereview.sandbox import BwrapConfig, BwrapSandboxEnvironment, isolated_sandbox
from prereview.sandbox.state import state_root
from tests.sandbox.conftest import needs_bwrap

pytestmark = needs_bwrap


@scorer(metrics=[accuracy()])
def scored_in_fresh_sandbox():  # type: ignore[no-untyped-def]
    async def score(state: TaskState, target: Target) -> Score:
        planted = await sandbox().read_file("answer.txt")
        async with isolated_sandbox() as fresh:  # the agent's files are not in here
            clean = not (await fresh.exec(["test", "-e", "answer.txt"])).success
        peer = await sandbox("target").exec(["hostname"])
        ok = planted.strip() == target.text and clean and peer.stdout == "target\n"
        return Score(value=1 if ok else 0, explanation=planted)

    return score


def test_react_agent_with_bash_and_python_tools(tmp_path: Path) -> None:
    assert registry_find_sandboxenv("bwrap") is BwrapSandboxEnvironment
    turns = [
        {"tool_calls": [{"function": "bash", "arguments": {"command": "cat given.txt"}}]},
        {
            "tool_calls": [
                {
                    "function": "python",
                    "arguments": {
                        "code": "import socket\nopen('answer.txt','w').write("
                        "open('given.txt').read().upper() + socket.gethostname())"
                    },
                }
            ]
        },
        {"tool_calls": [{"function": "submit", "arguments": {"answer": "done"}}]},
    ]
    task = Task(
        dataset=[Sample(input="go", target="DATAdefault", files={"given.txt": "data"})],
        solver=react(tools=[bash(timeout=60), python(timeout=60)]),
        scorer=scored_in_fresh_sandbox(),
        sandbox=("bwrap", BwrapConfig(hosts=["default", "target"])),
    )
    log = eval(
        task,
        model=get_model("scripted/x", turns=turns),
        log_dir=str(tmp_path),
        display="none",
    )[0]
    assert log.status == "success", log.error
    sample = log.samples[0]
    tool_outputs = [m.text for m in sample.messages if m.role == "tool"]
    assert tool_outputs[0] == "data"
    assert sample.scores["scored_in_fresh_sandbox"].value == 1
    assert not [
        p for p in state_root().glob("s-*") if (p / "owner.json").exists() and _owned_by_me(p)
    ]


def _owned_by_me(directory: Path) -> bool:
    import json
    import os

    return json.loads((directory / "owner.json").read_text())["owner_pid"] == os.getpid()
