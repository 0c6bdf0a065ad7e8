from __future__ import annotations

import stat
from pathlib import Path

import pytest

from prereview.store.content import (
    ContentError,
    ContentNotFoundError,
    FileSubmissionContent,
)


@pytest.fixture
def content(tmp_path: Path) -> FileSubmissionContent:
    return FileSubmissionContent(tmp_path / "artifacts")


def test_write_read_list_and_erase(content: FileSubmissionContent) -> None:
    content.write("sub-1", "reviews/rev-1/results/a.json", b'{"score": 1}')
    content.write("sub-1", "reviews/rev-1/report.md", b"# r")
    content.write("sub-2", "x", b"other submission")
    assert content.read("sub-1", "reviews/rev-1/results/a.json") == b'{"score": 1}'
    assert content.keys("sub-1") == ["reviews/rev-1/report.md", "reviews/rev-1/results/a.json"]
    assert content.keys("sub-1", "reviews/rev-1/results/") == ["reviews/rev-1/results/a.json"]
    content.write("sub-1", "reviews/rev-1/report.md", b"# r2")
    assert content.read("sub-1", "reviews/rev-1/report.md") == b"# r2"
    content.erase("sub-1")
    assert content.keys("sub-1") == []
    assert content.read("sub-2", "x") == b"other submission"
    with pytest.raises(ContentNotFoundError):
        content.read("sub-1", "reviews/rev-1/report.md")


def test_files_are_private(content: FileSubmissionContent) -> None:
    content.write("sub-1", "a/b.json", b"{}")
    assert stat.S_IMODE((content.root / "sub-1").stat().st_mode) == 0o700
    assert stat.S_IMODE((content.root / "sub-1" / "a" / "b.json").stat().st_mode) == 0o600


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a"])
def test_keys_cannot_escape(content: FileSubmissionContent, key: str) -> None:
    with pytest.raises(ContentError):
        content.write("sub-1", key, b"x")
    assert not content.root.exists() or not any(content.root.rglob("*x*"))


def test_submission_id_cannot_escape(content: FileSubmissionContent) -> None:
    for bad in ("..", "a/b", ""):
        with pytest.raises(ContentError):
            content.write(bad, "k", b"x")


def test_working_dir_files_are_content_and_persist(content: FileSubmissionContent) -> None:
    with content.working_dir("sub-1", "reviews/rev-1/logs") as logs:
        (logs / "run.eval").write_bytes(b"zip")
    with content.working_dir("sub-1", "reviews/rev-1/logs") as logs:
        assert (logs / "run.eval").read_bytes() == b"zip"
    assert content.keys("sub-1", "reviews/rev-1/logs/") == ["reviews/rev-1/logs/run.eval"]
