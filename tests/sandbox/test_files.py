"""read_file / write_file: Inspect's semantics and errors, confined to the sandbox's own view."""

from __future__ import annotations

from pathlib import Path

import pytest
from inspect_ai.util import OutputLimitExceededError
from inspect_ai.util._sandbox.limits import override_max_read_file_size

from prereview.sandbox import BwrapSandboxEnvironment
from tests.sandbox.conftest import needs_bwrap, sh

pytestmark = needs_bwrap


async def test_round_trip_text_and_bytes(sandbox: BwrapSandboxEnvironment) -> None:
    await sandbox.write_file("deep/new/dirs/a.txt", "crlf\r\nkept\n")
    assert await sandbox.read_file("deep/new/dirs/a.txt") == "crlf\r\nkept\n"
    data = bytes(range(256)) * 8192  # 2 MiB: the threaded path
    await sandbox.write_file("/tmp/blob.bin", data)
    assert await sandbox.read_file("/tmp/blob.bin", text=False) == data
    listing = await sh(sandbox, "stat -c '%U %s' deep/new/dirs/a.txt")
    assert listing.stdout == "agent 11\n"


async def test_write_replaces_and_visible_to_exec(sandbox: BwrapSandboxEnvironment) -> None:
    await sandbox.write_file("f", "long original content")
    await sandbox.write_file("f", "short")
    assert (await sandbox.exec(["cat", "f"])).stdout == "short"


async def test_errors_follow_inspect(sandbox: BwrapSandboxEnvironment) -> None:
    with pytest.raises(FileNotFoundError):
        await sandbox.read_file("missing.txt")
    await sandbox.exec(["mkdir", "adir"])
    with pytest.raises(IsADirectoryError):
        await sandbox.read_file("adir")
    with pytest.raises(IsADirectoryError):
        await sandbox.write_file("adir", "x")
    await sandbox.write_file("bad.bin", b"\xff\xfe\xfa")
    with pytest.raises(UnicodeDecodeError):
        await sandbox.read_file("bad.bin")
    await sh(sandbox, "echo secret > locked && chmod 000 locked")
    with pytest.raises(PermissionError):
        await sandbox.read_file("locked")
    with pytest.raises(PermissionError):
        await sandbox.write_file("/usr/bin/planted", "x")


async def test_read_limit(sandbox: BwrapSandboxEnvironment) -> None:
    await sandbox.write_file("big", b"x" * 4096)
    with override_max_read_file_size(1024), pytest.raises(OutputLimitExceededError):
        await sandbox.read_file("big")


async def test_planted_symlinks_stay_inside(
    sandbox: BwrapSandboxEnvironment, tmp_path: Path
) -> None:
    host_file = tmp_path / "host-secret"
    host_file.write_text("host data")
    await sh(
        sandbox,
        f"ln -s {host_file} to-host; ln -s /etc/hostname to-etc; ln -s /proc/1/environ to-agent;"
        " ln -s /usr/bin/planted to-usr; ln -s /root/.bashrc to-root",
    )
    with pytest.raises(FileNotFoundError):
        await sandbox.read_file("to-host")
    assert await sandbox.read_file("to-etc") == "default\n"  # the sandbox's, not the host's
    with pytest.raises(PermissionError):
        await sandbox.read_file("to-agent")
    with pytest.raises(PermissionError):
        await sandbox.write_file("to-usr", "x")
    with pytest.raises(FileNotFoundError):  # there is no /root in the sandbox to write into
        await sandbox.write_file("to-root", "x")
    assert host_file.read_text() == "host data"


async def test_dotdot_resolves_in_the_sandbox(sandbox: BwrapSandboxEnvironment) -> None:
    assert await sandbox.read_file("../../../../../../etc/hostname") == "default\n"
    await sandbox.write_file("../../../tmp/escaped.txt", "x")
    assert (await sandbox.exec(["cat", "/tmp/escaped.txt"])).stdout == "x"
    assert not Path("/tmp/escaped.txt").exists()


async def test_fifo_and_devices_are_refused_without_hanging(
    sandbox: BwrapSandboxEnvironment,
) -> None:
    await sandbox.exec(["mkfifo", "pipe"])
    with pytest.raises(OSError):  # noqa: PT011 (an OSError that is not a hang is the point)
        await sandbox.read_file("pipe")
    with pytest.raises(OSError):  # noqa: PT011
        await sandbox.read_file("/dev/zero", text=False)
