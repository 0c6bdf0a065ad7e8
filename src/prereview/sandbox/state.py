"""Where live samples are recorded, so that anything a crashed evaluator left behind is found.

Each sample gets `<state root>/<sample id>/` holding `owner.json` (the evaluator's pid and its
start time, which together survive pid reuse; the host uids and cgroups the sample holds) and
bwrap's log. Processes, namespaces, veths and tmpfs mounts die with the sample's PID-1 agents
(bwrap's --die-with-parent, and the agent exits when its control socket closes); what can outlive
a SIGKILLed evaluator is this directory, the uid reservations and empty cgroups, and
`sweep_stale` removes those.

The state root decides which processes and cgroups a sweep kills and which agent binary every
sandbox runs, so it is used only when it is the evaluator's own: a real directory (not a
symlink), owned by the evaluator's uid, mode 0700, in a parent no one else can rename it out of.
Anything else is refused before a byte is read from or written into it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prereview.sandbox.errors import SandboxUnavailableError

HOST_UID_BASE = 0x60000000
"""Host uids the sandboxes run as (when the evaluator is root): far above any real account."""
HOST_UID_SPAN = 1 << 24
PRIVATE_MODE = 0o700
ROOT_STATE = Path("/run/prereview-sandbox")
SHARED_TMP = Path("/tmp")  # noqa: S108 (only ever a checked, private subdirectory of it)


def state_root() -> Path:
    """The evaluator's private state directory, created (0700) when missing and checked each
    time: `$PREREVIEW_SANDBOX_STATE`, else /run/prereview-sandbox as root, else
    `$XDG_RUNTIME_DIR/prereview-sandbox`, else /tmp/prereview-sandbox-<uid>."""
    root = state_location()
    ensure_private_dir(root)
    return root


def state_location() -> Path:
    """Where the state root is, before any check (see `state_root`)."""
    configured = os.environ.get("PREREVIEW_SANDBOX_STATE")
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return ROOT_STATE
    runtime = _runtime_dir()
    if runtime is not None:
        return runtime / "prereview-sandbox"
    return SHARED_TMP / f"prereview-sandbox-{os.geteuid()}"


def _runtime_dir() -> Path | None:
    """`$XDG_RUNTIME_DIR` when it is what the XDG spec promises: absolute, a real directory,
    ours, mode 0700; otherwise None (and the shared temp dir is used, checked)."""
    value = os.environ.get("XDG_RUNTIME_DIR", "")
    if not value or not os.path.isabs(value):
        return None
    try:
        info = os.lstat(value)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        return None
    return Path(value) if info.st_mode & 0o077 == 0 else None


def ensure_private_dir(path: Path) -> None:
    """Create `path` (mode 0700) if missing; refuse it unless it is a real directory owned by
    this uid with mode 0700 whose parent others cannot rename it out of."""
    uid = os.geteuid()
    path = Path(os.path.abspath(path))
    _check_parent(path, uid)
    created = False
    try:
        os.mkdir(path, PRIVATE_MODE)
        created = True
    except FileExistsError:
        pass
    except OSError as exc:
        raise SandboxUnavailableError(
            f"cannot create the sandbox state directory {path}: {exc.strerror}",
            "set PREREVIEW_SANDBOX_STATE to a directory of your own",
        ) from None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:  # ELOOP: a symlink; ENOTDIR: a file
        kind = "a symlink" if os.path.islink(path) else "not a directory"
        raise _unsafe(path, kind) from None
    try:
        if created:
            os.fchmod(fd, PRIVATE_MODE)  # ours since mkdir; the umask may have narrowed it
        info = os.fstat(fd)
    finally:
        os.close(fd)
    if info.st_uid != uid:
        raise _unsafe(path, f"owned by uid {info.st_uid}, not by this evaluator (uid {uid})")
    mode = stat.S_IMODE(info.st_mode)
    if mode != PRIVATE_MODE:
        raise _unsafe(path, f"mode {mode:04o}, not 0700")


def _check_parent(path: Path, uid: int) -> None:
    """The parent must be ours or root's, and not writable by others unless sticky (/tmp)."""
    try:
        path.parent.mkdir(mode=PRIVATE_MODE, parents=True, exist_ok=True)
        info = os.stat(path.parent)
    except OSError as exc:
        raise _unsafe(path, f"its directory is unusable ({exc.strerror})") from None
    shared = info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX
    if info.st_uid not in (0, uid) or shared:
        raise _unsafe(
            path, f"{path.parent} is another user's or writable by others (no sticky bit)"
        )


def _unsafe(path: Path, why: str) -> SandboxUnavailableError:
    return SandboxUnavailableError(
        f"refusing the sandbox state directory {path}: {why}",
        "remove it (prereview recreates it with mode 0700) or set PREREVIEW_SANDBOX_STATE "
        "to a directory of your own with mode 0700",
    )


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
        directory = state_root() / f"s-{secrets.token_hex(6)}"
        directory.mkdir(mode=PRIVATE_MODE)
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
                os.close(
                    os.open(self.directory.parent / f"uid-{uid}", os.O_CREAT | os.O_EXCL, 0o600)
                )
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
    found = []
    for entry in sorted(state_root().iterdir()):
        if entry.is_dir() and entry.name.startswith("s-"):
            state = SampleState.load(entry)
            if state is not None:
                found.append(state)
    return found
