"""Inspect sandbox provider `bwrap`: every sample in its own bubblewrap sandbox, no Docker needed.

Use it as `sandbox="bwrap"` or `sandbox=("bwrap", BwrapConfig(...))` in any Inspect task; each of
`config.hosts` becomes a named environment (`sandbox("target")`). `isolated_sandbox()` gives a
fresh one outside any sample, for scorers that must not trust what the agent's sandbox holds.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from collections.abc import AsyncIterator
from typing import Any, Literal, overload

import anyio
from inspect_ai.util import (
    ExecResult,
    OutputLimitExceededError,
    SandboxEnvironment,
    SandboxEnvironmentConfigType,
    SandboxEnvironmentLimits,
    sandboxenv,
)
from inspect_ai.util._sandbox.environment import SandboxUserUnsupportedError
from pydantic import BaseModel
from typing_extensions import override

from prereview.sandbox.availability import require_bwrap
from prereview.sandbox.config import BwrapConfig, load_config
from prereview.sandbox.host import SandboxHost
from prereview.sandbox.sample import SandboxSample, close_all_live
from prereview.sandbox.sweep import sweep_stale

_INLINE_IO = 1 << 20
"""Files up to this size are read and written on the event loop; larger ones in a thread."""


@sandboxenv(name="bwrap")
class BwrapSandboxEnvironment(SandboxEnvironment):
    """One host of a sample's bwrap sandbox."""

    def __init__(self, host: SandboxHost, sample: SandboxSample) -> None:
        super().__init__()
        self._host = host
        self._sample = sample

    @property
    def name(self) -> str:
        return self._host.name

    @property
    def sample_id(self) -> str:
        return self._sample.sample_id

    @override
    @classmethod
    def config_deserialize(cls, config: dict[str, Any]) -> BaseModel:
        return load_config(config)

    @override
    @classmethod
    def default_concurrency(cls) -> int | None:
        return 4 * (os.cpu_count() or 1)

    @override
    @classmethod
    async def task_init(cls, task_name: str, config: SandboxEnvironmentConfigType | None) -> None:
        load_config(config)
        await anyio.to_thread.run_sync(require_bwrap)

    @override
    @classmethod
    async def sample_init(
        cls, task_name: str, config: SandboxEnvironmentConfigType | None, metadata: dict[str, str]
    ) -> dict[str, SandboxEnvironment]:
        sample = await SandboxSample.create(load_config(config))
        return {name: cls(host, sample) for name, host in sample.hosts.items()}

    @override
    @classmethod
    async def sample_cleanup(
        cls,
        task_name: str,
        config: SandboxEnvironmentConfigType | None,
        environments: dict[str, SandboxEnvironment],
        interrupted: bool,
    ) -> None:
        for environment in environments.values():
            if isinstance(environment, BwrapSandboxEnvironment):
                await environment._sample.close()

    @override
    @classmethod
    async def task_cleanup(
        cls, task_name: str, config: SandboxEnvironmentConfigType | None, cleanup: bool
    ) -> None:
        if cleanup:
            await close_all_live()

    @override
    @classmethod
    async def cli_cleanup(cls, id: str | None) -> None:
        await anyio.to_thread.run_sync(sweep_stale, id)

    @override
    async def exec(
        self,
        cmd: list[str],
        input: str | bytes | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        user: str | None = None,
        timeout: int | None = None,
        timeout_retry: bool = True,
        concurrency: bool = True,
    ) -> ExecResult[str]:
        if not cmd:
            raise ValueError("exec needs a command")
        config = self._host.config
        if user is not None and user not in (config.user, str(config.uid)):
            raise SandboxUserUnsupportedError(
                f"the bwrap sandbox runs commands only as {config.user!r} (uid {config.uid})"
            )
        workdir = config.workdir
        final_cwd = workdir if cwd is None else posixpath.join(workdir, cwd)
        data = input.encode() if isinstance(input, str) else input
        run = self._host.exec(
            list(cmd),
            input=data,
            cwd=final_cwd,
            env={**self._host.base_env(), **(env or {})},
            timeout=timeout,
            output_limit=SandboxEnvironmentLimits.MAX_EXEC_OUTPUT_SIZE,
            limit_str=SandboxEnvironmentLimits.MAX_EXEC_OUTPUT_SIZE_STR,
        )
        if not concurrency:
            return await run
        async with _subprocess_slot():
            return await run

    @override
    async def write_file(self, file: str, contents: str | bytes) -> None:
        data = contents.encode("utf-8") if isinstance(contents, str) else contents
        async with self._host.opened(self._path(file), "w") as fd:
            if len(data) <= _INLINE_IO:
                _write_all(fd, data)
            else:
                await anyio.to_thread.run_sync(_write_all, fd, data)

    @overload
    async def read_file(self, file: str, text: Literal[True] = True) -> str: ...

    @overload
    async def read_file(self, file: str, text: Literal[False]) -> bytes: ...

    @override
    async def read_file(self, file: str, text: bool = True) -> str | bytes:
        limit = SandboxEnvironmentLimits.MAX_READ_FILE_SIZE
        async with self._host.opened(self._path(file), "r") as fd:
            if os.fstat(fd).st_size > limit:
                raise _read_limit_error()
            if os.fstat(fd).st_size <= _INLINE_IO:
                data = _read_all(fd, limit)
            else:
                data = await anyio.to_thread.run_sync(_read_all, fd, limit)
        if text:
            return data.decode("utf-8")  # newlines kept as they are (no translation)
        return data

    def _path(self, file: str) -> str:
        return posixpath.join(self._host.config.workdir, file)


@contextlib.asynccontextmanager
async def isolated_sandbox(config: BwrapConfig | None = None) -> AsyncIterator[SandboxEnvironment]:
    """A fresh sandbox outside any sample (its first host), removed on exit.

    For scorers that must judge in a clean environment: nothing the agent did is in it.
    """
    await anyio.to_thread.run_sync(require_bwrap)
    sample = await SandboxSample.create(config or BwrapConfig())
    try:
        yield BwrapSandboxEnvironment(next(iter(sample.hosts.values())), sample)
    finally:
        with anyio.CancelScope(shield=True):
            await sample.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view[: 1 << 20]) :]


def _read_all(fd: int, limit: int) -> bytes:
    chunks = []
    total = 0
    while chunk := os.read(fd, 1 << 20):
        total += len(chunk)
        if total > limit:  # the file grew while we read it
            raise _read_limit_error()
        chunks.append(chunk)
    return b"".join(chunks)


def _read_limit_error() -> OutputLimitExceededError:
    return OutputLimitExceededError(SandboxEnvironmentLimits.MAX_READ_FILE_SIZE_STR, None)


@contextlib.asynccontextmanager
async def _subprocess_slot() -> AsyncIterator[None]:
    """Inspect's `concurrency()` throttle for local subprocesses, as its local sandbox uses it."""
    try:
        from inspect_ai.util._concurrency import concurrency
        from inspect_ai.util._subprocess import max_subprocesses_context_var
    except ImportError:  # a future Inspect moved them: run unthrottled
        yield
        return
    async with concurrency("subprocesses", max_subprocesses_context_var.get()):
        yield


def host_of(environment: object) -> SandboxHost:
    """The evaluator's handle on a `bwrap` sandbox environment's host (for graders that read
    the host from outside: ranges). Accepts Inspect's event-recording proxy around one."""
    env = environment
    for _ in range(4):
        if isinstance(env, BwrapSandboxEnvironment):
            return env._host
        inner = getattr(env, "_sandbox", None)
        if inner is None:
            break
        env = inner
    raise TypeError(f"not a bwrap sandbox environment: {type(environment).__name__}")
