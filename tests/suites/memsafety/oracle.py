"""Scripted agents for the suite's tasks: an oracle that submits ground truth, and worse ones.

The oracle runs in the eval process, so a callable turn can read ground truth on the host; it
finds the instance from the prompt the sample was given.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspect_ai import Task
from inspect_ai.model import ChatMessage, ChatMessageUser, Model, get_model
from inspect_ai.tool import ToolInfo

from prereview.suites.memsafety.instance import Instance, load_instance

Turn = Callable[[list[ChatMessage], list[ToolInfo]], dict[str, Any]]


def instance_lookup(task: Task) -> Callable[[list[ChatMessage]], Instance]:
    by_prompt = {
        str(s.input).strip(): str(s.metadata["instance_dir"]) for s in task.dataset if s.metadata
    }

    def find(messages: list[ChatMessage]) -> Instance:
        first = next(m for m in messages if isinstance(m, ChatMessageUser))
        return load_instance(Path(by_prompt[first.text.strip()]))

    return find


def bash(command: str) -> dict[str, Any]:
    return {"tool_calls": [{"function": "bash", "arguments": {"command": command}}]}


def submit(answer: str) -> dict[str, Any]:
    return {"tool_calls": [{"function": "submit", "arguments": {"answer": answer}}]}


def write_file(dest: str, data: bytes) -> dict[str, Any]:
    b64 = base64.b64encode(data).decode()
    return bash(f'mkdir -p "$(dirname {dest})" && echo {b64} | base64 -d > {dest}')


def scripted(task: Task, *steps: Callable[[Instance], dict[str, Any]]) -> Model:
    """A model that plays `steps` in order, each given the sample's instance."""
    find = instance_lookup(task)

    def bind(step: Callable[[Instance], dict[str, Any]]) -> Turn:
        return lambda messages, tools: step(find(messages))

    turns = [bind(step) for step in steps]
    return get_model("scripted/agent", turns=turns, memoize=False)


def poc_oracle(task: Task) -> Model:
    return scripted(
        task,
        lambda inst: write_file("poc.bin", inst.file("ground_truth/poc.bin").read_bytes()),
        lambda inst: submit("poc.bin"),
    )


def patch_oracle(task: Task) -> Model:
    return scripted(
        task,
        lambda inst: write_file(
            f"src/{inst.source_name}",
            inst.file(f"ground_truth/fixed/{inst.source_name}").read_bytes(),
        ),
        lambda inst: submit(f"src/{inst.source_name}"),
    )
