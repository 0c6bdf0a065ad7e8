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
from pathlib import Path

from prereview.config import Settings
from prereview.vault.service import Vault, _private_tmpfs_dir, plaintext_base

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
    assert trace.is_relative_to(plaintext_base(settings))
    assert not trace.exists() and not trace.with_suffix(".log.gz").exists()
    if xdg.exists():
        assert _holding(xdg, canary) == []
    assert _holding(plaintext_base(settings), canary) == []


def test_abandoned_plaintext_and_dead_traces_are_swept(settings: Settings) -> None:
    base = plaintext_base(settings)
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
    if path is None:  # no /dev/shm tmpfs with room on this host: <data dir>/work is used
        return
    info = path.lstat()
    assert stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
    assert stat.S_IMODE(info.st_mode) == 0o700
