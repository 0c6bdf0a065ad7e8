"""How an assessment plan runs: `local` (this process, the default) or `ray` (the nodes of an
existing Ray cluster). See `interface.py`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prereview.executors.interface import Executor, ExecutorError

if TYPE_CHECKING:
    from prereview.config import Settings

EXECUTORS = ("local", "ray")


def checked_choice(name: str | None, address: str | None = None) -> str:
    """The executor `name` (default `local`), refused in one line when it is unknown or its
    address does not fit it (nothing imported: the CLI checks before it starts anything)."""
    name = (name or "local").strip().lower()
    if name == "local" and address:
        raise ExecutorError("--address is for --executor ray")
    if name == "ray" and not address:
        raise ExecutorError("--executor ray needs --address HOST:PORT of the Ray head")
    if name not in EXECUTORS:
        raise ExecutorError(f"unknown executor {name!r}: choose one of {', '.join(EXECUTORS)}")
    return name


def executor_for(name: str | None, address: str | None = None) -> Executor:
    """The executor `name` (default `local`); `ray` needs the head's `address`."""
    if checked_choice(name, address) == "local":
        from prereview.executors.local import LocalExecutor

        return LocalExecutor()
    from prereview.executors.ray import RayExecutor

    assert address is not None
    return RayExecutor(address)


def configured_choice(
    settings: Settings, name: str | None = None, address: str | None = None
) -> tuple[str | None, str | None]:
    """The executor name and address the options give, else the config file's `executor` and
    `ray_address` (no executor built, nothing imported)."""
    chosen = name if name is not None else settings.extra.get("executor")
    where = address if address is not None else settings.extra.get("ray_address")
    if chosen is not None and not isinstance(chosen, str):
        raise ExecutorError("config: executor must be a string (local or ray)")
    if where is not None and not isinstance(where, str):
        raise ExecutorError("config: ray_address must be a string, HOST:PORT")
    if name is None and address is not None and chosen in (None, "local"):
        chosen = "ray"  # an address alone means the cluster at it
    return chosen, where if chosen == "ray" or address is not None else None


def configured_executor(
    settings: Settings, name: str | None = None, address: str | None = None
) -> Executor:
    """The executor the options name, else the config file's `executor` and `ray_address`."""
    return executor_for(*configured_choice(settings, name, address))


__all__ = [
    "EXECUTORS",
    "Executor",
    "ExecutorError",
    "checked_choice",
    "configured_choice",
    "configured_executor",
    "executor_for",
]
