"""Sandboxes for the tests: a fresh one per test, and probes run inside as an agent would."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest

from prereview.sandbox import (
    BwrapConfig,
    BwrapSandboxEnvironment,
    SandboxUnavailableError,
    isolated_sandbox,
)
from prereview.sandbox.availability import require_bwrap

try:
    require_bwrap()
    _UNAVAILABLE = ""
except SandboxUnavailableError as exc:
    _UNAVAILABLE = str(exc)

needs_bwrap = pytest.mark.skipif(bool(_UNAVAILABLE), reason=_UNAVAILABLE)

PRELUDE = """
import ctypes, errno, json, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
def sysc(nr, *args):
    rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return "ok" if rc >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
def attempt(fn, *args):
    try:
        fn(*args)
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, "?")
"""


@pytest.fixture
async def sandbox() -> AsyncIterator[BwrapSandboxEnvironment]:
    async with isolated_sandbox() as env:
        assert isinstance(env, BwrapSandboxEnvironment)
        yield env


async def probe(env: BwrapSandboxEnvironment, code: str, timeout: int = 60) -> Any:
    """Run python code inside (with PRELUDE) that prints one JSON value; return the value."""
    result = await env.exec(["python3", "-c", PRELUDE + code], timeout=timeout)
    assert result.success, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


async def sh(env: BwrapSandboxEnvironment, script: str, timeout: int = 60) -> Any:
    return await env.exec(["sh", "-c", script], timeout=timeout)


def host_addresses() -> list[str]:
    """This machine's own non-loopback interface addresses (egress tests aim only at these)."""
    out = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=False).stdout
    found = []
    for link in json.loads(out or "[]"):
        for info in link.get("addr_info", []):
            if link.get("ifname") != "lo" and info.get("scope") == "global":
                found.append(str(info["local"]))
    return found


def small(**overrides: Any) -> BwrapConfig:
    return BwrapConfig(**overrides)
