"""Where live samples are recorded, so that anything a crashed evaluator left behind is found.

Each sample gets `<state root>/<sample id>/` holding `owner.json` (the evaluator's pid and its
start time, which together survive pid reuse; the host uids and cgroups the sample holds) and the
small files bound into its hosts (passwd, group, hosts). Processes, namespaces, veths and
tmpfs mounts die with the sample's PID-1 agents (bwrap's --die-with-parent, and the agent exits
when its control socket closes); what can outlive a SIGKILLed evaluator is this directory, the
uid reservations and empty cgroups, and `sweep_stale` removes those.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST_UID_BASE = 0x60000000
"""Host uids the sandboxes run as (when the evaluator is root): far above any real account."""
HOST_UID_SPAN = 1 << 24


def state_root() -> Path:
    """`$PREREVIEW_SANDBOX_STATE`, else /run/prereview-sandbox as root, else a per-user tmp dir."""
    configured = os.environ.get("PREREVIEW_SANDBOX_STATE")
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return Path("/run/prereview-sandbox")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path("/tmp")  # noqa: S108 (own subdir, 0700)
    return base / f"prereview-sandbox-{os.geteuid()}"


def process_start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot; None when there is no such process."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return int(data[data.rindex(b")") + 2 :].split()[19])


@dataclass
class SampleState:
    """The on-disk record of one live sample."""

    directory: Path
    owner_pid: int
    owner_start: int
    uids: list[int] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)

    @property
    def sample_id(self) -> str:
        return self.directory.name

    @classmethod
    def create(cls) -> SampleState:
        root = state_root()
        root.mkdir(mode=0o711, parents=True, exist_ok=True)
        directory = root / f"s-{secrets.token_hex(6)}"
        directory.mkdir(mode=0o755)
        pid = os.getpid()
        state = cls(directory, pid, process_start_time(pid) or 0)
        state.save()
        return state

    def save(self) -> None:
        record = {
            "owner_pid": self.owner_pid,
            "owner_start": self.owner_start,
            "uids": self.uids,
            "cgroups": self.cgroups,
        }
        tmp = self.directory / "owner.json.tmp"
        tmp.write_text(json.dumps(record))
        tmp.replace(self.directory / "owner.json")

    def reserve_uid(self) -> int:
        """A host uid no other live sandbox holds (an O_EXCL marker file in the state root)."""
        for _ in range(64):
            uid = HOST_UID_BASE + secrets.randbelow(HOST_UID_SPAN)
            try:
                os.close(os.open(self.directory.parent / f"uid-{uid}", os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                continue
            self.uids.append(uid)
            self.save()
            return uid
        raise RuntimeError("no free sandbox uid")  # 64 collisions in 2**24: never in practice

    def add_cgroup(self, path: Path) -> None:
        self.cgroups.append(str(path))
        self.save()

    def remove(self) -> None:
        """Release uids and delete the directory (cgroups are removed by their owner first)."""
        for uid in self.uids:
            with contextlib.suppress(FileNotFoundError):
                (self.directory.parent / f"uid-{uid}").unlink()
        shutil.rmtree(self.directory, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> SampleState | None:
        try:
            record: dict[str, Any] = json.loads((directory / "owner.json").read_text())
            return cls(
                directory,
                int(record["owner_pid"]),
                int(record["owner_start"]),
                [int(u) for u in record.get("uids", [])],
                [str(c) for c in record.get("cgroups", [])],
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def owner_alive(self) -> bool:
        return process_start_time(self.owner_pid) == self.owner_start


def live_samples() -> list[SampleState]:
    root = state_root()
    if not root.is_dir():
        return []
    found = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and entry.name.startswith("s-"):
            state = SampleState.load(entry)
            if state is not None:
                found.append(state)
    return found
