"""Resource abuse and persistence attempts: each contained, the host and other samples unharmed."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import anyio
import pytest
from inspect_ai.util import OutputLimitExceededError

from prereview.sandbox import BwrapConfig, BwrapSandboxEnvironment, isolated_sandbox
from prereview.sandbox.state import state_root
from tests.sandbox.conftest import needs_bwrap, sh

pytestmark = needs_bwrap


def _host_uids(sample_id: str) -> list[int]:
    record = json.loads((state_root() / sample_id / "owner.json").read_text())
    return [int(u) for u in record["uids"]]


def _processes_of(uids: list[int]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid in uids:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.slow
async def test_fork_bomb_is_contained_to_the_sample() -> None:
    async with isolated_sandbox(BwrapConfig(pids=64)) as env:
        assert isinstance(env, BwrapSandboxEnvironment)
        uids = _host_uids(env.sample_id)
        await env.exec(["bash", "-c", ":(){ :|:& };:"], timeout=10)  # detaches at once
        await anyio.sleep(2)
        assert len(_processes_of(uids)) <= 64 + 2  # the limit (+ bwrap's own two processes)
        later = await env.exec(["echo", "still"], timeout=30)  # fails or runs; never hangs
        assert later.stdout in ("", "still\n")
        assert subprocess.run(["true"], check=False).returncode == 0  # the host still forks
    assert _processes_of(uids) == []


async def test_foreground_fork_bomb_is_ended_by_the_timeout() -> None:
    async with isolated_sandbox(BwrapConfig(pids=64)) as env:
        with pytest.raises(TimeoutError):
            await env.exec(["bash", "-c", "b(){ b | b; }; b"], timeout=3)
        assert (await env.exec(["echo", "ok"])).stdout == "ok\n"


async def test_memory_bomb_is_killed() -> None:
    async with isolated_sandbox(BwrapConfig(memory_mb=96)) as env:
        result = await env.exec(
            ["python3", "-c", "x = b'x' * (512 << 20); print(len(x))"], timeout=60
        )
        assert not result.success
        assert result.stdout == ""
        assert (await env.exec(["echo", "ok"])).stdout == "ok\n"


@pytest.mark.parametrize("target", ["/tmp/fill", "/home/agent/fill", "/dev/shm/fill"])
async def test_disk_fill_stops_at_the_tmpfs_size(target: str) -> None:
    async with isolated_sandbox(BwrapConfig(tmp_mb=8, workdir_mb=8)) as env:
        result = await sh(
            env, f"dd if=/dev/zero of={target} bs=1M count=100 2>&1; stat -c %s {target}"
        )
        assert "No space left on device" in result.stdout
        assert int(result.stdout.split()[-1]) <= 64 << 20


async def test_root_filesystem_cannot_be_filled(sandbox: BwrapSandboxEnvironment) -> None:
    result = await sh(sandbox, "dd if=/dev/zero of=/fill bs=1M count=1 2>&1; mkdir /x 2>&1; :")
    assert result.stdout.count("Read-only file system") == 2


async def test_cpu_spin_past_the_timeout_is_killed(sandbox: BwrapSandboxEnvironment) -> None:
    with pytest.raises(TimeoutError):
        await sandbox.exec(["python3", "-c", "spin_marker = 1\nwhile True: pass"], timeout=1)
    left = await sandbox.exec(["pgrep", "-c", "-f", "spin_marker"])
    assert left.stdout.strip() == "0"


async def test_timeout_kills_the_whole_tree_even_escapees(sandbox: BwrapSandboxEnvironment) -> None:
    script = (
        "sleep 901 & setsid sleep 902 & nohup sleep 903 >/dev/null 2>&1 & "
        "(sh -c 'sleep 904 &' &) ; sleep 905"
    )
    with pytest.raises(TimeoutError) as caught:
        await sandbox.exec(["sh", "-c", "echo partial; " + script], timeout=1)
    assert "partial" in getattr(caught.value, "truncated_output", "")
    left = await sandbox.exec(["pgrep", "-c", "sleep"])
    assert left.stdout.strip() == "0"


async def test_cpu_time_limit_per_command() -> None:
    async with isolated_sandbox(BwrapConfig(cpu_seconds=1)) as env:
        result = await env.exec(["python3", "-c", "while True: pass"], timeout=120)
        assert result.returncode == 128 + 24  # SIGXCPU
        assert (await env.exec(["sh", "-c", "ulimit -t"])).stdout.strip() == "1"


async def test_huge_output_raises_and_stops_the_writer(sandbox: BwrapSandboxEnvironment) -> None:
    with pytest.raises(OutputLimitExceededError) as caught:
        await sandbox.exec(["sh", "-c", "exec yes this-is-output"], timeout=60)
    assert caught.value.truncated_output is not None
    assert caught.value.truncated_output.startswith("this-is-output\n")
    assert (await sandbox.exec(["pgrep", "-c", "yes"])).stdout.strip() == "0"


async def test_huge_stderr_also_raises(sandbox: BwrapSandboxEnvironment) -> None:
    with pytest.raises(OutputLimitExceededError):
        await sandbox.exec(["sh", "-c", "yes >&2"], timeout=60)


async def test_background_processes_do_not_outlive_cleanup() -> None:
    mounts_before = Path("/proc/self/mountinfo").read_text()
    async with isolated_sandbox() as env:
        assert isinstance(env, BwrapSandboxEnvironment)
        await sh(
            env,
            "nohup sleep 1000 >/dev/null 2>&1 & setsid sleep 1001 & "
            "(sh -c 'sleep 1002 & sleep 1003' &); "
            "python3 -c 'import os; os.fork() or os.setsid(); import time; time.sleep(999)' &",
        )
        uids = _host_uids(env.sample_id)
        assert _processes_of(uids)  # they run, as the sample's own host uid
        sample_dir = state_root() / env.sample_id
    assert _processes_of(uids) == []
    assert not sample_dir.exists()
    assert Path("/proc/self/mountinfo").read_text() == mounts_before  # no mount left on the host
    leftovers = subprocess.run(
        ["find", "/sys/fs/cgroup", "-maxdepth", "6", "-name", f"{env.sample_id}*"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert leftovers.stdout == ""


async def test_concurrent_samples_cannot_see_each_other() -> None:
    async with isolated_sandbox() as first, isolated_sandbox() as second:
        await first.write_file("secret.txt", "flag{first-sample}")
        await sh(first, "cp secret.txt /tmp/; cp secret.txt /dev/shm/; sleep 600 &")
        search = await sh(
            second,
            "grep -rs 'flag{first-sample}' /home /tmp /dev/shm /var; "
            "ls /proc | grep -c '^[0-9]'; pgrep -c sleep",
            timeout=60,
        )
        lines = search.stdout.split()
        assert "flag{first-sample}" not in search.stdout
        assert int(lines[-2]) < 10 and lines[-1] == "0"
        assert not (await second.exec(["test", "-e", "secret.txt"])).success


async def test_killing_the_parent_agent_only_ends_the_own_command(
    sandbox: BwrapSandboxEnvironment,
) -> None:
    result = await sh(sandbox, "kill -9 $PPID; kill -STOP $PPID; echo still-here; kill -9 $$")
    assert (result.returncode, result.stdout) == (128 + 9, "still-here\n")
    assert (await sandbox.exec(["echo", "ok"])).stdout == "ok\n"


async def test_ptrace_within_the_sandbox_still_works(sandbox: BwrapSandboxEnvironment) -> None:
    # debugging one's own programs (gdb) is allowed; only the sandbox's processes are visible
    code = (
        "import ctypes, os, signal\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    libc.ptrace(0, 0, 0, 0); os.kill(os.getpid(), signal.SIGSTOP); os._exit(7)\n"
        "os.waitpid(pid, 0); libc.ptrace(17, pid, 0, 0)\n"
        "print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))"
    )
    result = await sandbox.exec(["python3", "-c", code], timeout=30)
    assert result.stdout.strip() == "7"
    assert os.getpid() > 0
