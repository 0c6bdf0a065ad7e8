"""`prereview logs view`: a review's sealed logs, opened for one allowed principal in Inspect View
for as long as the command runs, and nowhere else.

1. Every selected log is decrypted in memory first (through the principal's guarded content, so
   each read is decided and audited); a corrupted one stops the command before any plaintext is
   written anywhere.
2. The plaintext goes into a `PlaintextWorkspace` directory (the private tmpfs window, 0700,
   locked while this process lives), outside its `files/` folder, so the vault's orphan recovery
   never seals it back: it only deletes it.
3. Inspect View runs as a child process (`prereview.transcripts.server`) on 127.0.0.1 behind a
   random token, with TMPDIR, XDG_DATA_HOME and Inspect's trace file inside the workspace.
4. Every `poll_s` the data key's state is read: a withdrawal or a retention expiry (applied here
   when due) shreds the key, and the viewer stops, its plaintext is deleted.
5. Ctrl-C, SIGTERM, SIGHUP, the viewer exiting: the child is stopped and the workspace deleted.
   SIGKILL: the child dies with us (PDEATHSIG, stdin EOF) and the next command that opens the
   vault deletes the workspace (its lock is free).

The open and the close are audited (`logs.view.open`, `logs.view.close` with the duration).
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import quote

from prereview.config import Settings
from prereview.files import create_private
from prereview.store.base import utcnow
from prereview.transcripts.catalog import SealedLog, TranscriptError, log_prefix
from prereview.transcripts.server import LOOPBACK
from prereview.vault.guard import AuthorizedSubmission
from prereview.vault.policy import Operation
from prereview.vault.service import VaultSession

START_TIMEOUT_S = 120.0
"""How long Inspect View may take to start listening (it imports much of Inspect)."""

VIEW_DIR = "view"
TMP_DIR = "tmp"


class ViewerStopped(BaseException):
    """SIGTERM or SIGHUP arrived: stop and clean up like Ctrl-C."""


@dataclass(frozen=True)
class ViewerClosed:
    review_id: str
    logs: tuple[str, ...]
    seconds: float
    reason: str


def check_host(host: str) -> str:
    """Only loopback: the transcripts never leave this machine over the network."""
    if host not in (LOOPBACK, "localhost"):
        raise TranscriptError(
            f"refusing to serve transcripts on {host!r}: the viewer binds {LOOPBACK} only"
        )
    return LOOPBACK


def check_window(settings: Settings, base: Path | None) -> None:
    """Plaintext transcripts go to a tmpfs (memory), or to a directory the operator chose for
    them; never by default to the data dir's disk. Checked before anything is decrypted."""
    if base is None or (settings.plaintext_dir is None and base == settings.home / "work"):
        raise TranscriptError(
            "no private tmpfs for the plaintext window (/dev/shm with 2 GiB free): refusing to "
            "write transcripts to disk; set plaintext_dir to a directory you accept them in"
        )


def sample_route(log: SealedLog, sample: str | None) -> str:
    """The viewer's route to the log (and to the sample in it, first epoch)."""
    route = f"#/logs/{quote(log.name)}"
    if sample is not None:
        epochs = sorted(s.epoch for s in log.samples if s.sample_id == sample)
        route += f"/samples/sample/{quote(sample, safe='')}/{epochs[0] if epochs else 1}/"
    return route


class _Signals:
    """SIGTERM and SIGHUP become `ViewerStopped` in the main thread while the viewer runs."""

    def __enter__(self) -> _Signals:
        self._old: dict[int, object] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGHUP):
                self._old[sig] = signal.signal(sig, self._raise)
        return self

    @staticmethod
    def _raise(signum: int, frame: FrameType | None) -> None:
        raise ViewerStopped(signal.Signals(signum).name)

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)  # type: ignore[arg-type]


def _child_env(workspace: Path, inspect_data: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PREREVIEW_") and k != "INSPECT_VIEW_AUTHORIZATION_TOKEN"
    }
    tmp = workspace / TMP_DIR
    env.update(
        TMPDIR=str(tmp),
        TEMP=str(tmp),
        TMP=str(tmp),
        XDG_DATA_HOME=str(inspect_data),
        INSPECT_TRACE_FILE=str(workspace / "inspect-trace.log"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


class TranscriptViewer:
    """Opens selected sealed logs of one review in Inspect View for one principal."""

    def __init__(
        self,
        session: VaultSession,
        handle: AuthorizedSubmission,
        logs: list[SealedLog],
        *,
        sample: str | None = None,
        task: str | None = None,
        port: int = 0,
        poll_s: float = 1.0,
        say: Callable[[str], None] = print,
    ) -> None:
        handle.check(Operation.LOGS_READ)
        assert handle.review_id is not None
        self.session = session
        self.handle = handle
        self.review_id = handle.review_id
        self.logs = logs
        self.sample = sample
        self.task = task
        self.port = port
        self.poll_s = poll_s
        self.say = say

    def run(self) -> ViewerClosed:
        sid = self.handle.submission_id
        check_window(self.session.vault.settings, self.session.vault.content.workspace.base)
        # all or nothing: a log that does not authenticate stops us before any plaintext lands
        plain = [(log, self.session.content.read(sid, log.key)) for log in self.logs]
        vault = self.session.vault
        workspace = vault.content.workspace
        started = time.monotonic()
        reason = "stopped"
        names = tuple(log.name for log in self.logs)
        with _Signals(), workspace.open(sid, log_prefix(self.review_id) + "#viewer") as ws:
            view_dir = ws.path / VIEW_DIR
            view_dir.mkdir(mode=0o700)
            (ws.path / TMP_DIR).mkdir(mode=0o700)
            for log, data in plain:
                create_private(view_dir / log.name, data)
            del plain
            token = secrets.token_urlsafe(32)
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "prereview.transcripts.server",
                    "--log-dir",
                    str(view_dir),
                    "--port",
                    str(self.port),
                    "--parent",
                    str(os.getpid()),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=_child_env(ws.path, ws.inspect_data),
                cwd=ws.path,
            )
            self.session.guard.record(
                "logs.view.open",
                "ok",
                submission_id=sid,
                target=f"review {self.review_id}",
                detail={
                    "logs": list(names),
                    "task": self.task,
                    "sample": self.sample,
                    "samples": sorted({s.sample_id for log in self.logs for s in log.samples}),
                    "viewer_pid": child.pid,
                },
            )
            try:
                assert child.stdin is not None
                child.stdin.write(token.encode() + b"\n")
                child.stdin.flush()
                port = self._await_listening(child)
                base = f"http://{LOOPBACK}:{port}/?token={token}"
                self.say(f"Inspect View for review {self.review_id} (Ctrl-C to close):")
                for log in self.logs:
                    self.say(base + sample_route(log, self.sample))
                reason = self._watch(child)
            except KeyboardInterrupt:
                reason = "interrupted"
            except ViewerStopped as stop:
                reason = f"stopped by {stop}"
            finally:
                _stop(child)
                seconds = round(time.monotonic() - started, 3)
                with contextlib.suppress(Exception):  # never leave the workspace for this
                    self.session.guard.record(
                        "logs.view.close",
                        "ok",
                        submission_id=sid,
                        target=f"review {self.review_id}",
                        detail={"logs": list(names), "seconds": seconds, "reason": reason},
                    )
        return ViewerClosed(self.review_id, names, seconds, reason)

    def _await_listening(self, child: subprocess.Popen[bytes]) -> int:
        lines: queue.Queue[bytes] = queue.Queue()

        def pump() -> None:
            assert child.stdout is not None
            for line in child.stdout:
                lines.put(line)
            lines.put(b"")

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                line = lines.get(timeout=0.2).decode(errors="replace").strip()
                if line.startswith("listening "):
                    return int(line.split()[1])
                if not line and child.poll() is not None:
                    break
            if self._shredded():
                raise TranscriptError(f"review {self.review_id} was withdrawn; viewer closed")
        raise TranscriptError(
            f"Inspect View did not start for review {self.review_id} "
            f"(exit {child.poll()}); nothing is left decrypted"
        )

    def _shredded(self) -> bool:
        vault = self.session.vault
        sid = self.handle.submission_id
        if vault.keys.shredded(sid) is not None:
            return True
        if any(due.submission_id == sid for due in vault.retention.due(utcnow())):
            vault.enforce_retention(utcnow())
            return True
        return False

    def _watch(self, child: subprocess.Popen[bytes]) -> str:
        while True:
            code = child.poll()
            if code is not None:
                return f"viewer exited ({code})"
            if self._shredded():
                self.say(
                    f"review {self.review_id} was withdrawn or reached the end of its retention: "
                    "viewer closed, its plaintext deleted"
                )
                return "crypto-shredded"
            time.sleep(self.poll_s)


def _stop(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        if child.stdin is not None:
            child.stdin.close()  # EOF ends it too
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
