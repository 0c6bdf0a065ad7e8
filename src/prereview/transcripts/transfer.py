"""`prereview logs export|import`: a review's sealed logs handed to another cleared evaluation
host, never as plaintext.

Export (coordinators, `logs.export`): the logs are opened in memory through the coordinator's
guarded content (each read audited) and sealed to the receiving host's public key
(`prereview.transcripts.bundle`); the file is created 0600 and never overwrites one.

Import (coordinators of the receiving install, `logs.import`): after every check passes, the
review is recorded as an *imported review* with the origin's submission and review ids, so that
the ids in the origin's report work here too (`prereview logs view REVIEW --sample S`):
a submission row in state `closed` (nothing is assessed or submitted here; the retention period
runs from the import), its organization and model name, `compare_in_later_reviews` off, the
per-sample result numbers, and the logs re-sealed under this install's own data key for it.
Nobody but coordinators sees it until a coordinator assigns an evaluator
(`prereview principals assign EVALUATOR SUBMISSION`). An id that already exists here is refused.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from prereview.store import new_id, utcnow
from prereview.store.tables.review import (
    OrganizationRow,
    ReviewRow,
    SampleResultRow,
    SubmissionEventRow,
    SubmissionRow,
)
from prereview.store.tables.vault import DataKeyRow
from prereview.transcripts.bundle import (
    BundleError,
    host_key_id,
    load_host_key,
    open_bundle,
    pack_payload,
    read_host_public,
    read_signer_public,
    seal_bundle,
    unpack_payload,
)
from prereview.transcripts.catalog import TranscriptError, log_prefix, review_logs
from prereview.vault.guard import AuthorizedSubmission, canonical_reference
from prereview.vault.policy import Operation, Resource
from prereview.vault.service import VaultSession

_RESULT_FIELDS = (
    "task_key",
    "task",
    "tier",
    "sample_id",
    "epoch",
    "score",
    "score_value",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "total_time_s",
    "working_time_s",
    "error",
    "log_ref",
)
_ORIGIN_FIELDS = (
    "model_name",
    "model_version",
    "model",
    "max_connections",
    "seconds_per_request",
    "window_policy",
    "terms_version",
    "confidentiality",
)


@dataclass(frozen=True)
class Transfer:
    submission_id: str
    review_id: str
    logs: int
    samples: int
    bundle_sha256: str
    sender_key_id: str
    recipient_key_id: str
    path: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _write_new(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BundleError(f"{path} exists: choose another --out") from None
    except OSError as exc:
        raise BundleError(f"cannot create {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def export_logs(
    session: VaultSession, handle: AuthorizedSubmission, recipient: Path, out: Path
) -> Transfer:
    handle.check(Operation.LOGS_EXPORT)
    recipient_raw = read_host_public(recipient)
    vault = session.vault
    found = review_logs(vault.db, vault.content, handle)
    if not found.logs:
        raise TranscriptError(f"review {found.review_id} has no sealed logs yet")
    sid = handle.submission_id
    files = [(log.name, session.content.read(sid, log.key)) for log in found.logs]
    with vault.db.session() as s:
        row = s.get(SubmissionRow, sid)
        assert row is not None
        origin = {f: getattr(row, f) for f in _ORIGIN_FIELDS}
        origin.update(
            submission_id=sid,
            review_id=found.review_id,
            organization=row.organization.name,
            release_date=row.release_date.isoformat(),
            submitted_on=row.submitted_on.isoformat(),
        )
        results = [
            {f: getattr(r, f) for f in _RESULT_FIELDS}
            for r in s.scalars(
                select(SampleResultRow).where(SampleResultRow.review_id == found.review_id)
            )
        ]
    payload = pack_payload(
        {"exported_at": utcnow().isoformat(), "origin": origin, "results": results}, files
    )
    del files
    blob = seal_bundle(payload, recipient_raw, vault.signer)
    _write_new(out, blob)
    done = Transfer(
        submission_id=sid,
        review_id=found.review_id,
        logs=len(found.logs),
        samples=len(results),
        bundle_sha256=hashlib.sha256(blob).hexdigest(),
        sender_key_id=vault.signer.key_id,
        recipient_key_id=host_key_id(recipient_raw),
        path=str(out),
    )
    session.guard.record(
        "logs.export",
        "ok",
        submission_id=sid,
        target=f"review {found.review_id}",
        detail=done.as_dict(),
    )
    return done


def _origin_ids(manifest: dict[str, Any], what: str) -> tuple[dict[str, Any], str, str]:
    origin = manifest.get("origin")
    if not isinstance(origin, dict):
        raise BundleError(f"{what}: its manifest names no origin")
    sid, rid = origin.get("submission_id"), origin.get("review_id")
    if not isinstance(sid, str) or not isinstance(rid, str):
        raise BundleError(f"{what}: its manifest names no review")
    if canonical_reference(sid) != sid or canonical_reference(rid) != rid:
        raise BundleError(f"{what}: its manifest names ids of an unknown shape")
    return origin, sid, rid


def import_logs(session: VaultSession, bundle: Path, sender: Path) -> Transfer:
    session.guard.require(Operation.LOGS_IMPORT, Resource.system(), target=f"bundle {bundle.name}")
    vault = session.vault
    what = f"bundle {bundle}"
    host = load_host_key(vault.settings.keys_dir)
    expected = read_signer_public(sender)
    try:
        blob = bundle.read_bytes()
    except OSError as exc:
        raise BundleError(f"{what} cannot be read: {exc.strerror}") from None
    opened = open_bundle(blob, host, what, expected)
    manifest, files = unpack_payload(opened.payload, what)
    origin, sid, rid = _origin_ids(manifest, what)
    results = manifest.get("results") or []
    prefix = log_prefix(rid)
    rows = _result_rows(results, rid, prefix, {name for name, _ in files}, what)
    with vault.db.session() as s:
        if s.get(SubmissionRow, sid) is not None or s.get(ReviewRow, rid) is not None:
            raise BundleError(f"{what}: review {rid} is already on this install")
    try:
        _record_imported(session, origin, sid, rid, rows)
        for name, data in files:
            session.content.write(sid, prefix + name, data)
    except BaseException as exc:
        _undo(session, sid)
        if isinstance(exc, SQLAlchemyError):
            raise BundleError(f"{what}: its review metadata does not fit this store") from None
        raise
    done = Transfer(
        submission_id=sid,
        review_id=rid,
        logs=len(files),
        samples=len(rows),
        bundle_sha256=hashlib.sha256(blob).hexdigest(),
        sender_key_id=opened.sender_key_id,
        recipient_key_id=opened.recipient_key_id,
        path=str(bundle),
    )
    session.guard.record(
        "logs.import", "ok", submission_id=sid, target=f"review {rid}", detail=done.as_dict()
    )
    return done


def _plain_value(value: object) -> bool:
    """A manifest value as prereview writes them: a number, None, or a short printable string
    (a bundle is only as trusted as its signer: nothing else reaches the store or a terminal)."""
    if value is None or isinstance(value, bool):
        return value is None
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and len(value) <= 500 and value.isprintable()


def _result_rows(
    results: Any, rid: str, prefix: str, names: set[str], what: str
) -> list[SampleResultRow]:
    if not isinstance(results, list):
        raise BundleError(f"{what}: its results are malformed")
    rows = []
    for item in results:
        if not isinstance(item, dict) or set(item) - set(_RESULT_FIELDS):
            raise BundleError(f"{what}: a result in its manifest is malformed")
        ref = str(item.get("log_ref", ""))
        if not ref.startswith(prefix) or ref[len(prefix) :].partition("#")[0] not in names:
            raise BundleError(f"{what}: a result refers to a log the bundle does not hold")
        if not all(_plain_value(v) for v in item.values()):
            raise BundleError(f"{what}: a result in its manifest holds an unexpected value")
        try:
            rows.append(SampleResultRow(review_id=rid, run_id=None, payload_key=None, **item))
        except TypeError:
            raise BundleError(f"{what}: a result in its manifest is malformed") from None
    return rows


def _record_imported(
    session: VaultSession,
    origin: dict[str, Any],
    sid: str,
    rid: str,
    rows: list[SampleResultRow],
) -> None:
    principal = session.principal
    try:
        fields = {f: origin[f] for f in _ORIGIN_FIELDS}
        release = date.fromisoformat(str(origin["release_date"]))
        submitted = date.fromisoformat(str(origin["submitted_on"]))
        org_name = str(origin["organization"])[:200]
    except (KeyError, ValueError):
        raise BundleError("the bundle's manifest lacks the origin's review metadata") from None
    if not all(_plain_value(v) for v in (*fields.values(), org_name)):
        raise BundleError("the bundle's manifest holds unexpected review metadata")
    with session.vault.db.session() as s:
        org = s.scalar(select(OrganizationRow).where(OrganizationRow.name == org_name))
        if org is None:
            org = OrganizationRow(id=new_id("org"), name=org_name)
            s.add(org)
            s.flush()
        row = SubmissionRow(
            id=sid,
            organization_id=org.id,
            base_url=None,
            api_key_env=None,
            model_args=None,
            requests_per_minute=None,
            release_date=release,
            submitted_on=submitted,
            compare_in_later_reviews=False,
            state="closed",
            **fields,
        )
        s.add(row)
        s.flush()  # no ORM relationship orders these inserts
        s.add(
            SubmissionEventRow(
                submission_id=sid,
                action="import",
                from_state=None,
                to_state="closed",
                actor=principal.name,
                role=principal.actor().role.value,
                at=utcnow(),
            )
        )
        s.add(ReviewRow(id=rid, submission_id=sid))
        s.flush()
        s.add_all(rows)


def _undo(session: VaultSession, sid: str) -> None:
    """Remove a half-done import: its content, data key and rows."""
    vault = session.vault
    vault.content.inner.erase(sid)
    with vault.db.session() as s:
        review = s.scalar(select(ReviewRow.id).where(ReviewRow.submission_id == sid))
        if review is not None:
            s.execute(delete(SampleResultRow).where(SampleResultRow.review_id == review))
            s.execute(delete(ReviewRow).where(ReviewRow.id == review))
        s.execute(delete(SubmissionEventRow).where(SubmissionEventRow.submission_id == sid))
        s.execute(delete(SubmissionRow).where(SubmissionRow.id == sid))
        s.execute(delete(DataKeyRow).where(DataKeyRow.scope == sid))
