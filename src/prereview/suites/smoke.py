"""`smoke`: the smallest end-to-end check that a model answers through Inspect and uses a tool.

The first turn forces a call of the `add` tool (grammar-constrained for the `local` provider), the
tool's result goes back to the model, and the second turn answers in plain text. It measures
plumbing, not capability: `prereview doctor` and the early demo use it.
"""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import execute_tools
from inspect_ai.scorer import includes
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.tool import Tool, ToolFunction, tool

_PROBLEMS = [(17, 25), (120, 33), (8, 9)]


@tool
def add() -> Tool:
    async def execute(x: int, y: int) -> str:
        """Add two integers.

        Args:
          x: First integer.
          y: Second integer.

        Returns:
          The sum as decimal text.
        """
        return str(int(x) + int(y))

    return execute


@solver
def call_then_answer() -> Solver:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.tools = [add()]
        state.tool_choice = ToolFunction("add")
        state = await generate(state, tool_calls="none")
        if state.output.message.tool_calls:
            messages, _ = await execute_tools(state.messages, state.tools)
            state.messages.extend(messages)
        state.tool_choice = "none"
        return await generate(state, tool_calls="none")

    return solve


@task
def smoke(samples: int = 3) -> Task:
    dataset = [
        Sample(
            input=f"Use the add tool to compute {x} + {y}, then state the result.",
            target=str(x + y),
            id=f"add-{x}-{y}",
        )
        for x, y in _PROBLEMS[: max(1, min(samples, len(_PROBLEMS)))]
    ]
    return Task(dataset=dataset, solver=call_then_answer(), scorer=includes(), name="smoke")
