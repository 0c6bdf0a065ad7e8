"""Teardown, crash safety, stale cleanup, and clear errors when bwrap cannot run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prereview.sandbox import SandboxUnavailableError, isolated_sandbox
from prereview.sandbox.availability import require_bwrap
from prereview.sandbox.environment import BwrapSandboxEnvironment
from prereview.sandbox.state import state_root
from prereview.sandbox.sweep import sweep_stale
from tests.sandbox.conftest import needs_bwrap

EVALUATOR = """
import anyio, sys
from prereview.sandbox import BwrapConfig, isolated_sandbox
async def main():
    async with isolated_sandbox(BwrapConfig(hosts=["default", "target"])) as env:
        await env.exec(["sh", "-c", "setsid sleep 1000 >/dev/null 2>&1 & nohup sleep 1001 &"])
        print(env.sample_id, flush=True)
        await anyio.sleep(600)
anyio.run(main)
"""


def _uid_processes(uids: list[int]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid in uids:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@needs_bwrap
@pytest.mark.slow
def test_sigkilled_evaluator_leaves_nothing_running_and_cleanup_removes_the_rest() -> None:
    evaluator = subprocess.Popen(
        [sys.executable, "-c", EVALUATOR], stdout=subprocess.PIPE, text=True
    )
    try:
        assert evaluator.stdout is not None
        sample_id = evaluator.stdout.readline().strip()
        record = json.loads((state_root() / sample_id / "owner.json").read_text())
        assert _uid_processes(record["uids"])
        os.kill(evaluator.pid, signal.SIGKILL)
        evaluator.wait()
    finally:
        if evaluator.poll() is None:
            evaluator.kill()
            evaluator.wait()
    deadline = time.monotonic() + 10
    while _uid_processes(record["uids"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _uid_processes(record["uids"]) == []  # died with their evaluator
    assert (state_root() / sample_id).exists()  # the record stays until cleanup
    assert sample_id in sweep_stale()
    assert not (state_root() / sample_id).exists()
    assert all(not Path(cgroup).exists() for cgroup in record["cgroups"])
    assert sweep_stale() == []


@needs_bwrap
async def test_cleanup_never_touches_live_samples() -> None:
    async with isolated_sandbox() as env:
        assert isinstance(env, BwrapSandboxEnvironment)
        assert env.sample_id not in sweep_stale()
        assert (await env.exec(["true"])).success


@needs_bwrap
async def test_exec_after_cleanup_is_unavailable() -> None:
    async with isolated_sandbox() as env:
        pass
    with pytest.raises(SandboxUnavailableError):
        await env.exec(["true"])


def test_missing_bwrap_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    require_bwrap.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        with pytest.raises(SandboxUnavailableError, match="apt-get install bubblewrap"):
            require_bwrap()
    finally:
        require_bwrap.cache_clear()


def test_refused_namespaces_say_what_to_enable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace, likely because the "
        "kernel does not allow non-privileged user namespaces.' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    require_bwrap.cache_clear()
    monkeypatch.setenv("PATH", str(tmp_path))
    try:
        with pytest.raises(SandboxUnavailableError, match="enable user namespaces") as caught:
            require_bwrap()
        assert "Traceback" not in str(caught.value)
    finally:
        require_bwrap.cache_clear()


async def test_isolated_sandbox_reports_unavailability(monkeypatch: pytest.MonkeyPatch) -> None:
    require_bwrap.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        with pytest.raises(SandboxUnavailableError):
            async with isolated_sandbox():
                pass
    finally:
        require_bwrap.cache_clear()
