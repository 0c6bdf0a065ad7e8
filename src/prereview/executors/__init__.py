"""How an assessment plan runs: `local` (this process, the default) or `ray` (the nodes of an
existing Ray cluster). See `interface.py`."""

from __future__ import annotations

from prereview.executors.interface import Executor, ExecutorError

EXECUTORS = ("local", "ray")


def executor_for(name: str | None, address: str | None = None) -> Executor:
    """The executor `name` (default `local`); `ray` needs the head's `address`."""
    name = (name or "local").strip().lower()
    if name == "local":
        if address:
            raise ExecutorError("--address is for --executor ray")
        from prereview.executors.local import LocalExecutor

        return LocalExecutor()
    if name == "ray":
        if not address:
            raise ExecutorError("--executor ray needs --address HOST:PORT of the Ray head")
        from prereview.executors.ray import RayExecutor

        return RayExecutor(address)
    raise ExecutorError(f"unknown executor {name!r}: choose one of {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "Executor", "ExecutorError", "executor_for"]
