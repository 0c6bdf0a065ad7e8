from __future__ import annotations

import dataclasses
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from prereview.config import load_settings
from prereview.domain.lifecycle import SubmissionState
from prereview.store.base import utcnow
from prereview.store.tables.review import SubmissionEventRow, SubmissionRow
from prereview.store.tables.vault import DataKeyRow
from prereview.vault.envelope import MAGIC, NONCE_BYTES
from prereview.vault.errors import IntegrityError, ShreddedError
from prereview.vault.keys.interface import WrappedKey
from prereview.vault.keys.local import KEK_FILE, LocalKeyFileProvider
from prereview.vault.service import CREDENTIAL_KEY, Vault
from tests.vault.conftest import add_submission

TRANSCRIPT = b"assistant: I will now run `./exploit --target 10.0.0.7` FLAG{shred-canary}"
API_KEY = b"sk-canary-shred-0123456789abcdef"


def _fill(vault: Vault) -> str:
    sid = add_submission(vault, "Org A")
    vault.content.write(sid, CREDENTIAL_KEY, API_KEY)
    vault.content.write(sid, "reviews/r/results/t/1.json", TRANSCRIPT)
    with vault.content.working_dir(sid, "reviews/r/logs") as d:
        (d / "a.eval").write_bytes(TRANSCRIPT * 3)
    return sid


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_withdrawal_shred_leaves_nothing_decryptable_in_a_full_copy(
    vault: Vault, tmp_path: Path
) -> None:
    sid = _fill(vault)
    keep = _fill(vault)  # another submission, untouched by the shred
    data_key = vault.keys.key(sid)
    with vault.db.session() as s:
        row = s.get(DataKeyRow, sid)
        assert row is not None and row.wrapped_key is not None
        wrapped = row.wrapped_key
    # an attacker kept an old copy of one ciphertext (a backup taken before the shred)
    artifact = "reviews/r/results/t/1.json"
    old_blob = (vault.settings.artifacts_dir / sid / artifact).read_bytes()

    record = vault.shredder.shred(sid, "withdrawn")
    assert record.store_compacted and not record.already
    with pytest.raises(ShreddedError, match=sid):
        vault.content.read(sid, artifact)
    with pytest.raises(ShreddedError):
        vault.content.write(sid, "reports/late.md", b"no new key after a shred")
    assert vault.content.read(keep, artifact) == TRANSCRIPT

    # copied while prereview still has the database open (WAL and all), then again after
    copy = tmp_path / "stolen"
    shutil.copytree(vault.settings.home, copy)
    vault.close()
    shutil.copytree(vault.settings.home, tmp_path / "stolen-later")
    files = _files(copy) + _files(tmp_path / "stolen-later")
    assert any(p.name == "prereview.db-wal" for p in files)
    nonce = old_blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
    sealed = old_blob[len(MAGIC) + NONCE_BYTES :]
    aad = b"prereview/artifact/v1\x00" + sid.encode() + b"\x00" + artifact.encode()
    kek = LocalKeyFileProvider.load(copy / "keys" / KEK_FILE)
    tried = 0
    recovered: list[tuple[Path, int]] = []
    # (comparisons done outside `assert`: a failure must not print key bytes or secrets)
    leaks = [
        str(path)
        for path in files
        for needle in (data_key, wrapped, TRANSCRIPT, API_KEY)
        if needle in path.read_bytes()
    ]
    assert leaks == []
    for path in files:
        data = path.read_bytes()
        # every 32-byte window as the data key, every wrapped-key-shaped window through the KEK
        for i in range(len(data) - 31):
            tried += 1
            try:
                AESGCM(data[i : i + 32]).decrypt(nonce, sealed, aad)
            except InvalidTag:
                continue
            recovered.append((path, i))
        for i in range(len(data) - len(wrapped) + 1):
            if data[i] != wrapped[0]:
                continue
            try:
                kek.unwrap(WrappedKey(kek.kek_id, data[i : i + len(wrapped)]), sid)
            except IntegrityError:
                continue
            recovered.append((path, i))
    assert tried > 100_000  # the database file itself was searched
    assert recovered == []

    settings = dataclasses.replace(
        load_settings(), home=copy, database_url=f"sqlite:///{copy / 'prereview.db'}"
    )
    with Vault.open(settings) as stolen, pytest.raises(ShreddedError):
        stolen.content.read(sid, artifact)


def test_shred_is_audited_with_ids_times_and_hashes_only(vault: Vault) -> None:
    sid = _fill(vault)
    vault.shredder.shred(sid, "withdrawn")
    entries = vault.audit.entries(submission_id=sid)
    entry = next(e for e in entries if e.action == "submission.shredded")
    assert entry.detail["reason"] == "withdrawn"
    assert entry.detail["artifacts"] == 3
    assert len(entry.detail["manifest_sha256"]) == 64
    sealed = [e for e in vault.audit.entries(submission_id=sid) if e.action == "artifact.sealed"]
    assert all(len(e.detail["ciphertext_sha256"]) == 64 for e in sealed)
    assert vault.shredder.shred(sid, "withdrawn").already  # idempotent, recorded once
    assert vault.audit.verify().ok


def _close(vault: Vault, sid: str, days_ago: int) -> None:
    with vault.db.session() as s:
        row = s.get(SubmissionRow, sid)
        assert row is not None
        row.state = SubmissionState.CLOSED.value
        s.add(
            SubmissionEventRow(
                submission_id=sid,
                action="close",
                from_state="findings_delivered",
                to_state="closed",
                actor="t",
                role="reviewer",
                at=utcnow() - timedelta(days=days_ago),
            )
        )


def test_retention_expiry_shreds_when_the_vault_opens(vault: Vault) -> None:
    old, recent, active = _fill(vault), _fill(vault), _fill(vault)
    _close(vault, old, days_ago=400)
    _close(vault, recent, days_ago=10)
    assert [d.submission_id for d in vault.retention.due(utcnow())] == [old]
    with Vault.open(vault.settings) as again:
        with pytest.raises(ShreddedError, match="retention expired"):
            again.content.read(old, CREDENTIAL_KEY)
        assert again.content.read(recent, CREDENTIAL_KEY) == API_KEY
        assert again.content.read(active, CREDENTIAL_KEY) == API_KEY
        # a year later the recent one is due too
        later = utcnow() + timedelta(days=360)
        assert [d.submission_id for d in again.retention.due(later)] == [recent]


def test_withdrawn_submission_is_due_at_once(vault: Vault) -> None:
    sid = _fill(vault)
    with vault.db.session() as s:
        row = s.get(SubmissionRow, sid)
        assert row is not None
        row.state = SubmissionState.WITHDRAWN.value
    assert [(d.submission_id, d.reason) for d in vault.retention.due(utcnow())] == [
        (sid, "withdrawn")
    ]
