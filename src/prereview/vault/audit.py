"""The audit trail: an append-only, hash-chained, signed log of every protected access.

Each entry carries the SHA-256 of the entry before it (`prev_hash`) and its own hash over all of
its fields, and is signed with the Ed25519 audit key. Every `checkpoint_every` entries (and on
each `audit verify`) a checkpoint signs the head (seq, hash) again, so removing entries from the
end is detected as well, back to the last checkpoint.

`verify()` recomputes everything and says where it breaks: a modified entry (hash mismatch), an
entry written outside prereview (no valid signature), a deleted, inserted or moved entry (gap in
the sequence, or `prev_hash` not the hash before it), a truncated tail (a checkpoint signed an
entry that is gone), a forged or altered checkpoint.

Checkpoints live in the database, so a writer of the database alone could delete the newest
entries together with the checkpoints after them. The head is therefore also anchored outside
it: `AuditHeadAnchor` keeps a signed head record (seq, entry hash) beside the signing key
(`keys/audit-head.json`), moved forward after every append under a file lock and never moved
back. The trail may be longer than the record (a command that crashed between its commit and the
record's update), never shorter, and the entry the record names must still have its hash. An
empty trail on a store that holds data fails too. What stays undetectable here: restoring the
database *and* the keys dir to an older consistent pair; only a copy of the head kept elsewhere
(`audit verify --json`) shows that.

Entries hold ids, times, outcomes and digests: never a secret, token or content. Values that
look like an API token are replaced before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError as SqlIntegrityError
from sqlalchemy.exc import OperationalError

from prereview.store.base import utcnow
from prereview.store.database import Database
from prereview.store.tables.review import SubmissionRow
from prereview.store.tables.vault import AuditCheckpointRow, AuditEntryRow, DataKeyRow, PrincipalRow
from prereview.vault.errors import KeyFileError, VaultError
from prereview.vault.keys.interface import CheckpointSigner, verify_signature
from prereview.vault.keys.local import file_lock, read_private_file, replace_private_file
from prereview.vault.principals import Principal

GENESIS = "0" * 64
_ENTRY_CONTEXT = b"prereview-audit-entry/v1\x00"
_CHECKPOINT_CONTEXT = b"prereview-audit-checkpoint/v1\x00"
_HEAD_CONTEXT = b"prereview-audit-head/v1\x00"
_HEAD_FORMAT = "prereview-audit-head/v1"
_TOKENISH = re.compile(r"prv_[A-Za-z0-9_-]{20,}")
_LOCK_KEY = zlib.crc32(b"prereview.vault.audit")


@dataclass(frozen=True)
class AuditEvent:
    """What happened; the chain adds seq, time and hashes."""

    action: str
    outcome: str  # allowed | denied | ok | failed
    principal: Principal | None = None
    submission_id: str | None = None
    target: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    principal_label: str | None = None  # who, when no principal is known (bootstrap, bad token)


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    principal_id: str | None
    principal: str | None
    role: str | None
    action: str
    outcome: str
    submission_id: str | None
    target: str | None
    detail: dict[str, Any]
    prev_hash: str
    entry_hash: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AuditProblem:
    seq: int
    kind: str  # modified | unsigned | chain | missing | truncated | checkpoint | anchor
    message: str


@dataclass(frozen=True)
class AuditReport:
    entries: int
    checkpoints: int
    head_seq: int
    head_hash: str
    last_checkpoint_seq: int
    problems: list[AuditProblem]
    anchor: AuditHead | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "last_checkpoint_seq": self.last_checkpoint_seq,
            "anchor": (
                {"seq": self.anchor.seq, "hash": self.anchor.entry_hash, "at": self.anchor.at}
                if self.anchor
                else None
            ),
            "problems": [asdict(p) for p in self.problems],
        }


@dataclass(frozen=True)
class AuditHead:
    """A signed statement that the trail reached entry `seq`, whose hash is `entry_hash`."""

    seq: int
    entry_hash: str
    at: str
    key_id: str
    signature: str

    @property
    def message(self) -> bytes:
        return _HEAD_CONTEXT + f"{self.seq}\x00{self.entry_hash}\x00{self.at}".encode()

    def to_json(self) -> bytes:
        body = {
            "format": _HEAD_FORMAT,
            "seq": self.seq,
            "entry_hash": self.entry_hash,
            "at": self.at,
            "key_id": self.key_id,
            "signature": self.signature,
        }
        return (json.dumps(body, sort_keys=True) + "\n").encode()


class AuditHeadAnchor:
    """The trail's head, kept beside the signing key where a database writer cannot rewrite it.

    Monotonic: `advance` takes a lock shared by every process of the install, reads the record
    and replaces it only with a later seq, so concurrent appenders never move it back.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = path.with_name(path.name + ".lock")

    def __repr__(self) -> str:
        return f"AuditHeadAnchor(path={str(self.path)!r})"

    def read(self) -> AuditHead | None:
        """The record, None when there is none yet; `VaultError` when it is unreadable."""
        if not self.path.exists():
            return None
        try:
            body = json.loads(read_private_file(self.path, "audit head record"))
            if body.pop("format") != _HEAD_FORMAT:
                raise ValueError
            head = AuditHead(**body)
            texts = (head.entry_hash, head.at, head.key_id, head.signature)
            if (
                type(head.seq) is not int
                or head.seq < 1
                or not all(isinstance(t, str) for t in texts)
            ):
                raise ValueError
        except (ValueError, TypeError, KeyError, AttributeError):
            raise VaultError(f"the audit head record {self.path} is damaged") from None
        return head

    def advance(self, seq: int, entry_hash: str, signer: CheckpointSigner) -> None:
        """Record (seq, entry_hash) as the head unless the record already names a later one."""
        try:
            with file_lock(self._lock):
                try:
                    current = self.read()
                except KeyFileError:
                    raise
                except VaultError:
                    return  # a damaged record stays as it is: evidence; `verify` reports it
                if current is not None and current.seq >= seq:
                    return
                at = utcnow().isoformat(timespec="microseconds")
                unsigned = AuditHead(seq, entry_hash, at, signer.key_id, "")
                signature = signer.sign(unsigned.message).hex()
                head = AuditHead(seq, entry_hash, at, signer.key_id, signature)
                replace_private_file(self.path, head.to_json())
        except OSError as exc:
            raise VaultError(
                f"could not update the audit head record {self.path}: {exc.strerror}"
            ) from None


def _store_holds_data(session: Any) -> list[str]:
    """What this store holds that an audit trail must have recorded (empty: nothing)."""
    present = set(inspect(session.get_bind()).get_table_names())
    held = []
    for table, what in (
        (SubmissionRow, "submissions"),
        (DataKeyRow, "data keys"),
        (PrincipalRow, "principals"),
    ):
        if table.__tablename__ in present:
            n = session.scalar(select(func.count()).select_from(table))
            if n:
                held.append(f"{n} {what}")
    return held


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _TOKENISH.sub("[token withheld]", value)
    if isinstance(value, Mapping):
        return {str(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def canonical_detail(detail: Mapping[str, Any]) -> str:
    return json.dumps(
        _scrub(detail), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


_HASHED = (
    "seq",
    "at",
    "principal_id",
    "principal",
    "role",
    "action",
    "outcome",
    "submission_id",
    "target",
    "detail",
    "prev_hash",
)


def compute_entry_hash(row: AuditEntryRow) -> str:
    """SHA-256 over every field but the hash and signature, as canonical JSON."""
    return _hash_fields({name: getattr(row, name) for name in _HASHED})


def _hash_fields(fields: Mapping[str, Any]) -> str:
    """The entry hash of an entry's fields (the same bytes whether from a stored row or from an
    entry about to be written)."""
    payload = {name: fields[name] for name in _HASHED}
    data = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


_HEAD = (
    select(AuditEntryRow.seq, AuditEntryRow.entry_hash).order_by(AuditEntryRow.seq.desc()).limit(1)
)
"""The newest entry; built once, every append reads it."""
_INSERT = insert(AuditEntryRow)


def _entry_of(row: Mapping[str, Any], detail_json: str) -> AuditEntry:
    """The entry just written, from the values inserted."""
    detail = json.loads(detail_json)
    return AuditEntry(
        row["seq"],
        row["at"],
        row["principal_id"],
        row["principal"],
        row["role"],
        row["action"],
        row["outcome"],
        row["submission_id"],
        row["target"],
        detail if isinstance(detail, dict) else {"value": detail},
        row["prev_hash"],
        row["entry_hash"],
    )


def _entry_message(entry_hash: str) -> bytes:
    return _ENTRY_CONTEXT + entry_hash.encode()


def _checkpoint_message(seq: int, entry_hash: str, at: str) -> bytes:
    return _CHECKPOINT_CONTEXT + f"{seq}\x00{entry_hash}\x00{at}".encode()


def _to_entry(row: AuditEntryRow) -> AuditEntry:
    try:
        detail = json.loads(row.detail)
    except ValueError:
        detail = {"unreadable": True}
    return AuditEntry(
        row.seq,
        row.at,
        row.principal_id,
        row.principal,
        row.role,
        row.action,
        row.outcome,
        row.submission_id,
        row.target,
        detail if isinstance(detail, dict) else {"value": detail},
        row.prev_hash,
        row.entry_hash,
    )


@dataclass
class _Pending:
    """One append waiting for its batch: the entry's fields, then its outcome."""

    principal_id: str | None
    principal: str | None
    role: str | None
    action: str
    outcome: str
    submission_id: str | None
    target: str | None
    detail: str
    entry: AuditEntry | None = None
    error: BaseException | None = None


class AuditChain:
    """Appends to, reads and verifies the audit trail of one store."""

    def __init__(
        self,
        db: Database,
        signer: CheckpointSigner,
        checkpoint_every: int = 100,
        *,
        anchor: AuditHeadAnchor,
    ) -> None:
        if checkpoint_every < 1:
            raise VaultError("audit checkpoint interval must be at least 1")
        self.db = db
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self.anchor = anchor
        self._batch_ready = threading.Condition()
        self._queue: list[_Pending] = []
        self._writing = False

    def append(self, event: AuditEvent) -> AuditEntry:
        """Append `event` in its own transaction (so refusals are kept even when the caller's
        work rolls back) and return once it is committed and the signed head names it; safe
        under concurrent writers.

        Group commit: appends from concurrent threads of this process that arrive while one
        batch is being written are written together as the next batch: one transaction (one
        fsync), every entry still chained and signed, one head record update for the batch.
        No caller returns before its own entry is durable and anchored.
        """
        p = event.principal
        pending = _Pending(
            principal_id=p.id if p else None,
            principal=p.name if p else event.principal_label,
            role=p.role.value if p else None,
            action=event.action,
            outcome=event.outcome,
            submission_id=event.submission_id,
            target=_scrub(event.target) if event.target else None,
            detail=canonical_detail(event.detail),
        )
        with self._batch_ready:
            self._queue.append(pending)
            while pending.entry is None and pending.error is None and self._writing:
                self._batch_ready.wait()
            if pending.entry is None and pending.error is None:
                # no batch in flight: this thread writes everything queued, its own included
                self._writing = True
                batch, self._queue = self._queue, []
            else:
                batch = []
        if batch:
            try:
                entries = self._write_batch(batch)
            except BaseException as exc:
                for item in batch:
                    item.error = exc
            else:
                for item, entry in zip(batch, entries, strict=True):
                    item.entry = entry
            finally:
                with self._batch_ready:
                    self._writing = False
                    self._batch_ready.notify_all()
        if pending.error is not None:
            raise pending.error
        assert pending.entry is not None
        return pending.entry

    def _write_batch(self, batch: list[_Pending]) -> list[AuditEntry]:
        """Chain, sign and commit `batch` in one transaction; then move the head record to its
        last entry once, and checkpoint when the batch reached a checkpoint interval."""
        for attempt in range(200):
            try:
                # a Core transaction: no ORM session or objects for an append-only row
                with self.db.engine.begin() as conn:
                    if self.db.dialect == "postgresql":
                        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
                    last = conn.execute(_HEAD).first()
                    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
                    rows: list[dict[str, Any]] = []
                    for item in batch:
                        row: dict[str, Any] = {
                            "seq": seq,
                            "at": utcnow().isoformat(timespec="microseconds"),
                            "principal_id": item.principal_id,
                            "principal": item.principal,
                            "role": item.role,
                            "action": item.action,
                            "outcome": item.outcome,
                            "submission_id": item.submission_id,
                            "target": item.target,
                            "detail": item.detail,
                            "prev_hash": prev,
                        }
                        row["entry_hash"] = _hash_fields(row)
                        row["signature"] = self.signer.sign(_entry_message(row["entry_hash"])).hex()
                        rows.append(row)
                        seq, prev = seq + 1, row["entry_hash"]
                    conn.execute(_INSERT, rows)
                    pairs = zip(rows, batch, strict=True)
                    entries = [_entry_of(row, item.detail) for row, item in pairs]
                break
            except (SqlIntegrityError, OperationalError):
                # another writer took this seq (or holds SQLite's write lock): read the new head
                time.sleep(min(0.002 * (attempt + 1), 0.05))
        else:
            raise VaultError("could not append to the audit trail: the store stays busy")
        head = entries[-1]
        self.anchor.advance(head.seq, head.entry_hash, self.signer)
        if any(e.seq % self.checkpoint_every == 0 for e in entries):
            self.checkpoint()
        return entries

    def checkpoint(self) -> int:
        """Sign the current head; returns its seq (0 for an empty trail)."""
        with self.db.session() as session:
            last = session.execute(
                select(AuditEntryRow.seq, AuditEntryRow.entry_hash)
                .order_by(AuditEntryRow.seq.desc())
                .limit(1)
            ).first()
            if last is None:
                return 0
            seq, head = int(last[0]), str(last[1])
            if session.get(AuditCheckpointRow, seq) is not None:
                return seq
            at = utcnow().isoformat(timespec="microseconds")
            sig = self.signer.sign(_checkpoint_message(seq, head, at)).hex()
            session.add(
                AuditCheckpointRow(
                    seq=seq, entry_hash=head, at=at, key_id=self.signer.key_id, signature=sig
                )
            )
        self.anchor.advance(seq, head, self.signer)
        return seq

    def entries(
        self,
        submission_id: str | None = None,
        principal: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries in order, filtered by submission and by principal (name or id); `limit`
        keeps the newest."""
        query = select(AuditEntryRow)
        if submission_id:
            query = query.where(AuditEntryRow.submission_id == submission_id)
        if principal:
            query = query.where(
                (AuditEntryRow.principal == principal) | (AuditEntryRow.principal_id == principal)
            )
        query = query.order_by(AuditEntryRow.seq.desc())
        if limit:
            query = query.limit(limit)
        with self.db.session() as session:
            rows = session.scalars(query).all()
            return [_to_entry(r) for r in reversed(rows)]

    def verify(self, public_key: bytes | None = None) -> AuditReport:
        """Recompute the chain, every signature and every checkpoint, compare the head with the
        signed head record; report where it breaks."""
        key = public_key if public_key is not None else self.signer.public_key
        problems: list[AuditProblem] = []
        stored: dict[int, str] = {}
        times: dict[int, str] = {}
        expected, prev, count = 1, GENESIS, 0
        # the record first: entries appended meanwhile only make the trail longer than it
        try:
            anchor = self.anchor.read()
            anchor_error = None
        except VaultError as exc:
            anchor, anchor_error = None, str(exc)
        with self.db.session() as session:
            for row in session.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq)):
                count += 1
                if row.seq > expected:
                    gap = (
                        f"#{expected}"
                        if row.seq == expected + 1
                        else f"#{expected}..#{row.seq - 1}"
                    )
                    problems.append(
                        AuditProblem(expected, "missing", f"entries {gap} are missing (deleted)")
                    )
                elif row.seq < expected:
                    problems.append(
                        AuditProblem(row.seq, "chain", f"entry #{row.seq} is out of sequence")
                    )
                if compute_entry_hash(row) != row.entry_hash:
                    problems.append(
                        AuditProblem(
                            row.seq,
                            "modified",
                            f"entry #{row.seq} was modified: its content does not match its hash",
                        )
                    )
                if not _valid_hex_signature(key, row.signature, _entry_message(row.entry_hash)):
                    problems.append(
                        AuditProblem(
                            row.seq,
                            "unsigned",
                            f"entry #{row.seq} has no valid signature: written or re-hashed "
                            "outside prereview",
                        )
                    )
                if row.prev_hash != prev and row.seq <= expected:
                    problems.append(
                        AuditProblem(
                            row.seq,
                            "chain",
                            f"entry #{row.seq} does not follow entry #{row.seq - 1}: an entry "
                            "was deleted, inserted or moved here",
                        )
                    )
                stored[row.seq] = row.entry_hash
                times[row.seq] = row.at
                prev, expected = row.entry_hash, max(expected, row.seq + 1)
            head_seq = expected - 1
            checkpoints = session.scalars(
                select(AuditCheckpointRow).order_by(AuditCheckpointRow.seq)
            ).all()
            last_cp = 0
            for cp in checkpoints:
                message = _checkpoint_message(cp.seq, cp.entry_hash, cp.at)
                if not _valid_hex_signature(key, cp.signature, message):
                    problems.append(
                        AuditProblem(
                            cp.seq,
                            "checkpoint",
                            f"checkpoint at entry #{cp.seq} has an invalid signature (forged or "
                            "altered)",
                        )
                    )
                    continue
                last_cp = max(last_cp, cp.seq)
                if cp.seq not in stored:
                    kind = "truncated" if cp.seq > head_seq else "missing"
                    problems.append(
                        AuditProblem(
                            cp.seq,
                            kind,
                            f"entry #{cp.seq}, signed at a checkpoint, is gone"
                            + (
                                f" (the trail now ends at #{head_seq})"
                                if kind == "truncated"
                                else ""
                            ),
                        )
                    )
                elif stored[cp.seq] != cp.entry_hash:
                    problems.append(
                        AuditProblem(
                            cp.seq,
                            "checkpoint",
                            f"the chain up to entry #{cp.seq} differs from the one signed at "
                            "that checkpoint: entries up to it were rewritten",
                        )
                    )
            held = _store_holds_data(session) if count == 0 else []
        cut = self._anchor_problems(anchor, anchor_error, key, head_seq, stored, times, held)
        if any(p.kind == "truncated" for p in cut):
            # the head record names the whole cut; checkpoints past the end would repeat it
            problems = [p for p in problems if p.kind != "truncated"]
        problems.extend(cut)
        problems.sort(key=lambda p: (p.seq, p.kind))
        return AuditReport(
            entries=count,
            checkpoints=len(checkpoints),
            head_seq=head_seq,
            head_hash=prev,
            last_checkpoint_seq=last_cp,
            problems=problems,
            anchor=anchor,
        )

    def _anchor_problems(
        self,
        anchor: AuditHead | None,
        anchor_error: str | None,
        key: bytes,
        head_seq: int,
        stored: dict[int, str],
        times: dict[int, str],
        held: list[str],
    ) -> list[AuditProblem]:
        where = self.anchor.path
        if anchor_error is not None:
            return [AuditProblem(0, "anchor", anchor_error)]
        if anchor is None:
            if held:
                return [
                    AuditProblem(
                        1,
                        "truncated",
                        f"the trail is empty but the store holds {', '.join(held)}: all entries "
                        "were deleted",
                    )
                ]
            if head_seq:
                return [
                    AuditProblem(
                        head_seq,
                        "anchor",
                        f"the signed head record {where} is missing: the end of the trail "
                        "cannot be checked (restore it from the keys backup)",
                    )
                ]
            return []
        if not _valid_hex_signature(key, anchor.signature, anchor.message):
            return [
                AuditProblem(
                    anchor.seq,
                    "anchor",
                    f"the head record {where} has an invalid signature (forged or altered)",
                )
            ]
        if anchor.seq > head_seq or stored.get(anchor.seq) != anchor.entry_hash:
            # where the cut begins: entries up to the record's seq that are newer than the record
            # were written after the trail was cut back (a seq reused); else just past the end
            reused = [s for s in stored if s <= anchor.seq and times[s] > anchor.at]
            first = min(reused) if reused else min(head_seq, anchor.seq) + 1
            if anchor.seq > head_seq or reused:
                span = f"#{first}" if first == anchor.seq else f"#{first}..#{anchor.seq}"
                if reused:
                    now = f"but its entries from #{first} on were written after that record"
                elif head_seq:
                    now = f"but the trail ends at #{head_seq}"
                else:
                    now = "but the trail is empty"
                return [
                    AuditProblem(
                        anchor.seq,
                        "truncated",
                        f"entries {span} are gone: the signed head record names entry "
                        f"#{anchor.seq}, {now} (entries deleted, or the database restored "
                        "from an older copy)",
                    )
                ]
            return [
                AuditProblem(
                    anchor.seq,
                    "anchor",
                    f"entry #{anchor.seq} is not the one the signed head record names: the "
                    "trail up to it was replaced",
                )
            ]
        return []


def _valid_hex_signature(public_key: bytes, signature_hex: str, message: bytes) -> bool:
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return False
    return verify_signature(public_key, signature, message)
