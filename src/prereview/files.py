"""Owner-only file writes: the one place prereview writes a file that may hold confidential or
secret bytes (reports, briefs, content, keys, audit heads).

Both helpers create the file 0600 from the start (never world-readable for an instant) and
never follow a symlink planted at the destination's temporary name.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_private_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data`, readable by the owner only: a 0600 temp file beside it,
    fsync'd, renamed over it. A crash leaves the old content or the new, never a torn file.
    The parent directory must exist (callers choose its mode)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_private(path: Path, data: bytes) -> None:
    """Create `path` 0600 with `data`; fails if anything exists there (a key or a plaintext
    copy is never silently replaced)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        if fd != -1:
            os.close(fd)
