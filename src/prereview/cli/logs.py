"""`prereview logs`: read a review's sealed Inspect logs (transcripts) in Inspect View, and move
them sealed to another cleared evaluation host.

Who may: `list` and `view` need `logs.read` (the assigned evaluator, a coordinator, and a
submitter for its own organization's reviews where the agency set `submitters_read_transcripts`);
`export` needs `logs.export` (coordinators); `import` needs `logs.import` and `keygen`
`keys.manage` (coordinators).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Column, Table

from prereview.cli.common import (
    JsonOption,
    api,
    console,
    emit_json,
    new_app,
    part,
    remote,
    settings,
)
from prereview.transcripts.catalog import review_logs
from prereview.vault.policy import Operation, Resource
from prereview.vault.service import open_session

app = new_app("Read a review's sealed Inspect logs in Inspect View; export them sealed.")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@app.command("list")
def list_logs(
    review: str = typer.Argument(..., help="Review or submission id."),
    json_out: bool = JsonOption,
) -> None:
    """The review's sealed logs: tasks, samples, scores and sizes (nothing is decrypted)."""
    if remote():
        data: dict[str, Any] = api("GET", f"/api/v1/submissions/{part(review)}/logs")
    else:
        session = open_session(settings())
        with session.vault:
            handle = session.guard.authorize(Operation.LOGS_READ, review)
            found = review_logs(session.vault.db, session.vault.content, handle)
        data = {
            "review_id": found.review_id,
            "submission_id": found.submission_id,
            "logs": [log.as_dict() for log in found.logs],
        }
    if json_out:
        emit_json(data)
        return
    if not data["logs"]:
        console.print(f"review {data['review_id']} has no sealed logs yet")
        return
    table = Table("task", "samples", "scored", "mean score", "sealed size")
    table.columns.insert(0, Column("log", overflow="fold"))  # names are what one copies
    for log in data["logs"]:
        samples = log["samples"]
        scores = [s["score"] for s in samples if s["score"] is not None]
        mean = f"{sum(scores) / len(scores):.2f}" if scores else "-"
        table.add_row(
            escape(log["log"]),
            escape(", ".join(sorted({s["task"] for s in samples})) or "-"),
            str(len(samples)),
            str(len(scores)),
            mean,
            _size(log["sealed_bytes"]),
        )
    console.print(table)
    console.print(
        f"open one with `prereview logs view {data['review_id']} --sample S` (or --task T)",
        highlight=False,
    )


@app.command()
def view(
    review: str = typer.Argument(..., help="Review or submission id."),
    task: str | None = typer.Option(None, "--task", help="Only the logs of this task."),
    sample: str | None = typer.Option(None, "--sample", help="Only the logs holding it."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="0: any free port."),
    host: str = typer.Option("127.0.0.1", "--host", help="Loopback only; anything else refused."),
) -> None:
    """Open the review's logs in Inspect View on 127.0.0.1 behind a one-time token, until
    Ctrl-C; the plaintext lives in the private tmpfs window only while the viewer runs.

    Against a server (PREREVIEW_URL) it prints one sample's transcript (`--sample`) instead:
    the viewer and the plaintext stay on the agency host."""
    if remote():
        _print_transcript(review, task, sample)
        return
    from prereview.transcripts.viewer import TranscriptViewer, check_host

    check_host(host)
    session = open_session(settings())
    with session.vault:
        handle = session.guard.authorize(
            Operation.LOGS_READ, review, detail={"task": task, "sample": sample}
        )
        chosen = review_logs(session.vault.db, session.vault.content, handle).select(task, sample)
        viewer = TranscriptViewer(
            session,
            handle,
            chosen,
            sample=sample,
            task=task,
            port=port,
            say=lambda line: console.print(line, highlight=False, soft_wrap=True, markup=False),
        )
        closed = viewer.run()
    console.print(
        f"viewer closed ({closed.reason}) after {closed.seconds:.0f} s; plaintext deleted",
        highlight=False,
        markup=False,
    )


def _print_transcript(review: str, task: str | None, sample: str | None) -> None:
    from prereview.service.client import RemoteError

    if sample is None:
        raise RemoteError(
            "against a server `prereview logs view` prints one transcript: name it with --sample"
        )
    query = {"task": task} if task else {}
    found = api(
        "GET", f"/api/v1/submissions/{part(review)}/transcripts/{part(sample)}", params=query
    )
    console.print(
        f"review {found['review_id']}, task {found['task']}, sample {found['sample']} "
        f"(epoch {found['epoch']}, score {found['score']}), log {found['log']}",
        highlight=False,
        markup=False,
    )
    for message in found["messages"]:
        console.print(f"\n[{message['role']}]", highlight=False, markup=False)
        console.print(message["text"], highlight=False, markup=False, soft_wrap=True)


@app.command()
def keygen(json_out: bool = JsonOption) -> None:
    """Create this host's transfer key pair (once; never replaced), so that other installs can
    export logs to it; prints the public key file to give them."""
    from prereview.transcripts.bundle import create_host_key

    session = open_session(settings())
    with session.vault:
        session.guard.require(Operation.KEYS_MANAGE, Resource.system())
        host, created = create_host_key(session.vault.settings.keys_dir)
        if created:
            session.guard.record("logs.keygen", "ok", target=f"host key {host.key_id}")
    result = {"key_id": host.key_id, "public_key_file": str(host.public_path), "created": created}
    if json_out:
        emit_json(result)
        return
    verb = "created" if created else "exists already"
    console.print(
        f"host transfer key {host.key_id} {verb}; give senders {host.public_path} "
        "(`prereview logs export REVIEW --recipient FILE`) and back up the keys dir",
        highlight=False,
        markup=False,
    )


@app.command()
def export(
    review: str = typer.Argument(..., help="Review or submission id."),
    out: Path = typer.Option(..., "--out", help="Bundle file to create (never overwritten)."),
    recipient: Path = typer.Option(
        ..., "--recipient", help="The receiving host's host-transfer.pub."
    ),
    json_out: bool = JsonOption,
) -> None:
    """Seal the review's logs to another cleared evaluation host's key (coordinators); only
    that host can open the bundle, and no plaintext leaves this one (against a server: the
    server seals it and this machine writes it)."""
    if remote():
        done = _export_remote(review, out, recipient)
    else:
        from prereview.transcripts.transfer import export_logs

        session = open_session(settings())
        with session.vault:
            handle = session.guard.authorize(Operation.LOGS_EXPORT, review)
            done = export_logs(session, handle, recipient, out).as_dict()
    if json_out:
        emit_json(done)
        return
    console.print(
        f"{done['logs']} logs ({done['samples']} samples) of review {done['review_id']} sealed "
        f"to {done['recipient_key_id']}, signed by {done['sender_key_id']}: {done['path']}",
        highlight=False,
        markup=False,
    )


def _export_remote(review: str, out: Path, recipient: Path) -> dict[str, Any]:
    import base64
    import hashlib

    from prereview.service.client import RemoteError
    from prereview.transcripts.bundle import BundleError, read_host_public
    from prereview.transcripts.transfer import _write_new

    read_host_public(recipient)  # a bad key file is refused here, with the local line
    if out.exists():
        raise BundleError(f"{out} exists: choose another --out")
    answer = api(
        "POST",
        f"/api/v1/submissions/{part(review)}/logs/export",
        json={"recipient": recipient.read_text(encoding="ascii")},
    )
    blob = base64.b64decode(answer.pop("bundle"))
    if hashlib.sha256(blob).hexdigest() != answer["bundle_sha256"]:
        raise RemoteError("the bundle the server sent does not match its digest: not written")
    _write_new(out, blob)
    return {**answer, "path": str(out)}


@app.command("import")
def import_(
    bundle: Path = typer.Argument(..., help="A bundle made by `prereview logs export`."),
    sender: Path = typer.Option(
        ..., "--sender", help="The sending install's audit-signing.pub: who must have signed it."
    ),
    json_out: bool = JsonOption,
) -> None:
    """Verify a bundle sealed to this host and re-seal its logs under this vault as an
    imported review (coordinators); assign evaluators to it to let them read it."""
    from prereview.transcripts.transfer import import_logs

    session = open_session(settings())
    with session.vault:
        done = import_logs(session, bundle, sender)
    if json_out:
        emit_json(done.as_dict())
        return
    console.print(
        f"imported review {done.review_id} (submission {done.submission_id}): {done.logs} logs, "
        f"{done.samples} samples, signed by {done.sender_key_id}; assign evaluators with "
        f"`prereview principals assign NAME {done.submission_id}`",
        highlight=False,
        markup=False,
    )
