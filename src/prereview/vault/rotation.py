"""Rotating the key-encryption key: every live data key rewrapped under a new KEK in one
transaction, the old KEK retired in the store and its file destroyed.

Data keys themselves do not change, so nothing sealed is re-encrypted (rotation costs one unwrap
and one wrap per submission) and a process that already holds a submission's key keeps working.
A process that would create a new data key under the retired KEK is refused instead.

The steps are ordered so that a crash at any point loses nothing:

1. the new KEK is written to `kek.key.next` (0600);
2. one transaction rewraps every live data key, records the new KEK and retires the old one;
3. the old key file is overwritten with zeros and `kek.key.next` is renamed over it.

A crash before step 2 commits leaves the store on the old KEK, and the next rotation destroys
the stale `.next`. A crash after it leaves `.next` holding the store's active KEK, and
`finish_interrupted_rotation` (run whenever the keys are opened) completes step 3. A lock file
keeps two rotations, or a rotation and that recovery, from overlapping.

Overwriting a file is no guarantee on copy-on-write or flash storage, and backups taken before
the rotation still hold the old KEK: where the old key must be unrecoverable, use a KMS provider
and let it destroy the key version.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, text

from prereview.store.base import utcnow
from prereview.store.database import Database
from prereview.store.tables.vault import DataKeyRow, VaultKeyRow
from prereview.vault.datakeys import DataKeyRing
from prereview.vault.errors import VaultError
from prereview.vault.keys.interface import WrappedKey
from prereview.vault.keys.local import KEK_FILE, LocalKeyFileProvider

NEXT_SUFFIX = ".next"
LOCK_FILE = "rotation.lock"


@dataclass(frozen=True)
class RotationResult:
    old_kek_id: str
    new_kek_id: str
    rewrapped: int  # live data keys, now wrapped by the new KEK
    shredded: int  # destroyed data keys: nothing to rewrap
    at: datetime

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "at": self.at.isoformat()}


@contextlib.contextmanager
def rotation_lock(keys_dir: Path) -> Iterator[None]:
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(keys_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def destroy_key_file(path: Path) -> None:
    """Overwrite a key file with zeros, flush it, and remove it."""
    with contextlib.suppress(FileNotFoundError):
        size = path.stat().st_size
        with open(path, "r+b", buffering=0) as fh:
            fh.write(b"\x00" * size)
            os.fsync(fh.fileno())
        path.unlink()


def _sync_dir(path: Path) -> None:
    """Make a file's creation or rename in `path` durable (a crash must not undo it)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _active_kek_ids(db: Database) -> set[str]:
    with db.session() as s:
        return set(
            s.scalars(
                select(VaultKeyRow.key_id).where(
                    VaultKeyRow.kind == "kek", VaultKeyRow.retired_at.is_(None)
                )
            )
        )


def _finish(db: Database, keys_dir: Path) -> bool:
    """Step 3 of a rotation whose transaction committed; False when there is none to finish."""
    kek_path, next_path = keys_dir / KEK_FILE, keys_dir / (KEK_FILE + NEXT_SUFFIX)
    if not next_path.exists():
        return False
    pending = LocalKeyFileProvider.load(next_path)
    if pending.kek_id not in _active_kek_ids(db):
        return False  # an aborted rotation's key: it wraps nothing
    destroy_key_file(kek_path)
    os.replace(next_path, kek_path)
    _sync_dir(keys_dir)
    return True


def finish_interrupted_rotation(db: Database, keys_dir: Path) -> bool:
    """Complete a rotation that crashed after its transaction committed (before the key files
    were swapped); True when one was completed."""
    if not (keys_dir / (KEK_FILE + NEXT_SUFFIX)).exists():
        return False
    with rotation_lock(keys_dir):
        return _finish(db, keys_dir)


def rotate_kek(db: Database, keys: DataKeyRing, keys_dir: Path) -> RotationResult:
    """Replace the local KEK: see the module docstring for the order of steps."""
    old = keys.provider
    if not isinstance(old, LocalKeyFileProvider):
        raise VaultError(
            f"the {old.name!r} key provider rotates its keys itself (in the KMS or HSM); "
            "prereview rotates only the local key file"
        )
    kek_path, next_path = keys_dir / KEK_FILE, keys_dir / (KEK_FILE + NEXT_SUFFIX)
    with rotation_lock(keys_dir):
        if _finish(db, keys_dir):  # another rotation committed but did not swap the files
            raise VaultError(
                "an interrupted key rotation was just completed: open the vault again and retry"
            )
        destroy_key_file(next_path)  # left by a rotation that never committed
        new = LocalKeyFileProvider.create(next_path)
        _sync_dir(keys_dir)  # on disk before any data key depends on it
        now = utcnow()
        # on failure `.next` stays: were the commit to have gone through after all, it is the
        # only copy of the store's KEK (it is finished or destroyed by what runs next)
        with db.session() as s:
            if db.dialect == "sqlite":
                s.execute(text("PRAGMA secure_delete=ON"))
            record = s.get(VaultKeyRow, old.kek_id)
            if record is None or record.retired_at is not None:
                raise VaultError(f"key {old.kek_id} is not this store's active KEK")
            rows = s.scalars(select(DataKeyRow).with_for_update()).all()
            live = [r for r in rows if r.wrapped_key is not None]
            for row in live:
                assert row.wrapped_key is not None
                data_key = old.unwrap(WrappedKey(row.kek_id, row.wrapped_key), row.scope)
                wrapped = new.wrap(data_key, row.scope)
                row.kek_id, row.wrapped_key = wrapped.kek_id, wrapped.blob
            record.retired_at = now
            s.add(VaultKeyRow(key_id=new.kek_id, kind="kek", provider=new.name, created_at=now))
        destroy_key_file(kek_path)
        os.replace(next_path, kek_path)
        _sync_dir(keys_dir)
    keys.adopt(new)
    return RotationResult(old.kek_id, new.kek_id, len(live), len(rows) - len(live), now)
