"""Per-host cgroups: memory and process limits, and a way to kill every process a host has.

Works on the unified hierarchy (cgroup v2) and on hybrid hosts (v1 memory and pids controllers,
v2 mounted at /sys/fs/cgroup/unified for tracking and `cgroup.kill`). Needs root; without it the
sandbox falls back to per-process rlimits (address space, processes per uid), which the agent
applies to every command, and `CgroupSupport.available` says so.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

_BASE = "prereview-sandbox"


@dataclass(frozen=True)
class CgroupSupport:
    """What this host offers: where each hierarchy is mounted, which controllers it has."""

    v2: Path | None
    v2_controllers: frozenset[str]
    v1: dict[str, Path]
    """controller -> directory of this process's own cgroup in that v1 hierarchy"""

    @property
    def limits_memory(self) -> bool:
        return "memory" in self.v2_controllers or "memory" in self.v1

    @property
    def limits_pids(self) -> bool:
        return "pids" in self.v2_controllers or "pids" in self.v1

    @property
    def available(self) -> bool:
        return self.limits_memory and self.limits_pids


@functools.cache
def detect() -> CgroupSupport:
    if os.geteuid() != 0:
        return CgroupSupport(None, frozenset(), {})
    v2: Path | None = None
    v1_mounts: dict[str, Path] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) < 4:
                continue
            if parts[2] == "cgroup2" and v2 is None:
                v2 = Path(parts[1])
            elif parts[2] == "cgroup":
                for option in parts[3].split(","):
                    if option in ("memory", "pids"):
                        v1_mounts[option] = Path(parts[1])
    own: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, names, path = line.split(":", 2)
            for controller in names.split(","):
                own[controller] = path
    controllers: frozenset[str] = frozenset()
    if v2 is not None:
        base = _ensure_dir(v2 / _BASE)
        if base is None:
            v2 = None
        else:
            with contextlib.suppress(OSError):
                available = set((v2 / "cgroup.controllers").read_text().split())
                wanted = available & {"memory", "pids"}
                if wanted:
                    (base / "cgroup.subtree_control").write_text(
                        " ".join(f"+{c}" for c in sorted(wanted))
                    )
                controllers = frozenset(
                    set((base / "cgroup.subtree_control").read_text().split()) & wanted
                )
    v1: dict[str, Path] = {}
    for controller, mount in v1_mounts.items():
        if controller in controllers:
            continue
        own_dir = mount / own.get(controller, "/").lstrip("/")
        if _ensure_dir(own_dir / _BASE) is not None:
            v1[controller] = own_dir
    return CgroupSupport(v2, controllers, v1)


def _ensure_dir(path: Path) -> Path | None:
    try:
        path.mkdir(exist_ok=True)
    except OSError:
        return None
    return path


@dataclass
class HostCgroups:
    """The cgroups of one sandbox host; `procs_files` are what its launcher joins."""

    directories: list[Path] = field(default_factory=list)
    kill_file: Path | None = None

    @property
    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.directories]

    @classmethod
    def create(cls, name: str, memory_bytes: int, pids: int) -> HostCgroups:
        support = detect()
        groups = cls()
        if support.v2 is not None:
            directory = support.v2 / _BASE / name
            directory.mkdir()
            groups.directories.append(directory)
            if (directory / "cgroup.kill").exists():
                groups.kill_file = directory / "cgroup.kill"
            if "memory" in support.v2_controllers:
                (directory / "memory.max").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):
                    (directory / "memory.swap.max").write_text("0")
            if "pids" in support.v2_controllers:
                (directory / "pids.max").write_text(str(pids))
        if "memory" in support.v1:
            directory = support.v1["memory"] / _BASE / name
            directory.mkdir()
            groups.directories.append(directory)
            (directory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            with contextlib.suppress(OSError):
                (directory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        if "pids" in support.v1:
            directory = support.v1["pids"] / _BASE / name
            directory.mkdir()
            groups.directories.append(directory)
            (directory / "pids.max").write_text(str(pids))
        return groups

    def kill(self) -> None:
        """SIGKILL every process in these cgroups (cgroup.kill where the kernel has it)."""
        if self.kill_file is not None:
            with contextlib.suppress(OSError):
                self.kill_file.write_text("1")
        for directory in self.directories:
            kill_members(directory)

    def remove(self, wait: float = 2.0) -> bool:
        return remove_cgroups(self.directories, wait)


def kill_members(directory: Path) -> None:
    for _ in range(100):
        try:
            pids = [int(p) for p in (directory / "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.001)


def remove_cgroups(directories: list[Path], wait: float = 2.0) -> bool:
    """rmdir each cgroup, waiting (briefly) for killed processes to leave; True if all gone."""
    deadline = time.monotonic() + wait
    pending = [d for d in directories if d.exists()]
    while pending:
        still = []
        for directory in pending:
            try:
                directory.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                still.append(directory)
        pending = still
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.005)
    return not pending
