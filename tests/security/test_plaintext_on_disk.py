"""No plaintext of a run on persistent storage: a canary planted in the model's replies is, during
the run and after it, nowhere outside the private plaintext workspace (the system temp dir, the
data dir, INSPECT_LOG_DIR, Inspect's data and cache dirs, open-but-deleted files of this process),
and nowhere at all after withdrawal. Without a private tmpfs and without an explicit
`plaintext_dir`, `assess` refuses and starts nothing.

The scan reads every file whole and also every compressed stream in it (Inspect's `.eval` logs
are zip files of zstd-compressed members, built in an anonymous temp file), so a canary cannot
hide in a compressed log.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import zstandard
from inspect_ai.hooks import Hooks, SampleEnd, hooks
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.config import Settings, load_settings
from prereview.domain.lifecycle import SubmissionState
from prereview.domain.submission import ModelAccess, Throughput
from prereview.home import initialize_home
from prereview.review.assessment import run_assessment
from prereview.review.service import ReviewService, SubmissionRequest
from prereview.store.tables.review import SampleResultRow
from prereview.vault import service as vault_service
from prereview.vault.service import plaintext_base
from prereview.vault.workspace import PlaintextWindowError
from tests.review.conftest import ORG, SUBMITTER_TOKEN, open_services, row_counts
from tests.store.databases import _sqlite_template  # noqa: F401

_LIMIT = 1 << 26  # at most this much decompressed per stream: a scan, not a bomb test
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _zstd_frames(data: bytes) -> Iterator[bytes]:
    start = 0
    while (i := data.find(_ZSTD_MAGIC, start)) >= 0:
        start = i + 4
        try:  # a stream decoder: a frame cut short (a log still being written) decodes in part
            yield zstandard.ZstdDecompressor().decompressobj().decompress(data[i:])[:_LIMIT]
        except zstandard.ZstdError:
            continue


def _deflate_members(data: bytes) -> Iterator[bytes]:
    start = 0
    while (i := data.find(b"PK\x03\x04", start)) >= 0:
        start = i + 4
        if len(data) < i + 30 or int.from_bytes(data[i + 8 : i + 10], "little") != 8:
            continue
        skip = int.from_bytes(data[i + 26 : i + 28], "little")
        skip += int.from_bytes(data[i + 28 : i + 30], "little")
        try:
            yield zlib.decompressobj(-15).decompress(data[i + 30 + skip :], _LIMIT)
        except zlib.error:
            continue


def holds(data: bytes, needle: bytes) -> bool:
    """Whether `needle` is in `data`, as is or inside a zstd, deflate (zip) or gzip stream."""
    if needle in data:
        return True
    if data.startswith(b"\x1f\x8b"):
        try:
            if needle in gzip.decompress(data)[:_LIMIT]:
                return True
        except (OSError, EOFError, zlib.error):
            pass
    return any(needle in part for part in (*_zstd_frames(data), *_deflate_members(data)))


def _read(path: Path | str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(1 << 28)
    except OSError:  # vanished meanwhile, a socket, a directory behind an fd
        return b""


def _inside(path: str, allowed: Path) -> bool:
    return path == str(allowed) or path.startswith(str(allowed) + "/")


class Probe:
    """Looks for the canary everywhere a run could leave plaintext."""

    def __init__(self, canary: str, roots: list[Path], workspace: Path, since: float) -> None:
        self.needle = canary.encode()
        self.roots = roots
        self.workspace = workspace
        self.since = since
        self.outside: list[str] = []  # where the canary was found (never the canary itself)
        self.inside = 0  # times it was seen in the workspace: the probe sees plaintext at all
        self.scans = 0
        self.child_tempdir: str | None = None

    def files(self, *, everywhere: bool) -> Iterator[Path]:
        for root in self.roots:
            if not root.exists():
                continue
            for dirpath, dirnames, filenames in os.walk(root):
                if not everywhere and _inside(dirpath, self.workspace):
                    dirnames[:] = []
                    continue
                if dirpath == "/tmp":  # other test runs: not ours to read
                    dirnames[:] = [d for d in dirnames if not d.startswith("pytest-of-")]
                for name in filenames:
                    path = Path(dirpath, name)
                    try:
                        info = path.lstat()
                    except OSError:
                        continue
                    if stat.S_ISREG(info.st_mode) and (
                        info.st_mtime >= self.since or not str(path).startswith("/tmp/")
                    ):
                        yield path

    def open_files(self) -> Iterator[tuple[str, str]]:
        """(what the fd names, /proc path to read it) for every regular file this process has
        open, deleted ones included."""
        fd_dir = Path(f"/proc/{os.getpid()}/fd")
        for fd in os.listdir(fd_dir):
            link = fd_dir / fd
            try:
                target = os.readlink(link)
                if not stat.S_ISREG(os.stat(link).st_mode):
                    continue
            except OSError:
                continue
            yield target, str(link)

    def scan(self, *, everywhere: bool = False) -> None:
        self.scans += 1
        for path in self.files(everywhere=everywhere):
            if holds(_read(path), self.needle):
                self.outside.append(f"file {path}")
        for target, proc_path in self.open_files():
            name = target.removesuffix(" (deleted)")
            if not holds(_read(proc_path), self.needle):
                continue
            if _inside(name, self.workspace) and not everywhere:
                self.inside += 1
            else:
                self.outside.append(f"open file {target}")
        if not everywhere:
            self.inside += sum(
                1 for p in self.workspace.rglob("*") if p.is_file() and holds(_read(p), self.needle)
            )


_probe: Probe | None = None


@hooks(name="prereview_test_canary_probe", description="scans for a canary while samples end")
class CanaryProbeHooks(Hooks):
    def enabled(self) -> bool:
        return _probe is not None

    async def on_sample_end(self, data: SampleEnd) -> None:
        if _probe is None:
            return
        _probe.scan()
        if _probe.child_tempdir is None:  # what a subprocess started now would use
            out = subprocess.run(
                [sys.executable, "-c", "import tempfile; print(tempfile.gettempdir())"],
                capture_output=True,
                text=True,
                check=True,
            )
            _probe.child_tempdir = out.stdout.strip()


@pytest.fixture
def install(
    prereview_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    _sqlite_template: Path,  # noqa: F811
) -> Settings:
    # this process's system temp dir and Inspect's default dirs, where the scan can read them
    for name, sub in (("TMPDIR", "system-tmp"), ("XDG_DATA_HOME", "xdg-data")):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(name, str(tmp_path / sub))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("INSPECT_TRACE_FILE", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    prereview_home.mkdir(mode=0o700)
    shutil.copyfile(_sqlite_template, prereview_home / "prereview.db")
    initialize_home(load_settings())
    return load_settings()


def _request(script: Path) -> SubmissionRequest:
    """The `scripted` model answering from `script`: the model's side, outside every scanned
    place (the store keeps only its path)."""
    return SubmissionRequest(
        organization=ORG,
        access=ModelAccess("scripted/canary"),
        release_date=date.today() + timedelta(days=21),
        throughput=Throughput(None, 2, 0.01),
        model_args={"script": str(script)},
    )


def _script(tmp_path: Path, reply: str) -> Path:
    path = tmp_path / "model-side" / "turns.json"
    path.parent.mkdir()
    path.write_text(json.dumps([reply, reply]))  # calibration: two model calls per sample
    return path


def test_canary_from_the_model_stays_in_the_workspace_and_is_gone_after_withdrawal(
    install: Settings, tmp_path: Path
) -> None:
    global _probe
    canary = f"REPLY-CANARY-{secrets.token_hex(12)}"
    workspace = plaintext_base(install)
    assert workspace is not None
    home_dirs = [Path.home() / ".local/share/inspect_ai", Path.home() / ".cache/inspect_ai"]
    roots = [
        Path(tempfile.gettempdir()),  # the system temp dir of this process (TMPDIR)
        Path("/tmp"),  # for anything that ignores TMPDIR
        install.home,
        Path(os.environ["INSPECT_LOG_DIR"]),
        tmp_path / "xdg-data",
        tmp_path / "xdg-cache",
        *home_dirs,
    ]
    probe = Probe(canary, roots, workspace, since=time.time() - 1)
    submitter, reviewer = open_services(install)
    try:
        record = submitter.submit(_request(_script(tmp_path, f"Here it is. {canary}")))
        _probe = probe
        try:
            outcome = run_assessment(reviewer, record.id, suite="calibration", limit=4)
        finally:
            _probe = None
        assert outcome.status == "completed" and outcome.samples_done == 4
        assert probe.scans >= 4
        assert probe.outside == []  # during the run
        assert probe.inside > 0  # the probe did see the plaintext, where it belongs
        assert probe.child_tempdir is not None and _inside(probe.child_tempdir, workspace)
        assert tempfile.gettempdir() == str(tmp_path / "system-tmp")  # restored after the run

        probe.scan()  # after the run: the workspace is gone, nothing of it elsewhere
        assert probe.outside == []
        assert not any(p.is_file() for p in workspace.rglob("*") if "traces" not in p.parts)
        payload = reviewer.results(record.id)[0].payload_key
        assert payload is not None
        assert canary.encode() in reviewer.content.read(record.id, payload)  # sealed, not lost

        submitter.withdraw(record.id)
        probe.roots.append(workspace)
        probe.scan(everywhere=True)  # nowhere at all now, the plaintext dir included
        assert probe.outside == []
    finally:
        reviewer.dispose()


def _fake_mounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host whose /dev/shm and runtime dir are plain disk: no tmpfs anywhere."""
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/vda / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n")
    monkeypatch.setattr(vault_service, "MOUNTS", mounts)
    monkeypatch.delenv("PREREVIEW_PLAINTEXT_DIR")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))


def _paths(root: Path) -> set[Path]:
    """Every path under `root`, but the database's own files (the refusal is audited)."""
    return {p for p in root.rglob("*") if not p.name.startswith("prereview.db")}


def test_assess_refuses_without_tmpfs_or_explicit_dir_and_starts_nothing(
    install: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitter, reviewer = open_services(install)
    try:
        record = submitter.submit(_request(_script(tmp_path, "no secret here")))
        before = row_counts(reviewer)
    finally:
        reviewer.dispose()
    _fake_mounts(tmp_path, monkeypatch)
    settings = load_settings()
    paths_before = _paths(tmp_path)
    assert settings.plaintext_dir is None and plaintext_base(settings) is None

    runner = CliRunner()
    done = runner.invoke(app, ["assess", record.id, "--suite", "calibration", "--limit", "2"])
    assert done.exit_code == 2
    lines = [line for line in done.output.splitlines() if line.strip()]
    assert (
        len(lines) == 1 and "no private tmpfs" in lines[0] and "PREREVIEW_PLAINTEXT_DIR" in lines[0]
    )

    # nothing started, nothing written (no new file anywhere: no plan, no log, no disk fallback)
    assert _paths(tmp_path) - paths_before == set()
    with ReviewService.open(settings) as coordinator:
        assert row_counts(coordinator) == before
        after = coordinator.get(record.id)
        assert after.state is SubmissionState.SUBMITTED and after.review is None
        with pytest.raises(PlaintextWindowError):
            run_assessment(coordinator, record.id, suite="calibration", limit=2)
        entries = coordinator.access.vault.audit.entries(submission_id=record.id)
        assert any(e.action == "review.assess" and e.outcome == "failed" for e in entries)
        with coordinator.db.session() as s:
            assert s.query(SampleResultRow).count() == 0

    # the rest of the install works: status as the submitter
    token = SUBMITTER_TOKEN[str(settings.home)]
    shown = runner.invoke(app, ["status", record.id], env={"PREREVIEW_TOKEN": token})
    assert shown.exit_code == 0 and "submitted" in shown.output

    # an explicit directory is the operator's choice: then it is used
    monkeypatch.setenv("PREREVIEW_PLAINTEXT_DIR", str(tmp_path / "chosen"))
    assert plaintext_base(load_settings()) == tmp_path / "chosen"
