"""A sample's transcript from a review's sealed Inspect log, for the API and the portal.

The same authorization as `prereview logs view` (`logs.read` on the review, recorded with the
task and sample asked for); the log is opened in memory (an `.eval` file is a zip archive of
JSON documents), never written to disk, and only the chosen sample's messages leave it: each
as its role and its text (tool calls as `name(arguments)`). The portal renders them escaped.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import asdict, dataclass
from typing import Any

from prereview.transcripts.catalog import ReviewLogs, TranscriptError, review_logs
from prereview.vault.policy import Operation
from prereview.vault.service import VaultSession

MAX_MESSAGE_CHARS = 200_000
"""A message longer than this is cut (and says so): a page, not a dump."""


@dataclass(frozen=True)
class Message:
    role: str
    text: str


@dataclass(frozen=True)
class Transcript:
    review_id: str
    submission_id: str
    log: str
    task: str
    sample: str
    epoch: int
    score: float | None
    messages: tuple[Message, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def logs_of(session: VaultSession, ident: str) -> ReviewLogs:
    """The review's sealed logs (`logs.read`): names, samples, scores; nothing decrypted."""
    handle = session.guard.authorize(Operation.LOGS_READ, ident)
    return review_logs(session.vault.db, session.vault.content, handle)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                kind = part.get("type")
                value = part.get("text") or part.get("reasoning") or ""
                parts.append(str(value) if kind in ("text", "reasoning") else f"[{kind}]")
            else:
                parts.append(str(part))
        return "\n".join(p for p in parts if p)
    return "" if content is None else str(content)


def _message(raw: Any) -> Message:
    if not isinstance(raw, dict):
        return Message("unknown", str(raw)[:MAX_MESSAGE_CHARS])
    text = _text(raw.get("content"))
    for call in raw.get("tool_calls") or []:
        if isinstance(call, dict):
            args = json.dumps(call.get("arguments"), ensure_ascii=False)
            text += f"\n{call.get('function', '?')}({args})"
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + f"\n[… cut at {MAX_MESSAGE_CHARS} characters]"
    return Message(str(raw.get("role", "unknown")), text)


def transcript(
    session: VaultSession, ident: str, sample: str, task: str | None = None, epoch: int = 1
) -> Transcript:
    """The messages of `sample` (of `task`, epoch `epoch`) in the review of `ident`."""
    handle = session.guard.authorize(
        Operation.LOGS_READ, ident, detail={"task": task, "sample": sample, "epoch": epoch}
    )
    found = review_logs(session.vault.db, session.vault.content, handle)
    for log in found.select(task, sample):
        logged = [
            s
            for s in log.samples
            if s.sample_id == sample and s.epoch == epoch and task in (None, s.task, s.task_key)
        ]
        if not logged:
            continue
        data = session.content.read(found.submission_id, log.key)
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                body = json.loads(archive.read(f"samples/{sample}_epoch_{epoch}.json"))
        except (zipfile.BadZipFile, KeyError, ValueError):
            raise TranscriptError(
                f"log {log.name} holds no readable transcript of sample {sample!r} epoch {epoch}"
            ) from None
        messages = body.get("messages") if isinstance(body, dict) else None
        return Transcript(
            found.review_id,
            found.submission_id,
            log.name,
            logged[0].task,
            sample,
            epoch,
            logged[0].score,
            tuple(_message(m) for m in messages or []),
        )
    raise TranscriptError(f"review {found.review_id} has no logged sample {sample!r} epoch {epoch}")
