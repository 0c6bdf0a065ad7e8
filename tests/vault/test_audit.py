"""The audit chain: intact trails verify; every kind of tampering is detected and located."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from prereview.store.database import Database
from prereview.store.tables.vault import AuditCheckpointRow, AuditEntryRow
from prereview.vault.audit import (
    AuditChain,
    AuditEntry,
    AuditEvent,
    AuditHeadAnchor,
    compute_entry_hash,
)
from prereview.vault.errors import VaultError
from prereview.vault.keys.interface import CheckpointSigner
from prereview.vault.keys.local import LocalSigningKey
from prereview.vault.principals import Principal, Role

N = 20
EVERY = 5
COLUMNS = [
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
    "entry_hash",
    "signature",
]
ALICE = Principal("prn-a", "alice", Role.SUBMITTER, "org-a", "Org A")


def _chain(path: Path, signer: LocalSigningKey) -> tuple[Database, AuditChain]:
    """A trail in the SQLite file `path`, its head record beside it (`<path>.head`)."""
    db = Database(f"sqlite:///{path}")
    tables = [AuditEntryRow.__table__, AuditCheckpointRow.__table__]
    AuditEntryRow.metadata.create_all(db.engine, tables=tables)
    anchor = AuditHeadAnchor(path.with_name(path.name + ".head"))
    return db, AuditChain(db, signer, checkpoint_every=EVERY, anchor=anchor)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LocalSigningKey]:
    root = tmp_path_factory.mktemp("audit")
    signer = LocalSigningKey.create(root / "signing.key")
    db, chain = _chain(root / "template.db", signer)
    for i in range(N):
        chain.append(
            AuditEvent(
                "results.read" if i % 2 else "submission.read",
                "allowed" if i % 3 else "denied",
                principal=ALICE if i % 4 else None,
                principal_label=None if i % 4 else "anonymous",
                submission_id=f"sub-{i % 3}",
                target=f"sub-{i % 3}/reviews/r/results/{i}.json",
                detail={"reason": "own organization", "n": i},
            )
        )
    assert chain.verify().ok
    db.dispose()
    return root / "template.db", signer


_counter = iter(range(10**9))


def _copy(template: tuple[Path, LocalSigningKey]) -> tuple[Database, AuditChain]:
    src, signer = template
    dst = src.with_name(f"copy-{next(_counter)}.db")
    shutil.copy(src, dst)
    shutil.copy(src.with_name(src.name + ".head"), dst.with_name(dst.name + ".head"))
    return _chain(dst, signer)


def _row(db: Database, seq: int) -> dict[str, object]:
    with db.engine.connect() as conn:
        return dict(
            conn.execute(text("SELECT * FROM vault_audit_entries WHERE seq = :s"), {"s": seq})
            .mappings()
            .one()
        )


def _write(db: Database, seq: int, values: dict[str, object]) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    with db.engine.begin() as conn:
        conn.execute(
            text(f"UPDATE vault_audit_entries SET {sets} WHERE seq = :seq_"),  # noqa: S608
            {**values, "seq_": seq},
        )


def _flip(value: object, where: int) -> str:
    text_value = "" if value is None else str(value)
    if not text_value:
        return "x"
    i = where % len(text_value)
    alphabet = "0123456789abcdef" if all(c in "0123456789abcdef" for c in text_value) else "XYZxyz!"
    replacement = next(c for c in alphabet if c != text_value[i])
    return text_value[:i] + replacement + text_value[i + 1 :]


def test_intact_trail_verifies(template: tuple[Path, LocalSigningKey]) -> None:
    _db, chain = _copy(template)
    report = chain.verify()
    assert report.ok and report.entries == N and report.checkpoints == N // EVERY
    assert report.head_seq == N and report.last_checkpoint_seq == N


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(seq=st.integers(1, N), column=st.sampled_from(COLUMNS), where=st.integers(0, 10_000))
def test_any_modified_field_is_detected_at_its_entry(
    template: tuple[Path, LocalSigningKey], seq: int, column: str, where: int
) -> None:
    db, chain = _copy(template)
    _write(db, seq, {column: _flip(_row(db, seq)[column], where)})
    report = chain.verify()
    assert not report.ok
    assert report.problems[0].seq == seq


@PROPERTY
@given(seq=st.integers(1, N))
def test_any_deleted_entry_is_detected_where_it_was(
    template: tuple[Path, LocalSigningKey], seq: int
) -> None:
    db, chain = _copy(template)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM vault_audit_entries WHERE seq = :s"), {"s": seq})
    report = chain.verify()
    assert not report.ok
    assert report.problems[0].seq == seq
    assert report.problems[0].kind in ("missing", "truncated")


@PROPERTY
@given(seq=st.integers(1, N + 1), rehash=st.booleans())
def test_any_inserted_entry_is_detected_where_it_went(
    template: tuple[Path, LocalSigningKey], seq: int, rehash: bool
) -> None:
    """An attacker with database access inserts an entry at `seq`, shifting the rest, and
    (with `rehash`) recomputes every hash after it so the chain links up again."""
    db, chain = _copy(template)
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE vault_audit_entries SET seq = seq + 1000 WHERE seq >= :s"), {"s": seq}
        )
        conn.execute(text("UPDATE vault_audit_entries SET seq = seq - 999 WHERE seq >= 1000"))
        prev = _row(db, seq - 1)["entry_hash"] if seq > 1 else "0" * 64
        conn.execute(
            text(
                "INSERT INTO vault_audit_entries (seq, at, principal, action, outcome, detail, "
                "prev_hash, entry_hash, signature) VALUES (:seq, '2026-01-01T00:00:00+00:00', "
                "'mallory', 'audit.read', 'allowed', '{}', :prev, '', '00')"
            ),
            {"seq": seq, "prev": prev},
        )
    if rehash:
        with db.session() as s:
            rows = (
                s.query(AuditEntryRow).filter(AuditEntryRow.seq >= seq).order_by(AuditEntryRow.seq)
            )
            for row in rows:
                row.prev_hash = prev
                row.entry_hash = compute_entry_hash(row)
                prev = row.entry_hash
    report = chain.verify()
    assert not report.ok
    assert report.problems[0].seq == seq


@PROPERTY
@given(a=st.integers(1, N), b=st.integers(1, N))
def test_any_two_swapped_entries_are_detected(
    template: tuple[Path, LocalSigningKey], a: int, b: int
) -> None:
    if a == b:
        return
    db, chain = _copy(template)
    ra, rb = _row(db, a), _row(db, b)
    _write(db, a, {k: rb[k] for k in COLUMNS})
    _write(db, b, {k: ra[k] for k in COLUMNS})
    report = chain.verify()
    assert not report.ok
    assert report.problems[0].seq == min(a, b)


def test_truncated_tail_is_caught_by_the_checkpoint(template: tuple[Path, LocalSigningKey]) -> None:
    db, chain = _copy(template)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM vault_audit_entries WHERE seq > 17"))
    report = chain.verify()
    assert [(p.seq, p.kind) for p in report.problems] == [(20, "truncated")]
    assert "ends at #17" in report.problems[0].message


def test_forged_checkpoint_is_detected(template: tuple[Path, LocalSigningKey]) -> None:
    db, chain = _copy(template)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE vault_audit_checkpoints SET at = '2020-01-01' WHERE seq = 10"))
    report = chain.verify()
    assert [(p.seq, p.kind) for p in report.problems] == [(10, "checkpoint")]


def test_a_trail_signed_by_another_key_does_not_verify(
    template: tuple[Path, LocalSigningKey], tmp_path: Path
) -> None:
    _db, chain = _copy(template)
    other = LocalSigningKey.create(tmp_path / "other.key")
    report = chain.verify(public_key=other.public_key)
    kinds = {p.kind for p in report.problems}
    assert not report.ok and kinds == {"unsigned", "checkpoint", "anchor"}


def test_tokens_never_reach_the_trail(template: tuple[Path, LocalSigningKey]) -> None:
    db, chain = _copy(template)
    token = "prv_" + "A" * 43
    entry = chain.append(AuditEvent("auth", "denied", target=f"x {token}", detail={"t": token}))
    raw = str(_row(db, entry.seq))
    assert "A" * 43 not in raw and "[token withheld]" in raw


def test_concurrent_appends_keep_one_valid_chain(
    template: tuple[Path, LocalSigningKey],
) -> None:
    _db, chain = _copy(template)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                chain.append(AuditEvent("submission.read", "allowed", target=f"w{n}-{i}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = chain.verify()
    assert report.ok and report.entries == N + 40


class _CountingAnchor(AuditHeadAnchor):
    """The head record, counting its updates; the first one waits until released."""

    def __init__(self, path: Path, release: threading.Event) -> None:
        super().__init__(path)
        self.release = release
        self.advances: list[int] = []

    def advance(self, seq: int, entry_hash: str, signer: CheckpointSigner) -> None:
        if not self.advances:
            assert self.release.wait(timeout=60)
        self.advances.append(seq)
        super().advance(seq, entry_hash, signer)


def _held_batch(
    template: tuple[Path, LocalSigningKey], followers: int, fail: bool = False
) -> tuple[AuditChain, _CountingAnchor, list[object]]:
    """One append whose head update is held while `followers` appends queue behind it."""
    db, chain = _copy(template)
    release = threading.Event()
    anchor = _CountingAnchor(chain.anchor.path, release)
    chain = AuditChain(db, chain.signer, checkpoint_every=EVERY, anchor=anchor)
    outcomes: list[object] = []

    def writer(n: int) -> None:
        try:
            outcomes.append(chain.append(AuditEvent("submission.read", "allowed", target=f"{n}")))
        except VaultError as exc:
            outcomes.append(exc)

    first = threading.Thread(target=writer, args=(0,))
    first.start()
    while not chain._writing:  # the first append is writing its batch
        time.sleep(0.001)
    rest = [threading.Thread(target=writer, args=(n,)) for n in range(1, followers + 1)]
    for t in rest:
        t.start()
    while len(chain._queue) < followers:  # all of them wait for the next batch
        time.sleep(0.001)
    if fail:
        chain.anchor.path.chmod(0o644)  # the head record is refused: every batch fails
    release.set()
    for t in [first, *rest]:
        t.join()
    return chain, anchor, outcomes


def test_appends_that_arrive_during_a_write_are_committed_together(
    template: tuple[Path, LocalSigningKey],
) -> None:
    chain, anchor, outcomes = _held_batch(template, followers=6)
    entries = [o for o in outcomes if isinstance(o, AuditEntry)]
    assert len(entries) == 7
    # one head update for the first append, one for the six queued behind it (then the
    # checkpoint's, which the record already covers)
    assert anchor.advances[:2] == [N + 1, N + 7] and set(anchor.advances[2:]) <= {N + 7}
    assert sorted(e.seq for e in entries) == list(range(N + 1, N + 8))
    report = chain.verify()
    assert report.ok and report.entries == N + 7 and report.anchor is not None
    assert report.anchor.seq == N + 7
    # the batch crossed a checkpoint interval (N + 5): it was signed
    assert report.last_checkpoint_seq >= N + 5
    assert {e.target for e in chain.entries()[-7:]} == {str(n) for n in range(7)}


def test_a_failed_batch_fails_every_append_in_it(template: tuple[Path, LocalSigningKey]) -> None:
    chain, anchor, outcomes = _held_batch(template, followers=3, fail=True)
    assert len(outcomes) == 4
    assert all(isinstance(o, VaultError) for o in outcomes), outcomes
    assert all("audit head record" in str(o) for o in outcomes)
    # no caller was told its entry was recorded; the record was never moved past them
    chain.anchor.path.chmod(0o600)
    head = chain.anchor.read()
    assert head is not None and head.seq == N
    assert len(anchor.advances) == 2  # the held batch, then the three queued behind it
