"""Crypto-shredding: on withdrawal, or when the retention period runs out, a submission's data
key is destroyed and its sealed artifacts deleted. Whatever copies of the ciphertext survive
(backups, a copied data dir) can no longer be decrypted by anyone.

The per-sample result rows of its review (scores, token counts, error texts: results, not
metadata) are deleted too, with SQLite's secure_delete, the error details of its runs cleared,
and the model's identity as the submitter gave it (model name and version, Inspect model string,
base URL, credential variable name, model args) replaced by `redacted:<digest>`. All of that
happens in the transaction that destroys the key, ordered against every recorder by
`DataKeyRing.hold`: a sample recorded just before is purged with the rest, one recorded after
is refused. What stays is what the audit trail needs: the submission id, its organization, its
state history, its runs' times and statuses, when and why it was shredded, which KEK had wrapped
its key, a digest of the manifest of ciphertexts that existed (each ciphertext's SHA-256 was
recorded when it was sealed), and a keyed digest of the identity: SHA-256 of the audit signing
key's (deterministic Ed25519) signature over the submission id and the identity fields. Whoever
holds the signing key can confirm a claimed identity; nobody else can test guesses.

Retention: a withdrawn submission is shredded at once; a closed one `retention_days` after it
was closed. `RetentionPolicy.due()` lists what is due; the vault applies it whenever it opens.
A shredded submission that still has result rows or its identity (left by an older version) is
due again: the repeated shred removes them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from prereview.domain.lifecycle import SubmissionState
from prereview.store.database import Database
from prereview.store.tables.review import (
    AssessmentRunRow,
    ReviewRow,
    SampleResultRow,
    SubmissionEventRow,
    SubmissionRow,
)
from prereview.store.tables.vault import DataKeyRow
from prereview.vault.audit import AuditChain, AuditEvent
from prereview.vault.content import EncryptedSubmissionContent
from prereview.vault.datakeys import DataKeyRing, ShredRecord
from prereview.vault.keys.interface import CheckpointSigner
from prereview.vault.principals import Principal

REDACTED = "redacted:"
"""What the model name and Inspect model string of a shredded submission start with."""


def identity_digest(signer: CheckpointSigner, row: SubmissionRow) -> str:
    """The keyed digest of the identity the submitter gave (see the module doc)."""
    identity = {
        "model_name": row.model_name,
        "model_version": row.model_version,
        "model": row.model,
        "base_url": row.base_url,
        "api_key_env": row.api_key_env,
        "model_args": row.model_args,
    }
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    message = b"prereview.submission-identity\x00" + row.id.encode() + b"\x00" + canonical.encode()
    return hashlib.sha256(signer.sign(message)).hexdigest()


@dataclass
class _Purged:
    result_rows: int = 0
    identity_digest: str | None = None


class CryptoShredder:
    """Destroys the data key of a submission, deletes its ciphertexts, records that it did."""

    def __init__(
        self,
        keys: DataKeyRing,
        content: EncryptedSubmissionContent,
        audit: AuditChain,
        exports_dir: Path | None = None,
    ) -> None:
        self.keys = keys
        self.content = content
        self.audit = audit
        self.exports_dir = exports_dir

    def shred(
        self, submission_id: str, reason: str, principal: Principal | None = None
    ) -> ShredRecord:
        manifest = hashlib.sha256()
        keys = self.content.keys(submission_id)
        for key in keys:
            blob = self.content.inner.read(submission_id, key)
            manifest.update(f"{key}\x00{hashlib.sha256(blob).hexdigest()}\n".encode())
        exports = self._remove_exports(submission_id)
        purged = _Purged()

        def purge(session: Session) -> int:
            self._purge_rows(session, submission_id, purged)
            return purged.result_rows + (purged.identity_digest is not None)

        # rows, identity and key in one transaction (see DataKeyRing.hold), then the files
        record = self.keys.shred(submission_id, reason, purge)
        self.content.erase(submission_id)
        if not record.already or purged.result_rows or purged.identity_digest:
            self.audit.append(
                AuditEvent(
                    action="submission.shredded",
                    outcome="ok",
                    principal=principal,
                    principal_label=None if principal else "retention",
                    submission_id=submission_id,
                    target=f"data key of {submission_id}",
                    detail={
                        "reason": reason,
                        "kek_id": record.kek_id,
                        "artifacts": len(keys),
                        "result_rows": purged.result_rows,
                        "exports_removed": exports,
                        "manifest_sha256": manifest.hexdigest(),
                        "identity_digest": purged.identity_digest,
                        "store_compacted": record.store_compacted,
                        **({"repeated": True} if record.already else {}),
                    },
                )
            )
        return record

    def _remove_exports(self, submission_id: str) -> list[str]:
        """Report files exported under the data dir's reports/ (`<review id>*`); exports the
        caller wrote elsewhere (`--out`) are theirs, and listed in the audit trail."""
        if self.exports_dir is None or not self.exports_dir.is_dir():
            return []
        with self.keys.db.session() as session:
            review_ids = list(
                session.scalars(
                    select(ReviewRow.id).where(ReviewRow.submission_id == submission_id)
                )
            )
        removed = []
        for review_id in review_ids:
            for path in self.exports_dir.glob(f"{review_id}*"):
                if path.is_file():
                    path.unlink()
                    removed.append(path.name)
        return sorted(removed)

    def _purge_rows(self, session: Session, submission_id: str, purged: _Purged) -> None:
        """Inside the shred's transaction: result rows deleted, run details cleared, identity
        redacted (once; then its keyed digest is noted)."""
        review_ids = select(ReviewRow.id).where(ReviewRow.submission_id == submission_id)
        count = session.scalar(
            select(func.count())
            .select_from(SampleResultRow)
            .where(SampleResultRow.review_id.in_(review_ids))
        )
        session.execute(delete(SampleResultRow).where(SampleResultRow.review_id.in_(review_ids)))
        session.execute(
            update(AssessmentRunRow)
            .where(AssessmentRunRow.review_id.in_(review_ids))
            .where(AssessmentRunRow.detail.is_not(None))
            .values(detail="(cleared: the submission was crypto-shredded)")
        )
        purged.result_rows = int(count or 0)
        row = session.get(SubmissionRow, submission_id)
        if row is not None and not row.model.startswith(REDACTED):
            digest = identity_digest(self.audit.signer, row)
            row.model_name = row.model = REDACTED + digest[:16]
            row.model_version = row.base_url = row.api_key_env = None
            row.model_args = None
            purged.identity_digest = digest


@dataclass(frozen=True)
class RetentionDue:
    submission_id: str
    state: str
    since: datetime
    reason: str


class RetentionPolicy:
    """Which submissions' keys are due for destruction at `now`."""

    def __init__(self, db: Database, retention_days: int) -> None:
        self.db = db
        self.period = timedelta(days=retention_days)

    def due(self, now: datetime) -> list[RetentionDue]:
        final = (SubmissionState.WITHDRAWN.value, SubmissionState.CLOSED.value)
        with self.db.session() as session:
            rows = session.execute(
                select(SubmissionRow.id, SubmissionRow.state, func.max(SubmissionEventRow.at))
                .join(DataKeyRow, DataKeyRow.scope == SubmissionRow.id)
                .outerjoin(
                    SubmissionEventRow,
                    (SubmissionEventRow.submission_id == SubmissionRow.id)
                    & (SubmissionEventRow.to_state == SubmissionRow.state),
                )
                .where(SubmissionRow.state.in_(final))
                .where(
                    or_(
                        DataKeyRow.wrapped_key.is_not(None),
                        # shredded before by a version that left these behind: finish it
                        ~SubmissionRow.model.startswith(REDACTED),
                        exists()
                        .where(ReviewRow.submission_id == SubmissionRow.id)
                        .where(SampleResultRow.review_id == ReviewRow.id),
                    )
                )
                .group_by(SubmissionRow.id, SubmissionRow.state)
            ).all()
        out = []
        for submission_id, state, since in rows:
            when = since or now
            if state == SubmissionState.WITHDRAWN.value:
                out.append(RetentionDue(submission_id, state, when, "withdrawn"))
            elif when + self.period <= now:
                out.append(RetentionDue(submission_id, state, when, "retention expired"))
        return out
