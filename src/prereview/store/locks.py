"""Exclusive locks on a review, so two `prereview assess` runs never write the same review.

Both kinds are released by the operating system when the holder dies (Ctrl-C, SIGKILL, machine
restart), so a crashed run never leaves a stale lock behind:

- SQLite: `flock` on `<data dir>/locks/<review id>.lock` (one host, like the database file).
- PostgreSQL: a session advisory lock held on a dedicated connection (any number of hosts).
"""

from __future__ import annotations

import fcntl
import os
import socket
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from prereview.errors import PrereviewError
from prereview.store.database import Database


class ReviewLockedError(PrereviewError):
    """Another process holds the review's lock."""


def _advisory_key(review_id: str) -> int:
    # two 32-bit halves folded into PostgreSQL's signed 64-bit key space
    high = zlib.crc32(b"prereview.review")
    low = zlib.crc32(review_id.encode())
    key = (high << 32) | low
    return key - (1 << 64) if key >= (1 << 63) else key


@contextmanager
def review_lock(db: Database, locks_dir: Path, review_id: str) -> Iterator[None]:
    """Hold the review's lock for the block; ReviewLockedError at once if another holds it."""
    if db.dialect == "postgresql":
        with db.engine.connect() as conn:
            key = _advisory_key(review_id)
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            conn.commit()
            if not got:
                raise ReviewLockedError(
                    f"review {review_id} is being assessed by another process; "
                    "wait for it to finish or stop it (Ctrl-C), then use --resume"
                )
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return

    locks_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = locks_dir / f"{review_id}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise ReviewLockedError(
                f"review {review_id} is being assessed by {holder}; wait for it to finish "
                "or stop it (Ctrl-C), then use --resume"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
