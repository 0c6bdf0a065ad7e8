"""`prereview logs view`: the plaintext exists only in the private workspace while the viewer
runs; the viewer answers only requests that carry its token; Ctrl-C, SIGKILL and a withdrawal
each leave no plaintext behind; open and close are audited."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.review.service import ReviewService
from prereview.vault.envelope import MAGIC
from prereview.vault.service import Vault
from tests.transcripts.conftest import Install, RunningViewer, start_viewer


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, httpx.Headers, bytes]:
    response = httpx.get(url, headers=headers or {}, follow_redirects=False, timeout=60)
    return response.status_code, response.headers, response.content


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 120  # a hang guard, not a timing assertion
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached")
        time.sleep(0.2)


def workspace_logs(install: Install) -> list[Path]:
    """Plaintext logs in the install's plaintext window (any workspace)."""
    return sorted(install.plaintext_base.rglob("*.eval"))


def plaintext_anywhere(root: Path) -> list[Path]:
    """Files under `root` that hold an Inspect log in the clear: an `.eval` file (a zip) that is
    not a sealed prereview artifact."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as fh:
                head = fh.read(len(MAGIC))
            if path.suffix == ".eval" and head != MAGIC:
                found.append(path)
    return found


def open_fds_under(root: Path) -> list[str]:
    """Open file descriptors of any process that point under `root` (deleted files included)."""
    hits = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith(str(root)):
                hits.append(f"{pid}: {target}")
    return hits


def audit_actions(install: Install) -> list[dict[str, object]]:
    with Vault.open(install.settings) as vault:
        return [e.as_dict() for e in vault.audit.entries()]


def _stop(viewer: RunningViewer, sig: signal.Signals) -> tuple[int, str, str]:
    viewer.process.send_signal(sig)
    out, err = viewer.process.communicate(timeout=120)
    return viewer.process.returncode, out, err


def test_a_viewer_serves_only_with_its_token_and_leaves_no_plaintext(
    install: Install, tmp_path: Path
) -> None:
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    sample = install.samples[0]
    viewer = start_viewer(install, "--sample", sample, who="evaluator", tmp=tmp)
    try:
        # open: the plaintext log exists, in the workspace only
        opened = workspace_logs(install)
        assert len(opened) == 1 and opened[0].read_bytes()[:2] == b"PK"
        assert os.stat(opened[0].parent).st_mode & 0o077 == 0
        assert plaintext_anywhere(install.settings.home) == []
        assert f"/samples/sample/{sample}/1/" in viewer.urls[0]

        api = viewer.base + "api/logs"
        assert _get(viewer.base)[0] == 401
        assert _get(api)[0] == 401
        assert _get(viewer.base + "?token=not-the-token")[0] == 401
        assert _get(api, {"Authorization": "Bearer not-the-token"})[0] == 401
        status, _, body = _get(api, {"Authorization": f"Bearer {viewer.token}"})
        assert status == 200 and opened[0].name in body.decode()

        status, headers, _ = _get(f"{viewer.base}?token={viewer.token}")
        assert status == 303 and "token" not in headers["location"]
        cookie = headers["set-cookie"].split(";", 1)[0]
        assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
        assert _get(api, {"Cookie": cookie})[0] == 200
        assert _get(api, {"Cookie": cookie.split("=", 1)[0] + "=x"})[0] == 401
    finally:
        code, out, err = _stop(viewer, signal.SIGINT)
    assert code == 0, err
    assert "plaintext deleted" in out

    assert workspace_logs(install) == []
    assert [p for p in install.plaintext_base.rglob("*") if p.is_file()] == []
    assert plaintext_anywhere(install.settings.home) == []
    assert list(tmp.iterdir()) == []
    assert open_fds_under(install.plaintext_base) == []
    assert viewer.token not in out + err

    entries = audit_actions(install)
    opened_entry = next(e for e in entries if e["action"] == "logs.view.open")
    closed_entry = next(e for e in entries if e["action"] == "logs.view.close")
    assert opened_entry["principal"] == "evaluator"
    assert opened_entry["submission_id"] == install.submission_id
    assert opened_entry["detail"]["sample"] == sample  # type: ignore[index]
    assert closed_entry["detail"]["reason"] == "interrupted"  # type: ignore[index]
    assert closed_entry["detail"]["seconds"] > 0  # type: ignore[index]
    assert viewer.token not in json.dumps(entries)


def test_a_killed_viewer_takes_its_server_along_and_the_next_command_sweeps(
    install: Install, tmp_path: Path
) -> None:
    viewer = start_viewer(install, tmp=tmp_path)
    assert workspace_logs(install)
    viewer.process.kill()
    viewer.process.communicate(timeout=120)

    def server_gone() -> bool:
        return open_fds_under(install.plaintext_base) == []

    _wait(server_gone, "the Inspect View child died with its parent")
    assert workspace_logs(install)  # left behind: nobody could delete it at SIGKILL
    listed = CliRunner().invoke(app, ["logs", "list", install.review_id], env=install.env())
    assert listed.exit_code == 0, listed.stderr
    assert workspace_logs(install) == []
    assert [p for p in install.plaintext_base.rglob("*") if p.is_file()] == []


def test_withdrawal_while_open_closes_the_viewer_and_deletes_its_plaintext(
    install: Install, tmp_path: Path
) -> None:
    viewer = start_viewer(install, tmp=tmp_path)
    assert workspace_logs(install)
    with ReviewService.open(install.settings) as coordinator:
        vault = coordinator.access.vault
        submitter = coordinator.acting_as(vault.authenticate(install.tokens["submitter-a"]))
        submitter.withdraw(install.submission_id)
    out, err = viewer.process.communicate(timeout=120)
    assert viewer.process.returncode == 0, err
    assert "withdrawn" in out
    assert workspace_logs(install) == []
    assert open_fds_under(install.plaintext_base) == []
    closed = [e for e in audit_actions(install) if e["action"] == "logs.view.close"]
    assert closed[-1]["detail"]["reason"] == "crypto-shredded"  # type: ignore[index]


def test_retention_expiry_while_open_closes_the_viewer(install: Install, tmp_path: Path) -> None:
    # the viewer's install keeps closed reviews 0 days: closing the review makes it due
    viewer = start_viewer(install, tmp=tmp_path, PREREVIEW_RETENTION_DAYS="0")
    assert workspace_logs(install)
    with ReviewService.open(install.settings) as coordinator:
        coordinator.deliver_findings(install.submission_id)
        coordinator.close(install.submission_id)
    out, err = viewer.process.communicate(timeout=120)
    assert viewer.process.returncode == 0, err
    assert "retention" in out
    assert workspace_logs(install) == []
    with Vault.open(install.settings) as vault:
        assert vault.keys.shredded(install.submission_id) is not None
