"""The plaintext window beyond the log directory: Inspect's own trace log (tool calls with their
arguments) is confined to the install's private plaintext dir and gone when the process ends;
what dead processes leave behind is swept."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest

from prereview.config import Settings, load_settings
from prereview.store.tables.review import OrganizationRow, SubmissionRow
from prereview.vault import service as vault_service
from prereview.vault.service import Vault, _private_tmpfs_dir, plaintext_base
from prereview.vault.workspace import PlaintextWindowError, PlaintextWorkspace

CHILD = textwrap.dedent(
    """
    import json, os, sys
    from inspect_ai import Task, eval
    from inspect_ai.dataset import Sample
    from inspect_ai.solver import generate, use_tools
    from inspect_ai.tool import tool
    from prereview.config import load_settings
    from prereview.vault.service import Vault

    @tool
    def echo():
        async def execute(text: str) -> str:
            \"\"\"Echo text.

            Args:
                text: what to echo
            \"\"\"
            return text
        return execute

    canary = sys.argv[1]
    vault = Vault.open(load_settings())
    turns = [{"tool_calls": [{"function": "echo", "arguments": {"text": canary}}]}, "done"]
    task = Task(dataset=[Sample(input="go")], solver=[use_tools(echo()), generate()])
    eval(task, model="scripted/x", model_args={"turns": turns}, display="none",
         log_dir=sys.argv[2])
    trace = os.environ["INSPECT_TRACE_FILE"]
    print(json.dumps({"trace": trace, "seen": canary in open(trace).read()}))
    """
)


def _base(settings: Settings) -> Path:
    base = plaintext_base(settings)
    assert base is not None  # the tests' explicit PREREVIEW_PLAINTEXT_DIR
    return base


def _holding(root: Path, needle: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_inspect_trace_is_confined_and_removed_at_exit(settings: Settings, tmp_path: Path) -> None:
    canary = "TOOL-ARGUMENT-CANARY-5150"
    xdg = tmp_path / "xdg"  # where Inspect would keep its traces otherwise
    env = {**os.environ, "XDG_DATA_HOME": str(xdg)}
    env.pop("INSPECT_TRACE_FILE", None)
    logs = tmp_path / "logs"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, canary, str(logs)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["seen"] is True  # the trace did record the tool call, in the confined file
    trace = Path(out["trace"])
    assert trace.is_relative_to(_base(settings))
    assert not trace.exists() and not trace.with_suffix(".log.gz").exists()
    if xdg.exists():
        assert _holding(xdg, canary) == []
    assert _holding(_base(settings), canary) == []


def test_abandoned_plaintext_and_dead_traces_are_swept(settings: Settings) -> None:
    base = _base(settings)
    stray = base / "0123456789ab" / "deadbeef"
    stray.mkdir(parents=True)
    (stray / "lock").touch()
    (stray / "owner.json").write_text(json.dumps({"home": str(settings.home / "gone")}))
    (stray / "files").mkdir()
    (stray / "files" / "x.eval").write_text("plaintext of a data dir that no longer exists")
    traces = base / "0123456789ab" / "traces"
    traces.mkdir()
    dead = traces / "trace-999999999.log.gz"
    dead.write_text("old trace")
    with Vault.open(settings):
        pass
    assert not stray.exists() and not dead.exists()


def test_default_plaintext_dir_is_private_tmpfs_when_there_is_one() -> None:
    path = _private_tmpfs_dir()
    if path is None:  # no tmpfs with room on this host: see the refusal tests below
        return
    info = path.lstat()
    assert stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
    assert stat.S_IMODE(info.st_mode) == 0o700


def _mounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *tmpfs: Path) -> None:
    """This host as the kernel would list it: a disk root and the given tmpfs mounts."""
    lines = ["/dev/vda / ext4 rw 0 0"] + [f"tmpfs {p} tmpfs rw 0 0" for p in tmpfs]
    (tmp_path / "mounts").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(vault_service, "MOUNTS", tmp_path / "mounts")


def test_no_tmpfs_and_nothing_configured_means_no_plaintext_window(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _mounts(tmp_path, monkeypatch)
    monkeypatch.delenv("PREREVIEW_PLAINTEXT_DIR")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    (tmp_path / "runtime").mkdir(mode=0o700)
    bare = load_settings()
    assert plaintext_base(bare) is None
    with Vault.open(bare) as vault:  # everything else of the install still works
        sid = "sub-none"
        with (
            pytest.raises(PlaintextWindowError, match="no private tmpfs") as refused,
            vault.content.working_dir(sid, "reviews/r/logs"),
        ):
            pass
        assert "\n" not in str(refused.value)
        assert vault.content.keys(sid) == []
    assert not (bare.home / "work").exists()  # the old silent fallback is gone
    assert not (tmp_path / "runtime" / "prereview").exists()


def test_runtime_dir_on_tmpfs_is_used_when_dev_shm_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    _mounts(tmp_path, monkeypatch, runtime)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    path = _private_tmpfs_dir()
    assert path == runtime.resolve() / "prereview"
    assert stat.S_IMODE(path.lstat().st_mode) == 0o700


def test_a_foreign_or_open_dir_on_tmpfs_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    _mounts(tmp_path, monkeypatch, runtime)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    (runtime / "prereview").mkdir(mode=0o700)
    os.chmod(runtime / "prereview", 0o750)  # noqa: S103 - open to the group: never used
    assert _private_tmpfs_dir() is None
    (runtime / "prereview").rmdir()
    (runtime / "prereview").symlink_to(tmp_path)  # planted link: never followed
    assert _private_tmpfs_dir() is None


def test_plaintext_an_earlier_version_left_in_the_data_dir_is_sealed_and_removed(
    settings: Settings,
) -> None:
    """`<data dir>/work` was the old fallback; a run killed there is recovered like any other,
    and the directory goes away."""
    with Vault.open(settings) as vault:
        with vault.db.session() as s:
            s.add(OrganizationRow(id="org-w", name="Org W"))
            s.flush()
            s.add(
                SubmissionRow(
                    id="sub-legacy",
                    organization_id="org-w",
                    model_name="m",
                    model="openai/m",
                    max_connections=1,
                    seconds_per_request=1.0,
                    release_date=date(2030, 1, 1),
                    submitted_on=date(2029, 12, 1),
                    window_policy="eo-2026",
                    terms_version="2026-01",
                    confidentiality="confidential",
                    state="in_review",
                )
            )
        vault.content.write("sub-legacy", "reviews/r/logs/a.eval", b"sealed before")
    legacy = settings.home / "work"
    tag = PlaintextWorkspace(legacy, settings.home).root
    dead = tag / "deadbeef"
    (dead / "files").mkdir(parents=True)
    (dead / "lock").touch()
    (dead / "owner.json").write_text(json.dumps({"scope": "sub-legacy", "key": "reviews/r/logs"}))
    (dead / "files" / "b.eval").write_bytes(b"plaintext of a killed run")
    with Vault.open(settings) as vault:
        assert vault.content.read("sub-legacy", "reviews/r/logs/b.eval") == (
            b"plaintext of a killed run"
        )
        actions = [e.action for e in vault.audit.entries(submission_id="sub-legacy")]
    assert "artifact.recovered" in actions
    assert not legacy.exists()
