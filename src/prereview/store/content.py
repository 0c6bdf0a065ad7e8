"""The content of a submission: the one interface through which its artifacts are written and read.

Content is everything that reveals what the model did or what the review found: Inspect logs and
transcripts, per-sample result payloads, reports. Tables hold only metadata and keys into this
store, so the vault (per-submission data keys, crypto-shredding on withdrawal or retention) can
wrap `SubmissionContent` without touching the rest of prereview. The vault picks the
implementation (`prereview.vault.service`: `VaultSession.content`, or `open_encrypted_content`
for trusted code that checked access itself); the store never imports the vault.

Keys are relative POSIX paths (`reviews/rev-1/results/smoke/add-1.json`); `..`, absolute paths
and empty parts are refused.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path, PurePosixPath

from prereview.errors import PrereviewError
from prereview.files import write_private_atomic


class ContentError(PrereviewError):
    pass


class ContentNotFoundError(ContentError):
    pass


def check_key(key: str) -> PurePosixPath:
    path = PurePosixPath(key)
    if not key or path.is_absolute() or any(p in ("", ".", "..") for p in key.split("/")):
        raise ContentError(f"invalid content key {key!r}")
    return path


class SubmissionContent(ABC):
    """Confidential artifacts of submissions, addressed by (submission id, key)."""

    @abstractmethod
    def write(self, submission_id: str, key: str, data: bytes) -> None:
        """Store `data` under `key`, atomically: readers see the old or the new bytes."""

    @abstractmethod
    def read(self, submission_id: str, key: str) -> bytes:
        """The bytes under `key`; ContentNotFoundError when there are none."""

    @abstractmethod
    def exists(self, submission_id: str, key: str) -> bool: ...

    @abstractmethod
    def keys(self, submission_id: str, prefix: str = "") -> list[str]:
        """Every key of the submission starting with `prefix`, sorted."""

    @abstractmethod
    def working_dir(self, submission_id: str, key: str) -> AbstractContextManager[Path]:
        """A directory for tools that must write files themselves (Inspect's log dir).

        Its files are the content under `key/`. They persist between uses, so an interrupted
        assessment resumes from them; an encrypting implementation opens (decrypts) them on
        enter and seals them on exit.
        """

    def seal(self, submission_id: str, key: str) -> int:
        """Store what the open working dir (submission_id, key) holds now, without closing it;
        the number of files stored. Plain files are stored as they are written (0)."""
        return 0

    @abstractmethod
    def erase(self, submission_id: str) -> None:
        """Remove every artifact of the submission."""


class FileSubmissionContent(SubmissionContent):
    """Plain files under `<root>/<submission id>/`, private to the owner (0700/0600)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, submission_id: str) -> Path:
        check_key(submission_id)
        if "/" in submission_id:
            raise ContentError(f"invalid submission id {submission_id!r}")
        return self.root / submission_id

    def _mkdirs(self, path: Path) -> None:
        """Create `path` and its parents below the root, each private (mkdir's `parents`
        would create the intermediate ones with the umask's mode)."""
        missing = []
        while not path.exists() and path != path.parent:
            missing.append(path)
            path = path.parent
        for directory in reversed(missing):
            directory.mkdir(mode=0o700, exist_ok=True)

    def _path(self, submission_id: str, key: str) -> Path:
        return self._dir(submission_id).joinpath(*check_key(key).parts)

    def write(self, submission_id: str, key: str, data: bytes) -> None:
        path = self._path(submission_id, key)
        self._mkdirs(path.parent)
        write_private_atomic(path, data)

    def read(self, submission_id: str, key: str) -> bytes:
        path = self._path(submission_id, key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise ContentNotFoundError(f"no content {key!r} for {submission_id}") from None

    def exists(self, submission_id: str, key: str) -> bool:
        return self._path(submission_id, key).is_file()

    def keys(self, submission_id: str, prefix: str = "") -> list[str]:
        base = self._dir(submission_id)
        if not base.is_dir():
            return []
        found = (
            p.relative_to(base).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )
        return sorted(k for k in found if k.startswith(prefix))

    @contextmanager
    def _working_dir(self, submission_id: str, key: str) -> Iterator[Path]:
        path = self._path(submission_id, key)
        self._mkdirs(path)
        yield path

    def working_dir(self, submission_id: str, key: str) -> AbstractContextManager[Path]:
        return self._working_dir(submission_id, key)

    def erase(self, submission_id: str) -> None:
        shutil.rmtree(self._dir(submission_id), ignore_errors=True)
