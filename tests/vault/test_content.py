from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from prereview.store.content import ContentNotFoundError
from prereview.vault.errors import IntegrityError
from prereview.vault.service import Vault, plaintext_base
from tests.vault.conftest import add_submission

SECRET = b"FLAG{transcript-canary-7731}"


def _leaks(root: Path) -> list[str]:
    """Files under `root` holding SECRET (found outside `assert`, so it is never printed)."""
    return [str(p) for p in root.rglob("*") if p.is_file() and SECRET in p.read_bytes()]


def test_artifacts_are_sealed_at_rest(vault: Vault) -> None:
    sid = add_submission(vault, "Org A")
    vault.content.write(sid, "reviews/r/results/t/1.json", SECRET)
    assert vault.content.read(sid, "reviews/r/results/t/1.json") == SECRET
    assert vault.content.keys(sid) == ["reviews/r/results/t/1.json"]
    assert _leaks(vault.settings.home) == []


def test_corrupted_ciphertext_names_the_artifact(vault: Vault) -> None:
    sid = add_submission(vault, "Org A")
    vault.content.write(sid, "reports/report.md", SECRET)
    path = vault.settings.artifacts_dir / sid / "reports" / "report.md"
    blob = bytearray(path.read_bytes())
    blob[-5] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(IntegrityError, match=rf"{sid}/reports/report\.md"):
        vault.content.read(sid, "reports/report.md")


def test_ciphertext_swapped_between_submissions_fails(vault: Vault) -> None:
    a, b = add_submission(vault, "Org A"), add_submission(vault, "Org B")
    vault.content.write(a, "reports/report.md", b"A's report")
    vault.content.write(b, "reports/report.md", b"B's report")
    root = vault.settings.artifacts_dir
    (root / b / "reports" / "report.md").write_bytes(
        (root / a / "reports" / "report.md").read_bytes()
    )
    with pytest.raises(IntegrityError, match=rf"{b}/reports/report\.md"):
        vault.content.read(b, "reports/report.md")


def test_missing_artifact_is_not_found(vault: Vault) -> None:
    sid = add_submission(vault, "Org A")
    with pytest.raises(ContentNotFoundError):
        vault.content.read(sid, "reports/none.md")


def test_working_dir_is_sealed_on_exit_and_plaintext_removed(vault: Vault) -> None:
    sid = add_submission(vault, "Org A")
    with vault.content.working_dir(sid, "reviews/r/logs") as log_dir:
        assert stat_mode(log_dir.parent) == 0o700
        (log_dir / "run.eval").write_bytes(SECRET)
        assert os.environ["XDG_DATA_HOME"].startswith(str(plaintext_base(vault.settings)))
        plaintext_dir = log_dir
    assert not plaintext_dir.exists()
    assert "XDG_DATA_HOME" not in os.environ or not os.environ["XDG_DATA_HOME"].startswith(
        str(plaintext_base(vault.settings))
    )
    assert vault.content.read(sid, "reviews/r/logs/run.eval") == SECRET
    assert _leaks(vault.settings.home) == []
    # reopened: the sealed files come back in plaintext for Inspect to resume from
    with vault.content.working_dir(sid, "reviews/r/logs") as log_dir:
        assert (log_dir / "run.eval").read_bytes() == SECRET


def test_seal_during_a_run_stores_what_is_finished(vault: Vault) -> None:
    sid = add_submission(vault, "Org A")
    with vault.content.working_dir(sid, "logs") as log_dir:
        (log_dir / "task1.eval").write_bytes(b"one")
        assert vault.content.seal(sid, "logs") == 1
        assert vault.content.seal(sid, "logs") == 0  # unchanged files are not sealed again
        assert vault.content.read(sid, "logs/task1.eval") == b"one"
        (log_dir / "task2.eval").write_bytes(b"two")
    assert vault.content.keys(sid, "logs/") == ["logs/task1.eval", "logs/task2.eval"]


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_plaintext_of_a_dead_run_is_sealed_and_removed_at_next_open(vault: Vault) -> None:
    sid = add_submission(vault, "Org A")
    ws_root = vault.content.workspace.root
    ws = ws_root / "deadbeef"
    (ws / "files" / "sub").mkdir(parents=True)
    (ws / "lock").touch()
    (ws / "owner.json").write_text(json.dumps({"scope": sid, "key": "logs", "pid": 1}))
    (ws / "files" / "sub" / "x.eval").write_bytes(SECRET)
    with Vault.open(vault.settings) as again:
        assert again.content.read(sid, "logs/sub/x.eval") == SECRET
        actions = [e.action for e in again.audit.entries(submission_id=sid)]
    assert not ws.exists()
    assert "artifact.recovered" in actions


def test_plaintext_of_a_live_run_is_left_alone(vault: Vault) -> None:
    sid = add_submission(vault, "Org A")
    with vault.content.working_dir(sid, "logs") as log_dir:
        (log_dir / "x.eval").write_bytes(b"live")
        with Vault.open(vault.settings) as other:
            assert other.content.keys(sid) == []
        assert (log_dir / "x.eval").exists()


def test_orphan_lock_detection_uses_flock(vault: Vault) -> None:
    ws = vault.content.workspace.root / "held"
    ws.mkdir(parents=True)
    fd = os.open(ws / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert vault.content.workspace.orphans() == []
    finally:
        os.close(fd)
    assert [o.path for o in vault.content.workspace.orphans()] == [ws]
