"""Rotating the key-encryption key: every live data key rewrapped, the old KEK retired and its
file destroyed, a crash at any step recovered, and other processes unharmed."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.config import Settings
from prereview.store.tables.vault import DataKeyRow, VaultKeyRow
from prereview.vault import datakeys, rotation
from prereview.vault.errors import KeyFileError, ShreddedError, VaultError
from prereview.vault.keys.local import KEK_FILE, LocalKeyFileProvider
from prereview.vault.principals import Role
from prereview.vault.service import Vault
from tests.vault.conftest import add_submission

runner = CliRunner()
SECRET = b"FLAG{rotation-canary} transcript of an unreleased model"


def _kek_bytes(settings: Settings) -> bytes:
    _, b64 = (settings.keys_dir / KEK_FILE).read_text().split()
    return base64.b64decode(b64)


def _fill(vault: Vault, n: int = 3) -> list[str]:
    sids = [add_submission(vault, f"Org {i}") for i in range(n)]
    for sid in sids:
        vault.content.write(sid, "reviews/r/results/t/1.json", SECRET + sid.encode())
    return sids


def _kek_records(vault: Vault) -> dict[str, bool]:
    with vault.db.session() as s:
        return {
            r.key_id: r.retired_at is None
            for r in s.scalars(select(VaultKeyRow).where(VaultKeyRow.kind == "kek"))
        }


def test_rotation_rewraps_live_keys_and_destroys_the_old_kek(vault: Vault) -> None:
    settings = vault.settings
    sids = _fill(vault)
    vault.shredder.shred(sids[0], "withdrawn")
    old_key, old_id = _kek_bytes(settings), vault.provider.kek_id

    result = vault.rotate_kek()

    assert (result.old_kek_id, result.rewrapped, result.shredded) == (old_id, 2, 1)
    assert vault.provider.kek_id == result.new_kek_id != old_id
    assert _kek_records(vault) == {old_id: False, result.new_kek_id: True}
    with vault.db.session() as s:
        rows = {r.scope: r for r in s.scalars(select(DataKeyRow))}
    assert rows[sids[0]].wrapped_key is None  # a shredded key stays shredded
    assert {rows[sid].kek_id for sid in sids[1:]} == {result.new_kek_id}
    for sid in sids[1:]:
        assert vault.content.read(sid, "reviews/r/results/t/1.json") == SECRET + sid.encode()
    with pytest.raises(ShreddedError):
        vault.content.read(sids[0], "reviews/r/results/t/1.json")
    # the old KEK is gone from the keys dir; only the new key file remains there
    assert _kek_bytes(settings) != old_key
    leftovers = [p.name for p in settings.keys_dir.iterdir() if old_key in p.read_bytes()]
    assert leftovers == []
    assert not (settings.keys_dir / (KEK_FILE + rotation.NEXT_SUFFIX)).exists()
    # and a fresh process opens the store with the new key
    vault.close()
    with Vault.open(settings) as again:
        assert again.content.read(sids[1], "reviews/r/results/t/1.json").startswith(SECRET)
        assert again.audit.verify().ok


def test_a_restored_old_key_file_is_refused_naming_the_rotation(vault: Vault) -> None:
    settings = vault.settings
    _fill(vault, 1)
    old_file = (settings.keys_dir / KEK_FILE).read_bytes()
    result = vault.rotate_kek()
    vault.close()
    (settings.keys_dir / KEK_FILE).unlink()
    (settings.keys_dir / KEK_FILE).write_bytes(old_file)
    (settings.keys_dir / KEK_FILE).chmod(0o600)
    with pytest.raises(KeyFileError, match="retired") as err:
        Vault.open(settings)
    assert result.new_kek_id in str(err.value)


def test_a_crash_after_the_commit_is_finished_when_the_vault_opens(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = vault.settings
    sids = _fill(vault, 2)

    def crash(*_: object) -> None:
        raise KeyboardInterrupt("killed between the commit and the file swap")

    monkeypatch.setattr(rotation.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        vault.rotate_kek()
    monkeypatch.undo()
    vault.close()
    assert not (settings.keys_dir / KEK_FILE).exists()  # the old one was already destroyed
    assert (settings.keys_dir / (KEK_FILE + rotation.NEXT_SUFFIX)).exists()

    with Vault.open(settings) as again:  # finishes the swap, then works
        for sid in sids:
            assert again.content.read(sid, "reviews/r/results/t/1.json").startswith(SECRET)
    assert not (settings.keys_dir / (KEK_FILE + rotation.NEXT_SUFFIX)).exists()


def test_a_failure_before_the_commit_changes_nothing(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = vault.settings
    sids = _fill(vault, 3)
    old_key, old_id = _kek_bytes(settings), vault.provider.kek_id
    calls = 0
    real_wrap = LocalKeyFileProvider.wrap

    def failing_wrap(self: LocalKeyFileProvider, data_key: bytes, context: str) -> object:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("disk went away mid-rotation")
        return real_wrap(self, data_key, context)

    monkeypatch.setattr(LocalKeyFileProvider, "wrap", failing_wrap)
    with pytest.raises(OSError, match="mid-rotation"):
        vault.rotate_kek()
    monkeypatch.undo()
    assert _kek_bytes(settings) == old_key and _kek_records(vault) == {old_id: True}
    with vault.db.session() as s:
        assert {r.kek_id for r in s.scalars(select(DataKeyRow))} == {old_id}
    vault.close()
    with Vault.open(settings) as again:
        assert again.content.read(sids[2], "reviews/r/results/t/1.json").startswith(SECRET)
        result = again.rotate_kek()  # the stale `.next` of the failed attempt is replaced
        assert result.rewrapped == 3
        assert again.content.read(sids[0], "reviews/r/results/t/1.json").startswith(SECRET)


def test_another_process_keeps_its_keys_but_cannot_wrap_under_the_retired_kek(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datakeys, "RECHECK_S", 0.0)  # re-read the rows on every use
    sids = _fill(vault, 2)
    assert vault.content.read(sids[0], "reviews/r/results/t/1.json").startswith(SECRET)
    with Vault.open(vault.settings) as other:
        other.rotate_kek()
    # this vault still holds the old provider: the key it had unwrapped keeps working
    assert vault.content.read(sids[0], "reviews/r/results/t/1.json").startswith(SECRET)
    late = add_submission(vault, "Late Org")
    with pytest.raises(VaultError, match="rotated while this command ran"):
        vault.content.write(late, "reports/r.md", b"x")
    with vault.db.session() as s:
        assert s.get(DataKeyRow, late) is None  # nothing half-written


def test_keys_cli_rotates_for_coordinators_only_and_audits(settings: Settings) -> None:
    with Vault.open(settings) as v:
        _fill(v, 2)
        _, dev = v.principals.add("dev", Role.SUBMITTER, "Org 0", "tests")
        _, auditor = v.principals.add("aud", Role.AUDITOR, None, "tests")
    before = _kek_bytes(settings)
    for token in (dev, auditor):
        refused = runner.invoke(app, ["keys", "rotate"], env={"PREREVIEW_TOKEN": token})
        assert refused.exit_code == 2 and "access denied" in refused.stderr
    assert _kek_bytes(settings) == before  # refused: nothing changed

    done = runner.invoke(app, ["keys", "rotate", "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["rewrapped"] == 2 and result["shredded"] == 0
    listed = json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)
    keks = {k["key_id"]: (k["status"], k["data_keys"]) for k in listed if k["kind"] == "kek"}
    assert keks == {result["old_kek_id"]: ("retired", 0), result["new_kek_id"]: ("active", 2)}
    assert not any(base64.b64encode(before).decode() in str(k) for k in listed)
    with Vault.open(settings) as v:
        (rotated,) = [e for e in v.audit.entries() if e.action == "keys.rotate"]
        assert rotated.outcome == "ok" and rotated.principal == "coordinator"
        assert rotated.detail["new_kek_id"] == result["new_kek_id"]
        assert v.audit.verify().ok
