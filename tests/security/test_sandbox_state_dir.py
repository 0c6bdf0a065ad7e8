"""The sandbox state directory is used only when it is the evaluator's own.

It names the processes and cgroups a sweep kills and caches the agent binary every sandbox runs,
so a directory another local user pre-created (or a symlink planted where it will be) must be
refused before anything is read from or written into it. Non-root cases run in a child process
with a uid of their own, as the attacked evaluator would.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.sandbox import BwrapSandboxEnvironment, SandboxUnavailableError, isolated_sandbox
from prereview.sandbox.state import state_root
from tests.sandbox.conftest import needs_bwrap

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown and change uid")

OTHER_UID = 65534


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def _refused(path: Path, why: str) -> None:
    """state_root refuses `path` with one line naming it, the reason and the fix."""
    with pytest.raises(SandboxUnavailableError) as caught:
        state_root()
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message and why in message
    assert "PREREVIEW_SANDBOX_STATE" in message and "remove it" in message


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setenv("PREREVIEW_SANDBOX_STATE", str(path))
    return path


def test_wrong_mode_is_refused_and_left_untouched(state: Path) -> None:
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    (state / "planted").write_text("x")
    _refused(state, "mode 0755, not 0700")
    assert _tree(state) == ["planted"]
    assert stat.S_IMODE(state.stat().st_mode) == 0o755  # not silently "fixed"


def test_owned_by_another_uid_is_refused(state: Path) -> None:
    state.mkdir(mode=0o700)
    os.chown(state, OTHER_UID, OTHER_UID)
    _refused(state, f"owned by uid {OTHER_UID}")
    assert _tree(state) == []


def test_symlink_is_refused_and_its_target_untouched(state: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    state.symlink_to(elsewhere)
    _refused(state, "a symlink")
    assert _tree(elsewhere) == []
    assert state.is_symlink()


def test_parent_writable_by_others_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # no sticky bit: anyone could rename our dir away and put theirs
    monkeypatch.setenv("PREREVIEW_SANDBOX_STATE", str(shared / "state"))
    _refused(shared / "state", "writable by others (no sticky bit)")
    assert _tree(shared) == []


def test_refusal_reaches_the_cli_as_one_line_and_exit_2(state: Path) -> None:
    state.mkdir(mode=0o777)
    state.chmod(0o777)
    result = CliRunner().invoke(app, ["sandbox", "cleanup"])
    assert result.exit_code == 2, result.output
    assert "refusing the sandbox state directory" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert _tree(state) == []


@needs_bwrap
async def test_refused_dir_starts_no_sandbox(state: Path) -> None:
    state.mkdir(mode=0o700)
    os.chown(state, OTHER_UID, OTHER_UID)
    with pytest.raises(SandboxUnavailableError, match="owned by uid 65534"):
        async with isolated_sandbox():
            pass
    assert _tree(state) == []


@needs_bwrap
async def test_own_private_dir_is_used(state: Path) -> None:
    state.mkdir(mode=0o700)
    async with isolated_sandbox() as env:
        assert isinstance(env, BwrapSandboxEnvironment)
        assert (await env.exec(["true"])).success
        sample = state / env.sample_id
        assert (sample / "owner.json").is_file()
        assert stat.S_IMODE(sample.stat().st_mode) == 0o700
    assert not (state / env.sample_id).exists()
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_missing_dir_is_created_private(state: Path) -> None:
    old = os.umask(0o277)  # a umask that would leave the owner without write or search
    try:
        assert state_root() == state
    finally:
        os.umask(old)
    info = state.lstat()
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700
    assert info.st_uid == os.geteuid()


# --- as a non-root evaluator: a forked child that drops to a uid of its own ---------------------


def _as_user(uid: int, runtime: Path | None = None) -> dict[str, str]:
    """state_root() as `uid` sees it (forked, not exec'd: the interpreter lives under /root,
    which another uid cannot read); returns {"root": path} or {"error": message}."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports through the pipe and never returns into pytest
        code = 1
        try:
            os.close(read_end)
            os.environ.pop("PREREVIEW_SANDBOX_STATE", None)
            os.environ.pop("XDG_RUNTIME_DIR", None)
            if runtime is not None:
                os.environ["XDG_RUNTIME_DIR"] = str(runtime)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            try:
                outcome = {"root": str(state_root())}
            except SandboxUnavailableError as exc:
                outcome = {"error": str(exc)}
            os.write(write_end, json.dumps(outcome).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, data
    result: dict[str, str] = json.loads(data)
    return result


@pytest.fixture
def uid() -> Iterator[int]:
    """A uid no account uses; its shared-tmp state dir is removed afterwards."""
    uid = 0x5E000000 + secrets.randbelow(1 << 20)
    yield uid
    leftover = Path("/tmp", f"prereview-sandbox-{uid}")
    if leftover.is_symlink():
        leftover.unlink()
    shutil.rmtree(leftover, ignore_errors=True)


@pytest.fixture
def runtime_dir(uid: int) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(dir="/tmp"))
    os.chown(path, uid, uid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_xdg_runtime_dir_is_preferred(uid: int, runtime_dir: Path) -> None:
    outcome = _as_user(uid, runtime_dir)
    assert outcome == {"root": str(runtime_dir / "prereview-sandbox")}
    info = (runtime_dir / "prereview-sandbox").lstat()
    assert info.st_uid == uid and stat.S_IMODE(info.st_mode) == 0o700
    assert not Path("/tmp", f"prereview-sandbox-{uid}").exists()


def test_foreign_xdg_runtime_dir_falls_back_to_private_tmp(uid: int, runtime_dir: Path) -> None:
    os.chown(runtime_dir, OTHER_UID, OTHER_UID)  # not the evaluator's: ignored, never written
    outcome = _as_user(uid, runtime_dir)
    fallback = Path("/tmp", f"prereview-sandbox-{uid}")
    assert outcome == {"root": str(fallback)}
    assert stat.S_IMODE(fallback.lstat().st_mode) == 0o700
    assert _tree(runtime_dir) == []


def test_dir_pre_created_in_shared_tmp_by_another_user_is_refused(uid: int) -> None:
    planted = Path("/tmp", f"prereview-sandbox-{uid}")
    planted.mkdir(mode=0o777)
    planted.chmod(0o777)
    os.chown(planted, OTHER_UID, OTHER_UID)  # another local user's, open to anyone
    outcome = _as_user(uid)
    assert set(outcome) == {"error"}
    assert str(planted) in outcome["error"] and f"owned by uid {OTHER_UID}" in outcome["error"]
    assert _tree(planted) == []


def test_symlink_planted_in_shared_tmp_is_refused(uid: int, runtime_dir: Path) -> None:
    planted = Path("/tmp", f"prereview-sandbox-{uid}")
    planted.symlink_to(runtime_dir)  # points at a directory the victim owns: still refused
    outcome = _as_user(uid)
    assert set(outcome) == {"error"} and "a symlink" in outcome["error"]
    assert _tree(runtime_dir) == []
