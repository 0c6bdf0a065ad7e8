from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prereview.store import Database, migrate
from prereview.store.locks import ReviewLockedError, review_lock

HOLDER = """
import sys, time
from pathlib import Path
from prereview.store import Database
from prereview.store.locks import review_lock
db = Database(sys.argv[1])
with review_lock(db, Path(sys.argv[2]), "rev-1"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_second_holder_is_refused_and_lock_is_released(database_url: str, tmp_path: Path) -> None:
    migrate(database_url)
    with Database(database_url) as db:
        with review_lock(db, tmp_path, "rev-1"):
            with (
                pytest.raises(ReviewLockedError, match="--resume"),
                review_lock(db, tmp_path, "rev-1"),
            ):
                pass
            with review_lock(db, tmp_path, "rev-2"):  # other reviews are independent
                pass
        with review_lock(db, tmp_path, "rev-1"):
            pass


def test_lock_dies_with_a_killed_holder(database_url: str, tmp_path: Path) -> None:
    migrate(database_url)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database_url, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        with Database(database_url) as db:
            with pytest.raises(ReviewLockedError), review_lock(db, tmp_path, "rev-1"):
                pass
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            deadline = time.monotonic() + 30  # PostgreSQL notices the dead session shortly
            while True:
                try:
                    with review_lock(db, tmp_path, "rev-1"):
                        break
                except ReviewLockedError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
