"""`exec` follows Inspect's contract: input, cwd, env, user, exit codes, errors, persistence."""

from __future__ import annotations

import anyio
import pytest
from inspect_ai.util._sandbox.environment import SandboxUserUnsupportedError

from prereview.sandbox import BwrapSandboxEnvironment
from tests.sandbox.conftest import needs_bwrap, sh

pytestmark = needs_bwrap


async def test_runs_as_the_sandbox_user_in_the_workdir(sandbox: BwrapSandboxEnvironment) -> None:
    result = await sh(sandbox, "id -un; pwd; echo $HOME; hostname")
    assert result.success
    assert result.stdout.split() == ["agent", "/home/agent", "/home/agent", "default"]


async def test_exit_codes_and_streams(sandbox: BwrapSandboxEnvironment) -> None:
    result = await sh(sandbox, "echo out; echo err >&2; exit 3")
    assert (result.success, result.returncode, result.stdout, result.stderr) == (
        False, 3, "out\n", "err\n",
    )  # fmt: skip


async def test_killed_by_signal_reports_128_plus_signal(sandbox: BwrapSandboxEnvironment) -> None:
    assert (await sh(sandbox, "kill -TERM $$")).returncode == 128 + 15


async def test_input_is_fed_to_stdin(sandbox: BwrapSandboxEnvironment) -> None:
    big = "line\n" * 200_000  # larger than a pipe buffer, read while output is written
    result = await sandbox.exec(["cat"], input=big)
    assert result.stdout == big
    assert (await sandbox.exec(["cat"], input=b"\x00\x01bytes")).stdout == "\x00\x01bytes"
    assert (await sandbox.exec(["head", "-c1"], input="x" * 1_000_000)).stdout == "x"


async def test_cwd_relative_and_absolute(sandbox: BwrapSandboxEnvironment) -> None:
    await sandbox.exec(["mkdir", "-p", "sub/dir"])
    assert (await sandbox.exec(["pwd"], cwd="sub/dir")).stdout == "/home/agent/sub/dir\n"
    assert (await sandbox.exec(["pwd"], cwd="/tmp")).stdout == "/tmp\n"
    missing = await sandbox.exec(["pwd"], cwd="nope")
    assert not missing.success and "No such file" in missing.stderr


async def test_env_is_applied_and_resolves_the_command(sandbox: BwrapSandboxEnvironment) -> None:
    result = await sandbox.exec(["sh", "-c", "echo $GREETING $LANG"], env={"GREETING": "hi"})
    assert result.stdout == "hi C.UTF-8\n"
    await sandbox.write_file("bin/mytool", "#!/bin/sh\necho mine\n")
    await sandbox.exec(["chmod", "+x", "bin/mytool"])
    found = await sandbox.exec(["mytool"], env={"PATH": "/home/agent/bin:/usr/bin:/bin"})
    assert found.stdout == "mine\n"
    relative = await sandbox.exec(["mytool"], env={"PATH": "bin:/usr/bin:/bin"})
    assert relative.stdout == "mine\n"  # relative PATH entries are under the command's cwd


async def test_missing_command_is_a_failed_result(sandbox: BwrapSandboxEnvironment) -> None:
    result = await sandbox.exec(["no-such-command"])
    assert (result.success, result.returncode) == (False, 127)
    assert "No such file" in result.stderr


async def test_non_executable_command_raises_permission_error(
    sandbox: BwrapSandboxEnvironment,
) -> None:
    await sandbox.write_file("script.sh", "echo hi\n")
    with pytest.raises(PermissionError):
        await sandbox.exec(["./script.sh"])


async def test_only_the_sandbox_user_is_supported(sandbox: BwrapSandboxEnvironment) -> None:
    assert (await sandbox.exec(["true"], user="agent")).success
    assert (await sandbox.exec(["true"], user="1000")).success
    with pytest.raises(SandboxUserUnsupportedError):
        await sandbox.exec(["true"], user="root")


async def test_state_and_services_persist_across_calls(sandbox: BwrapSandboxEnvironment) -> None:
    await sandbox.write_file("www/index.html", "served from setup")
    started = await sh(
        sandbox, "cd www && python3 -m http.server 8080 --bind 127.0.0.1 & sleep 0.1; echo up"
    )
    assert started.stdout == "up\n"  # returns although the server keeps its stdout open
    fetch = (
        "import time, urllib.request\n"
        "for _ in range(100):\n"
        "    try:\n"
        "        print(urllib.request.urlopen('http://127.0.0.1:8080/').read().decode()); break\n"
        "    except OSError: time.sleep(0.1)\n"
    )
    result = await sandbox.exec(["python3", "-c", fetch], timeout=30)
    assert result.stdout == "served from setup\n"
    # the server logs each request to the pipe it inherited; it must not have died of SIGPIPE
    again = await sandbox.exec(["python3", "-c", fetch], timeout=30)
    assert again.stdout == "served from setup\n"


async def test_concurrent_execs(sandbox: BwrapSandboxEnvironment) -> None:
    results: list[str] = []

    async def one(i: int) -> None:
        results.append((await sandbox.exec(["sh", "-c", f"sleep 0.2; echo {i}"])).stdout)

    async with anyio.create_task_group() as group:
        for i in range(12):
            group.start_soon(one, i)
    assert sorted(results) == sorted(f"{i}\n" for i in range(12))


async def test_cancellation_kills_the_command(sandbox: BwrapSandboxEnvironment) -> None:
    with anyio.move_on_after(1):
        await sandbox.exec(["sh", "-c", "sleep 600"], concurrency=False)
    assert (await sandbox.exec(["pgrep", "-c", "sleep"])).stdout.strip() == "0"


async def test_invalid_utf8_output_is_replaced(sandbox: BwrapSandboxEnvironment) -> None:
    result = await sandbox.exec(["printf", "ok\\377"])
    assert result.stdout == "ok\ufffd"


async def test_host_tools_are_available(sandbox: BwrapSandboxEnvironment) -> None:
    await sandbox.write_file("t.c", '#include <stdio.h>\nint main(void){puts("built");}\n')
    for compiler in ("gcc", "clang"):
        built = await sandbox.exec([compiler, "t.c", "-o", "t"], timeout=120)
        assert built.success, built.stderr
        assert (await sandbox.exec(["./t"])).stdout == "built\n"
