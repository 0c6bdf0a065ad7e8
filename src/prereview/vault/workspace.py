"""The plaintext window: private directories where Inspect writes its logs while a run lasts.

Inspect writes log files itself, in the clear, while it runs. The vault gives it a directory
here (0700, under `<plaintext dir>/<install tag>/`), seals what it wrote into the encrypted
content store as soon as the run ends (and on every explicit `seal`), then deletes the
plaintext. Each directory holds a lock for as long as its run lives; one whose lock is free
belongs to a run that died (SIGKILL, power loss), and `orphans()` hands it to the vault, which
seals and deletes it the next time any command opens the vault.

Put `plaintext_dir` on a tmpfs (`/dev/shm/...`) to keep the window off persistent storage.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_OWNER = "owner.json"
_LOCK = "lock"
FILES = "files"
INSPECT_DATA = "inspect-data"


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


class PlaintextWorkspace:
    """Creates, locks, finds and removes the plaintext directories of one install."""

    def __init__(self, base: Path, home: Path) -> None:
        tag = hashlib.sha256(str(home).encode()).hexdigest()[:12]
        self.root = base / tag

    @contextlib.contextmanager
    def open(self, scope: str, key: str) -> Iterator[OpenWorkspace]:
        """A fresh private directory for (scope, key), locked until the block ends, then
        deleted (the caller seals its files before leaving the block)."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        path = self.root / secrets.token_hex(8)
        path.mkdir(mode=0o700)
        fd = os.open(path / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            (path / _OWNER).write_text(json.dumps({"scope": scope, "key": key, "pid": os.getpid()}))
            ws = OpenWorkspace(path, scope, key)
            ws.files.mkdir(mode=0o700)
            ws.inspect_data.mkdir(mode=0o700)
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
        if not self.root.is_dir():
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
