"""The plaintext window: private directories where Inspect writes its logs while a run lasts.

Inspect writes log files itself, in the clear, while it runs. The vault gives it a directory
here (0700, under `<plaintext dir>/<install tag>/`), seals what it wrote into the encrypted
content store as soon as the run ends (and on every explicit `seal`), then deletes the
plaintext. Each directory holds a lock for as long as its run lives; one whose lock is free
belongs to a run that died (SIGKILL, power loss), and `orphans()` hands it to the vault, which
seals and deletes it the next time any command opens the vault.

Inspect also writes a trace log of its own (tool calls with their arguments, i.e. transcript
text), by default under ~/.local/share/inspect_ai/traces and kept after the process ends.
`confine_inspect_traces` points it into this install's plaintext directory instead, and the
trace of a process is deleted when it exits (or, if it was killed, at the next vault open).

Inspect builds each `.eval` log in an anonymous temp file, and keeps other side files (sample
buffers, task stores, caches) under the temp dir and its data and cache dirs. `confine_temp`
points all of them (TMPDIR, Python's `tempfile.tempdir`, XDG_DATA_HOME, XDG_CACHE_HOME; the
environment is inherited by subprocesses) into the open workspace for as long as it is open.

With no base (no private tmpfs and no `plaintext_dir` configured) nothing may be opened:
`open` and `require` refuse with `PlaintextWindowError` before anything is written.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prereview.errors import PrereviewError

_OWNER = "owner.json"
_LOCK = "lock"
FILES = "files"
INSPECT_DATA = "inspect-data"
INSPECT_CACHE = "inspect-cache"
TEMP = "temp"


class PlaintextWindowError(PrereviewError):
    """No place that is not persistent storage for plaintext, and none configured."""

    def __init__(self) -> None:
        super().__init__(
            "refused: no private tmpfs for the plaintext window (/dev/shm or $XDG_RUNTIME_DIR: "
            "a tmpfs with room, ours alone) and no plaintext_dir configured; set "
            "PREREVIEW_PLAINTEXT_DIR (or plaintext_dir in the config file) to accept a "
            "directory of your choice, e.g. on disk"
        )


@dataclass(frozen=True)
class OpenWorkspace:
    """A live plaintext directory: `files` is what the tool writes into."""

    path: Path
    scope: str
    key: str

    @property
    def files(self) -> Path:
        return self.path / FILES

    @property
    def inspect_data(self) -> Path:
        return self.path / INSPECT_DATA

    @property
    def inspect_cache(self) -> Path:
        return self.path / INSPECT_CACHE

    @property
    def temp(self) -> Path:
        return self.path / TEMP


class PlaintextWorkspace:
    """Creates, locks, finds and removes the plaintext directories of one install.

    `base` None: there is no acceptable place (see `PlaintextWindowError`); the install works
    for everything that needs no plaintext window, and refuses what does."""

    def __init__(self, base: Path | None, home: Path) -> None:
        tag = hashlib.sha256(str(home).encode()).hexdigest()[:12]
        self.base = base
        self.root = base / tag if base is not None else home / ".no-plaintext-window"
        self.home = home

    def require(self) -> Path:
        """The base directory; PlaintextWindowError when there is none."""
        if self.base is None:
            raise PlaintextWindowError()
        return self.base

    @contextlib.contextmanager
    def open(self, scope: str, key: str) -> Iterator[OpenWorkspace]:
        """A fresh private directory for (scope, key), locked until the block ends, then
        deleted (the caller seals its files before leaving the block)."""
        self.require()
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        path = self.root / secrets.token_hex(8)
        path.mkdir(mode=0o700)
        fd = os.open(path / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            owner = {"scope": scope, "key": key, "pid": os.getpid(), "home": str(self.home)}
            (path / _OWNER).write_text(json.dumps(owner))
            ws = OpenWorkspace(path, scope, key)
            for private in (ws.files, ws.inspect_data, ws.inspect_cache, ws.temp):
                private.mkdir(mode=0o700)
            try:
                yield ws
            finally:
                self.remove(path)
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                self.root.rmdir()  # only when no other run of this install holds a dir here

    def orphans(self) -> list[OpenWorkspace]:
        """Directories left by runs that died: their lock is free."""
        if self.base is None or not self.root.is_dir():
            return []
        found = []
        for path in sorted(self.root.iterdir()):
            if not path.is_dir():
                continue
            try:
                fd = os.open(path / _LOCK, os.O_RDWR)
            except FileNotFoundError:  # being created right now, or a half-removed dir
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live run
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
            try:
                owner = json.loads((path / _OWNER).read_text())
                found.append(OpenWorkspace(path, str(owner["scope"]), str(owner["key"])))
            except (OSError, ValueError, KeyError):
                found.append(OpenWorkspace(path, "", ""))  # unknown owner: remove only
        return found

    def sweep_abandoned(self) -> int:
        """Delete what dead processes left here that no vault can seal any more: workspaces of
        data dirs that no longer exist, and Inspect traces. Returns how many were removed."""
        removed = 0
        if self.base is None or not self.base.is_dir():
            return 0
        for tag in self.base.iterdir():
            if not tag.is_dir() or tag.is_symlink():
                continue
            for trace in (tag / _TRACES).glob("trace-*.log*"):
                pid = trace.name.removeprefix("trace-").split(".", 1)[0]
                if pid.isdigit() and not _alive(int(pid)):
                    trace.unlink(missing_ok=True)
                    removed += 1
            if tag == self.root:
                continue  # ours: `orphans()` seals them
            for ws in self._dead_in(tag):
                home = _owner_home(ws)
                if home is None or not Path(home).exists():
                    self.remove(ws)
                    removed += 1
        return removed

    @staticmethod
    def _dead_in(tag: Path) -> list[Path]:
        dead = []
        for path in tag.iterdir():
            if not path.is_dir() or path.name == _TRACES:
                continue
            try:
                fd = os.open(path / _LOCK, os.O_RDWR)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                dead.append(path)
            except BlockingIOError:
                pass
            finally:
                os.close(fd)
        return dead

    def confine_inspect_traces(self) -> Path | None:
        """Send this process's Inspect trace log into the private plaintext directory and delete
        it at exit. Only possible before Inspect's logging starts, and only when the user did
        not choose a trace file (INSPECT_TRACE_FILE); returns the path, or None."""
        chosen = os.environ.get("INSPECT_TRACE_FILE")
        if chosen and chosen != os.environ.get(_CONFINED):  # the user's own choice
            return None
        if self.base is None:  # nothing runs Inspect on submission data here (refused)
            return None
        if logging.getLogger("inspect_ai").handlers:  # Inspect's logging already started
            return None
        traces = self.root / _TRACES
        traces.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = traces / f"trace-{os.getpid()}.log"
        os.environ["INSPECT_TRACE_FILE"] = os.environ[_CONFINED] = str(path)  # children: own file
        # registered before Inspect registers its own exit handler (which gzips the trace next
        # to it), so it runs after that one and removes both
        atexit.register(_remove_trace, path)
        return path

    @staticmethod
    def files_of(ws: OpenWorkspace) -> list[tuple[str, Path]]:
        """(relative POSIX path, file) of every file the tool wrote, sorted."""
        if not ws.files.is_dir():
            return []
        return sorted(
            (p.relative_to(ws.files).as_posix(), p) for p in ws.files.rglob("*") if p.is_file()
        )

    @staticmethod
    def remove(path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)


_TRACES = "traces"
_CONFINED = "PREREVIEW_CONFINED_INSPECT_TRACE"
_TEMP_ENV = ("TMPDIR", "TEMP", "TMP")


@contextlib.contextmanager
def confine_temp(ws: OpenWorkspace) -> Iterator[None]:
    """For the block: every temp file of this process (Python's `tempfile`, Inspect's log
    buffers included) and of the subprocesses it starts, and Inspect's data and cache dirs, in
    the workspace; the previous settings come back afterwards.

    Process-wide, as Inspect's own temp files are; nested blocks restore in turn."""
    saved_env = {
        name: os.environ.get(name) for name in (*_TEMP_ENV, "XDG_DATA_HOME", "XDG_CACHE_HOME")
    }
    saved_tempdir = tempfile.tempdir
    for name in _TEMP_ENV:
        os.environ[name] = str(ws.temp)
    os.environ["XDG_DATA_HOME"] = str(ws.inspect_data)
    os.environ["XDG_CACHE_HOME"] = str(ws.inspect_cache)
    tempfile.tempdir = str(ws.temp)
    try:
        yield
    finally:
        tempfile.tempdir = saved_tempdir
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_home(ws: Path) -> str | None:
    try:
        home = json.loads((ws / _OWNER).read_text()).get("home")
    except (OSError, ValueError, AttributeError):
        return None
    return str(home) if home else None


def _remove_trace(path: Path) -> None:
    for leftover in (path, path.with_suffix(".log.gz")):
        with contextlib.suppress(OSError):
            leftover.unlink()
