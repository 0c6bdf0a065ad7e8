"""Which sandbox the suite's samples and scorers use: the `bwrap` provider, or Inspect's `local`.

`bwrap` is the default and what reviews use. `local` (a bare temporary directory on the host,
no isolation at all) exists only for developing on machines without user namespaces; it must
never see a real model, since there the ground truth would be one `cat` away.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from inspect_ai.util import SandboxEnvironment, SandboxEnvironmentSpec

from prereview.suites.memsafety.spec import InvalidOptionError

PROVIDERS = ("bwrap", "local")
DEFAULT_PROVIDER = "bwrap"


def check_provider(name: str) -> str:
    if name not in PROVIDERS:
        raise InvalidOptionError(
            f"unknown sandbox {name!r}: valid sandboxes are {', '.join(PROVIDERS)}"
        )
    return name


def sample_sandbox(provider: str) -> SandboxEnvironmentSpec:
    """The sandbox spec for the agent's sample."""
    check_provider(provider)
    # the provider's defaults (no config object: Inspect hashes sandbox specs, and a BwrapConfig
    # holding lists cannot be hashed)
    return SandboxEnvironmentSpec(provider)


@contextlib.asynccontextmanager
async def fresh_sandbox(provider: str) -> AsyncIterator[SandboxEnvironment]:
    """A new, empty sandbox for scoring, removed (with every process in it) on exit."""
    check_provider(provider)
    if provider == "bwrap":
        from prereview.sandbox import BwrapConfig, isolated_sandbox

        async with isolated_sandbox(BwrapConfig(memory_mb=4096, cpu_seconds=300)) as env:
            yield env
        return
    from inspect_ai.util._sandbox.local import LocalSandboxEnvironment

    envs = await LocalSandboxEnvironment.sample_init("memsafety-scoring", None, {})
    try:
        yield envs["default"]
    finally:
        await LocalSandboxEnvironment.sample_cleanup("memsafety-scoring", None, envs, True)
